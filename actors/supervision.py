"""Supervision logic: heartbeat every managed actor, replace dead or hung ones, rewire after any restart.

This is a plain class driven by an injected clock and an injected ``ActorControl`` (the only code that touches Ray),
so it is stepped in unit tests with fakes. Each actor reports an ``incarnation`` in its health answer; a new value means
the process was restarted (by Ray or by us) and lost its memory, so the supervisor runs that actor's start-up and
rewiring again (subscriptions, reconciliation of orders in flight). Its loop never raises.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from execution.log import redact

logger = logging.getLogger(__name__)


class ActorGone(Exception):
    """The actor is dead and will not come back by itself (killed without restart, or its node is gone)."""


class ActorRestarting(Exception):
    """The actor's process died and its runtime is already restarting it: wait, do not kill it again."""


class Unanswered(TimeoutError):
    """The actor answered none of the heartbeats it was sent (``missed`` of them), each within the timeout."""

    def __init__(self, missed: int) -> None:
        super().__init__(f"{missed} heartbeats unanswered")
        self.missed = missed


class StartRefused(Exception):
    """An actor cannot start because of something only the operator can fix (a key the venue refuses, a symbol it
    does not list). Its message is one line naming the problem, with no secret in it; the supervisor reports it
    (``status()['refused']``) and the driver ends the run with it."""


def hung_process(last_health: dict[str, Any], node_id: str | None,
                 cmdline_of: Callable[[int], bytes | None]) -> int | None:
    """The pid to SIGKILL ourselves when replacing an actor that stopped answering: its last health answer named its
    process and a node, that node is ours, and that pid is still a Ray worker (``ray::`` process title). None
    otherwise: then Ray ends it (which, for a process that cannot run, waits for it to exit before its own SIGKILL)."""
    pid, node = last_health.get("pid"), last_health.get("node_id")
    if not isinstance(pid, int) or node is None or node != node_id:
        return None
    cmdline = cmdline_of(pid)
    return pid if cmdline is not None and cmdline.startswith(b"ray::") else None


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: the message of the exception a remote call raised (not Ray's whole traceback)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def refusal(exc: BaseException) -> str | None:
    """The operator's problem behind ``exc``, if it is a ``StartRefused`` (raised here or in a remote actor)."""
    cause = getattr(exc, "cause", None)
    for candidate in (cause, exc):  # Ray's error is both a RayTaskError and the cause's class: its text is Ray's
        if isinstance(candidate, StartRefused):
            return (str(candidate).strip().splitlines() or [""])[0]
    return None


class ActorControl(Protocol):
    async def ensure(self, name: str) -> None:
        """Create the actor if it does not exist (idempotent)."""

    async def health(self, name: str, timeout_s: float) -> dict[str, Any]:
        """The actor's health answer; raises ActorGone when dead, TimeoutError or other errors when unhealthy."""

    async def kill(self, name: str, last_health: dict[str, Any]) -> None:
        """Kill the actor's process (it is then recreated by ``ensure``); ``last_health`` is its last answer (which
        process, on which node), empty if it never answered."""

    async def on_new_incarnation(self, name: str, first: bool) -> None:
        """Start the actor and rewire it and its peers; ``first`` is the initial start of the run."""

    async def on_down(self, name: str) -> None:
        """The actor's process is dead, or was just killed (at every heartbeat until it is back): hand its work to
        a standby, if it has one."""


@dataclass
class SupervisorSettings:
    heartbeat_period_s: float = 0.5
    heartbeat_timeout_s: float = 1.5
    failures_before_restart: int = 3
    jitter: float = 0.2  # +-20 % on each period so heartbeats do not align
    startup_grace_s: float = 60.0  # a new process may take this long to answer its first heartbeat
    down_check_period_s: float = 0.05  # an actor that is down (restarting, being replaced): its new process is
    # noticed this soon after it answers (a check then costs little: Ray answers at once that it is unavailable)


@dataclass
class ActorState:
    name: str
    incarnation: str | None = None
    next_check: float = 0.0
    failures: int = 0
    restarts: int = 0
    up: bool = False
    wired: bool = False
    answered: bool = False  # this incarnation has answered a heartbeat
    since: float = 0.0  # when the current process was asked for
    last_error: str = ""
    refused: str | None = None  # a start the operator must fix (StartRefused), until the actor starts
    asked_at: float | None = None  # when the oldest heartbeat still unanswered went out (None: every one answered)
    last_health: dict[str, Any] = field(default_factory=dict)


class Supervisor:
    def __init__(self, names: list[str], control: ActorControl, settings: SupervisorSettings | None = None, *,
                 clock: Callable[[], float], rng: random.Random | None = None,
                 on_restart: Callable[[str], None] = lambda name: None,
                 on_answer: Callable[[str, float], None] = lambda name, seconds: None) -> None:
        self.control = control
        self.settings = settings or SupervisorSettings()
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_restart = on_restart
        self._on_answer = on_answer  # (actor, seconds from a heartbeat sent to its answer; not a process's first)
        self.actors: dict[str, ActorState] = {name: ActorState(name, since=clock()) for name in names}
        self._checking: dict[str, asyncio.Task] = {}
        self.events: list[tuple[float, str, str]] = []  # (time, actor, what happened), bounded below

    def _record(self, name: str, what: str, level: int = logging.INFO) -> None:
        self.events.append((self._clock(), name, what))
        del self.events[:-200]
        logger.log(level, "supervisor: %s %s", name, what)

    def _schedule(self, state: ActorState) -> None:
        period = self.settings.heartbeat_period_s
        if not state.up:
            period = min(period, self.settings.down_check_period_s)
        state.next_check = self._clock() + period * (1 + self._rng.uniform(-self.settings.jitter, self.settings.jitter))

    async def step(self, wait_s: float | None = None) -> None:
        """Start a check of every actor that is due and not being checked; wait for them at most ``wait_s`` (default:
        one heartbeat timeout), then let them go on in the background: a slow answer, start-up or rewiring never holds
        up another actor's check that falls due later (the supervisor's own loop waits for none: ``wait_s=0``). Never
        raises."""
        now = self._clock()
        started = []
        for state in self.actors.values():
            if state.next_check <= now and state.name not in self._checking:
                task = asyncio.get_running_loop().create_task(self._check(state))
                self._checking[state.name] = task
                task.add_done_callback(lambda _t, name=state.name: self._checking.pop(name, None))
                started.append(task)
        wait_s = self.settings.heartbeat_timeout_s if wait_s is None else wait_s
        if started and wait_s > 0:
            await asyncio.wait(started, timeout=wait_s)

    async def _check(self, state: ActorState) -> None:
        try:
            await self._check_unguarded(state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the loop must survive anything a step throws
            refused = refusal(exc)
            error = refused or one_line(exc)
            if refused is not None:
                state.refused = refused
            if error != state.last_error:  # retried at every heartbeat: said once, not every 0.2 s
                # Usually a peer that is itself restarting; retried at the next heartbeat.
                logger.warning("supervisor: checking %s failed: %s", state.name, redact(error))
            state.last_error = error
        finally:
            self._schedule(state)

    async def _heartbeat(self, state: ActorState) -> dict[str, Any]:
        """The actor's health answer. While none has come, another heartbeat goes out every period, each given the
        whole timeout: an actor that stopped answering has missed the ``failures_before_restart`` it may miss (fewer if
        it missed some already) ``timeout + (n - 1) * period`` after it stopped, not ``n`` timeouts end to end. Returns
        the first answer; raises the first error that is not a timeout (the actor is gone, restarting, or failing),
        else ``Unanswered`` once the misses are all spent."""
        s = self.settings
        allowed = max(1, s.failures_before_restart - state.failures)
        pings: list[asyncio.Task] = []
        sent: dict[asyncio.Task, float] = {}
        missed = 0
        if state.asked_at is None:
            state.asked_at = self._clock()
        try:
            while True:
                room = missed + len(pings) < allowed
                if room:
                    pings.append(asyncio.ensure_future(self.control.health(state.name, s.heartbeat_timeout_s)))
                    sent[pings[-1]] = self._clock()
                await asyncio.wait(pings, timeout=s.heartbeat_period_s if room else None,
                                   return_when=asyncio.FIRST_COMPLETED)
                for ping in [p for p in pings if p.done()]:
                    pings.remove(ping)
                    error = ping.exception()
                    if error is None:
                        state.asked_at = None
                        if state.answered:  # a new process's first answer waits for its constructor: not a live one's
                            self._on_answer(state.name, self._clock() - sent[ping])
                        return ping.result()
                    if not isinstance(error, TimeoutError):
                        raise error
                    missed += 1
                if missed >= allowed:
                    raise Unanswered(missed)
        finally:
            for ping in pings:
                ping.cancel()

    async def _check_unguarded(self, state: ActorState) -> None:
        try:
            health = await self._heartbeat(state)
        except asyncio.CancelledError:
            raise
        except ActorRestarting:
            state.up = False
            state.last_error = "restarting"
            state.last_health = {}  # another process is coming: the last answer no longer names it
            if state.answered:  # a new process is coming: give it the start-up grace
                state.answered = False
                state.since = self._clock()
            await self.control.on_down(state.name)
            return
        except ActorGone:
            state.up = False
            self._record(state.name, "dead: recreating")
            await self._replace(state, kill=False)
            await self.control.on_down(state.name)
            return
        except Exception as exc:
            state.last_error = type(exc).__name__
            if not state.answered and self._clock() - state.since < self.settings.startup_grace_s:
                return  # still starting: not a failure yet
            state.failures += exc.missed if isinstance(exc, Unanswered) else 1
            if state.failures >= self.settings.failures_before_restart:
                state.up = False
                # a warning: a live process killed (a deadlock, a stalled host, or an event loop blocked too long)
                self._record(state.name, f"unhealthy {state.failures}x ({state.last_error}): replacing",
                             logging.WARNING)
                await self._replace(state, kill=True)
                await self.control.on_down(state.name)
            return
        state.failures = 0
        state.up = True
        state.answered = True
        state.last_health = health
        incarnation = health.get("incarnation")
        if incarnation != state.incarnation or not state.wired:
            first = state.incarnation is None
            if not first and incarnation != state.incarnation:
                state.restarts += 1
                self._on_restart(state.name)
                self._record(state.name, "restarted: rewiring")
            state.incarnation = incarnation
            state.wired = False
            await self.control.on_new_incarnation(state.name, first)
            state.wired = True
            if not first:
                self._record(state.name, "rewired")
            state.last_error = ""
            state.refused = None

    async def _replace(self, state: ActorState, *, kill: bool) -> None:
        if kill:
            try:
                await self.control.kill(state.name, state.last_health)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("supervisor: kill %s failed: %s", state.name, type(exc).__name__)
        await self.control.ensure(state.name)
        state.last_health = {}  # its process is gone or going: the last answer no longer names the actor's
        state.asked_at = None
        state.failures = 0
        state.answered = False
        state.since = self._clock()
        state.wired = False  # the next healthy heartbeat rewires it (its incarnation will differ)

    def answering(self, name: str) -> bool:
        """Nothing says ``name`` does not answer: a call to it is worth waiting for. False for one that is down after
        it was up (dead, restarting, killed as hung), or whose heartbeat has been out longer than a period (an actor
        that answers does so within milliseconds: it stopped, or its node is cut off, before its misses are spent).
        True for one not heard from yet (a new supervisor adopting the run)."""
        state = self.actors.get(name)
        if state is None:
            return True  # not watched
        if state.asked_at is not None and self._clock() - state.asked_at >= self.settings.heartbeat_period_s:
            return False
        return state.up or state.incarnation is None

    def status(self) -> dict[str, dict[str, Any]]:
        return {name: {"up": s.up, "restarts": s.restarts, "failures": s.failures, "last_error": s.last_error,
                       "refused": s.refused}
                for name, s in self.actors.items()}
