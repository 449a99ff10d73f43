"""The ``supervisor`` actor: creates every rayarb actor, heartbeats them, replaces dead or hung ones and rewires.

``RayActorControl`` is the only code here that touches Ray; the decisions are ``actors.supervision.Supervisor``.
Actors are detached and named (so they outlive a crashed supervisor, which re-adopts them by name), restart
automatically (``max_restarts=-1``) and never retry a method (``max_task_retries=0``: a retried submit could send an
order twice). After any new incarnation the actor is started again and its links rebuilt; after an exchange actor or
the order manager comes back, orders in flight are reconciled by client order id.

With ``supervisor.exchange_standby`` a signed venue has two exchange actors, one active. When the active one dies (or is
killed as hung) and the other is up, the other takes the venue over at once: every caller of the venue's exchange actor
is routed to it, it starts streaming, and the order manager reconciles the venue's orders in flight through it. The
dead one comes back (Ray restarts it) as the standby.

With ``supervisor.detector_standby`` every detector shard has two actors in the same way: the standby is started (its
market rules loaded, its channel to the order manager open) but sent no books. When the shard's active actor dies, the
standby is activated, the exchange actors send it their books (their latest at once) instead of the dead one's, and the
risk engine's word enables it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import time
from collections.abc import Awaitable
from typing import Any

import ray
from ray.exceptions import ActorDiedError, ActorUnavailableError, ActorUnschedulableError

from actors.common import (
    EXCHANGE_PREFIX,
    ORDER_MANAGER,
    POSITION_TRACKER,
    Deployment,
    PeerFacts,
    exchange_actor_name,
    is_detector,
    new_incarnation,
    role_of,
    venue_of,
)
from actors.peers import Peers
from actors.placement import create_actor, on_hot_path
from execution.log import install_redaction
from actors.supervision import ActorGone, ActorRestarting, Supervisor, SupervisorSettings, hung_process
from actors.telemetry import process_metrics

logger = logging.getLogger(__name__)

START_TIMEOUT_S = 60.0
ROUTE_TIMEOUT_S = 2.0  # telling a caller where a venue's exchange actor is: a hung caller must not hold up a failover
# A takeover waits this long at most for the other actors it tells (routes, whom to feed), and only for those answering
# their heartbeats: one down, restarting or stopped (often the dead one's neighbour after a node loss) would hold it up
# until Ray gave up on it; it is told at its rewiring
TAKEOVER_WAIT_S = 0.5
CALL_TIMEOUT_S = 30.0
# asking the peers' facts for an actor it starts (PeerFacts): past this, the actor asks for what is missing itself
FACTS_TIMEOUT_S = 10.0


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


class RayActorControl:
    """``ActorControl`` over Ray: named detached actors in the ``rayarb`` namespace."""

    def __init__(self, owner: "SupervisorActor") -> None:
        self.owner = owner
        self.deployment = owner.deployment
        self.peers = Peers()
        self.active: dict[str, str] = {}  # role -> its active actor, when it has a standby
        self._telling: set[asyncio.Future] = set()  # a takeover's calls it did not wait for

    async def ensure(self, name: str, ask_partner: bool = True) -> None:
        """Create ``name`` unless it exists; one of a role's two actors away from the other's node (asked, unless
        ``ask_partner`` is false: the other is being created too)."""
        self.peers.forget(name)
        create_actor(self.deployment, name, avoid_node=await self._partner_node(name) if ask_partner else None)

    async def exists(self, name: str) -> bool:
        try:
            await self.peers.resolve(name, CALL_TIMEOUT_S)
        except ValueError:  # no actor by that name
            return False
        return True

    async def _partner_node(self, name: str) -> str | None:
        """Where the other of a role's two actors runs: its last health answer, or asked now (None: no partner, or it
        does not answer within a second)."""
        partner = [m for m in self.deployment.members(name) if m != name] if on_hot_path(name) else []
        if not partner:
            return None
        state = self.owner.supervisor.actors.get(partner[0])
        if state is not None and state.last_health.get("node_id"):
            return state.last_health["node_id"]
        try:
            return (await self._call(partner[0], "health", timeout_s=1.0)).get("node_id")
        except asyncio.CancelledError:
            raise
        except Exception:  # not created yet, or restarting
            return None

    async def health(self, name: str, timeout_s: float) -> dict[str, Any]:
        try:
            handle = self.peers.get(name)
        except ValueError:
            raise ActorGone(name) from None
        try:
            return await asyncio.wait_for(handle.health.remote(), timeout_s)
        except (ActorDiedError, ActorUnschedulableError):  # the latter: pinned to a node that is gone
            self.peers.forget(name)
            raise ActorGone(name) from None
        except ActorUnavailableError:
            raise ActorRestarting(name) from None

    async def kill(self, name: str, last_health: dict[str, Any]) -> None:
        pid = hung_process(last_health, ray.get_runtime_context().get_node_id(), _cmdline)
        if pid is not None:  # on this node: SIGKILL now, a crash Ray restarts at once (its own kill of a stopped
            with contextlib.suppress(ProcessLookupError):  # process waits for an exit that cannot come: 5 s by
                os.kill(pid, signal.SIGKILL)  # default, 1 s on a cluster of ours, FAST_HUNG_KILL)
            return
        ray.kill(self.peers.get(name), no_restart=False)  # Ray starts a fresh process; the next heartbeat rewires it

    async def _call(self, name: str, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        return await self.peers.call(name, method, *args, timeout_s=timeout_s)

    async def detector_may_trade(self) -> bool:
        """Trading is on for this run and the order manager's risk engine allows it (the kill switch is not tripped,
        as rebuilt from the journal). Fails closed: an order manager that cannot be asked says no."""
        if not self.owner.trading:
            return False
        try:
            return bool(await self._order_manager("trading_allowed"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("supervisor: order manager not asked whether trading is allowed (%s): detector stays off",
                           type(exc).__name__)
            return False

    async def enable_detector_if_allowed(self, shards: tuple[str, ...] | None = None) -> bool:
        """Tell the detector shards (every one by default; each shard's active actor) whether they may trade. The
        supervisor counts detection as switched only when every shard of the run was told; a shard that cannot be
        told raises (after the others were), and is asked again when it is rewired."""
        allowed = await self.detector_may_trade()
        shards = self.deployment.detector_names if shards is None else shards
        names = [await self.active_member(shard) for shard in shards]
        results = await asyncio.gather(*(self._call(name, "set_enabled", allowed) for name in names),
                                       return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        if set(shards) >= set(self.deployment.detector_names):
            self.owner.detector_enabled = allowed
        return allowed

    def detector_symbols(self, name: str) -> list[str] | None:
        """What an exchange actor sends the detector ``name``: its shard's books (None: every book, one detector)."""
        return None if self.deployment.detector_shards == 1 else list(self.deployment.detector_symbols(name))

    async def active_member(self, role: str) -> str:
        """The active actor of ``role`` (a venue's exchange actor's name, a detector shard's). A supervisor adopting a
        running run asks the role's actors first: the one that says it is active, else one already started (the
        other may be a new process after a node loss), else one that answers, else the first."""
        if role not in self.active:
            members = self.deployment.members(role)
            answers = await asyncio.gather(*(self._call(m, "health", timeout_s=1.0) for m in members),
                                           return_exceptions=True) if len(members) > 1 else [{}]
            answered = [(m, a) for m, a in zip(members, answers) if isinstance(a, dict)]
            ranked = sorted(answered, key=lambda ma: (not ma[1].get("active"), not ma[1].get("started")))
            self.active.setdefault(role, ranked[0][0] if ranked else members[0])
        return self.active[role]

    async def peer_facts(self, channels_of: tuple[str, ...]) -> PeerFacts:
        """Every venue's market rules and the channel addresses of ``channels_of`` (the names callers use), from
        each role's active actor, for an actor about to start; what cannot be asked now is left out."""
        venues = self.deployment.venue_names
        actors = [await self.active_member(name) for name in (*map(exchange_actor_name, venues), *channels_of)]
        answers = await asyncio.gather(
            *(self._call(a, "market_rules", timeout_s=FACTS_TIMEOUT_S) for a in actors[:len(venues)]),
            *(self._call(a, "channel_address", timeout_s=FACTS_TIMEOUT_S) for a in actors[len(venues):]),
            return_exceptions=True)
        rules, addresses = answers[:len(venues)], answers[len(venues):]
        return PeerFacts({v: r for v, r in zip(venues, rules) if isinstance(r, dict)},
                         {n: (a, (address[0], address[1]))
                          for n, a, address in zip(channels_of, actors[len(venues):], addresses)
                          if isinstance(address, (tuple, list))})

    @property
    def _routed_roles(self) -> tuple[str, ...]:
        """The roles with a standby whose callers address them by the role's name (``Peers`` routes it): a venue's
        exchange actor (called by the order manager, tracker and detectors) and the order manager (by the
        detectors' channels). A detector shard has senders only: the exchange actors are told whom to feed."""
        d = self.deployment
        return tuple(r for r in (*map(exchange_actor_name, d.venue_names), ORDER_MANAGER) if len(d.members(r)) > 1)

    async def route_callers(self, callers: tuple[str, ...], roles: tuple[str, ...] | None = None, *,
                            strict: bool = False) -> None:
        """Tell ``callers`` which actor each of ``roles`` (every routed role by default) leads to (after a failover,
        or to a new process of theirs). A caller that cannot be told now is told when it is rewired; ``strict``: raise
        then (the caller's own rewiring, retried at the next heartbeat)."""
        routes = [(r, await self.active_member(r)) for r in self._routed_roles if roles is None or r in roles]
        await self._tell([(c, self._call(c, "set_route", role, actor, timeout_s=ROUTE_TIMEOUT_S))
                          for c in callers for role, actor in routes], strict,
                         "a route not given (%s); given when its actor is rewired")

    async def renew_channels(self, name: str) -> None:
        """Tell every actor that may hold a channel to ``name``'s old process where its new one listens: each closes a
        connection to anywhere else (``Channels.renew``). A killed process's connections close by themselves; those to
        a process on a node that stopped answering stay open, neither answered nor refused, until told."""
        holders = await self._channel_holders(name)
        if not holders:
            return
        address = await self._call(name, "channel_address", timeout_s=ROUTE_TIMEOUT_S)
        if address is None:  # no channels in this run
            return
        await self._tell([(holder, self._call(holder, "renew_channel", key, address, timeout_s=ROUTE_TIMEOUT_S))
                          for holder, key in holders], False, "a channel not renewed (%s); renewed when rewired")

    async def _channel_holders(self, name: str) -> list[tuple[str, str]]:
        """(actor, the name it calls ``name`` by) for every actor whose channels may lead to ``name``: an active
        exchange actor's callers (by its role's name), the exchange actors feeding a detector or an order manager (by
        its own name), the detectors sending to the active order manager and the order managers calling the tracker
        (by the role's name)."""
        d, role = self.deployment, role_of(name)
        active = await self.active_member(role) == name
        if name.startswith(EXCHANGE_PREFIX):
            return [(caller, role) for caller in self.exchange_callers] if active else []
        if name == POSITION_TRACKER:
            return [(manager, POSITION_TRACKER) for manager in d.members(ORDER_MANAGER)]
        feeders = [(exchange, name) for exchange in self._exchanges]
        if role == ORDER_MANAGER and active:
            return feeders + [(detector, ORDER_MANAGER) for detector in d.detector_actors]
        return feeders

    async def _tell(self, calls: list[tuple[str, Awaitable[Any]]], strict: bool, failure: str) -> None:
        """Make ``calls`` (each to the actor named with it) at once. ``strict``: wait for every one and raise the first
        failure. Else wait ``TAKEOVER_WAIT_S`` at most for those to actors answering their heartbeats (one that has
        stopped, with the one that died on a node cut off, would not answer) and log each failure (``failure`` % its
        type): the calls still unanswered go on without holding up the takeover."""
        tasks = [asyncio.ensure_future(call) for _, call in calls]
        if not tasks:
            return
        if strict:
            failed = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if isinstance(r, Exception)]
            if failed:
                raise failed[0]
            return

        def log_failure(task: asyncio.Future) -> None:
            self._telling.discard(task)
            if not task.cancelled() and isinstance(task.exception(), Exception):
                logger.warning("supervisor: " + failure, type(task.exception()).__name__)

        answering = [task for (name, _), task in zip(calls, tasks) if self.owner.supervisor.answering(name)]
        if answering:
            await asyncio.wait(answering, timeout=TAKEOVER_WAIT_S)
        for task in tasks:
            self._telling.add(task)  # referenced until done
            task.add_done_callback(log_failure)

    def _down(self, name: str) -> bool:
        """``name`` was up once in this supervisor's watch and is not now (dead, restarting, or killed as hung)."""
        state = self.owner.supervisor.actors.get(name)
        return state is not None and state.incarnation is not None and not state.up

    def _wired(self, name: str) -> bool:
        state = self.owner.supervisor.actors.get(name)
        return state is not None and state.up and state.wired

    @property
    def exchange_callers(self) -> tuple[str, ...]:
        """The actors that call the exchange actors by the venue's name (routed by ``route_callers``)."""
        return (*self.deployment.members(ORDER_MANAGER), POSITION_TRACKER, *self.deployment.detector_actors)

    @property
    def _exchanges(self) -> list[str]:
        """Every exchange actor (standbys too: they take over, and then feed whom they were told)."""
        return [member for v in self.deployment.venue_names for member in self.deployment.exchange_actors(v)]

    async def _order_manager(self, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
        """``method(*args)`` on the active order manager."""
        return await self._call(await self.active_member(ORDER_MANAGER), method, *args, timeout_s=timeout_s)

    async def on_down(self, name: str) -> None:
        """A role's active actor is dead: its standby, if up and wired, takes the venue, the shard or the orders over
        at once."""
        role = role_of(name)
        members = self.deployment.members(role)
        if len(members) < 2 or await self.active_member(role) != name:
            return
        standby = next(m for m in members if m != name)
        if not self._wired(standby):
            return  # nothing to take over with: the dead one's new process takes the role back
        self.active[role] = standby
        if role == ORDER_MANAGER:  # the active order manager's own start-up, in the standby's process
            try:
                await self.on_new_incarnation(standby, first=False)
            except BaseException:
                self.owner.supervisor.actors[standby].wired = False  # its next heartbeat tries again
                raise
            logger.warning("supervisor: %s is down; %s took the orders over", name, standby)
        elif is_detector(name):
            await self._call(standby, "activate")
            await self._feed(standby, away_from=name)
            await self.enable_detector_if_allowed((role,))  # never on the supervisor's word alone
            logger.warning("supervisor: %s is down; %s took detection over", name, standby)
        else:
            venue = venue_of(name)
            await self.route_callers(self.exchange_callers, (role,))  # first: no leg to the dead one once books flow
            await self._call(standby, "activate")
            logger.warning("supervisor: %s is down; %s took %s over", name, standby, venue)
            await self._order_manager("reconcile", venue, timeout_s=START_TIMEOUT_S)

    async def _feed(self, to: str | None, away_from: str | None = None, *, strict: bool = False) -> None:
        """Have every exchange actor push to ``to`` what its role takes (a detector actor its shard's books, the
        latest at once; the order manager balances), and nothing to ``away_from`` (the role's standby now). An
        exchange actor not reached now is told at its own rewiring; ``strict``: raise then (the rewiring of ``to``
        or ``away_from``, retried at the next heartbeat)."""
        calls = []
        if to is not None:
            wants = (False, self.detector_symbols(to)) if is_detector(to) else (True,)
            calls += [(ex, self._call(ex, "subscribe", to, *wants)) for ex in self._exchanges]
        if away_from is not None:
            calls += [(ex, self._call(ex, "unsubscribe", away_from)) for ex in self._exchanges]
        await self._tell(calls, strict, "an exchange actor not told whom to feed (%s); told when it is rewired")

    async def _adopt_or_keep(self, name: str) -> bool:
        """Whether the new process ``name`` is its role's active actor: it is if it was, or if the active one is down
        and was not taken over (no standby was up then)."""
        role = role_of(name)
        if await self.active_member(role) != name and self._down(self.active[role]):
            self.active[role] = name
        return self.active[role] == name

    async def on_new_incarnation(self, name: str, first: bool) -> None:
        d = self.deployment
        if name.startswith(EXCHANGE_PREFIX):
            venue = venue_of(name)
            active = await self._adopt_or_keep(name)
            await self._call(name, "start", active, timeout_s=START_TIMEOUT_S)
            if active:  # a new process of the active one, a takeover or an adoption: its callers routed, streaming
                await self.route_callers(self.exchange_callers, (role_of(name),))
                if not first:
                    await self.renew_channels(name)
                await self._call(name, "activate")
            for detector in d.detector_names:
                member = await self.active_member(detector)
                await self._call(name, "subscribe", member, False, self.detector_symbols(member))
            await self._call(name, "subscribe", await self.active_member(ORDER_MANAGER), True)
            if not first and active:
                await self._order_manager("reconcile", venue, timeout_s=START_TIMEOUT_S)
        elif is_detector(name):
            await self.route_callers((name,), strict=True)
            active = await self._adopt_or_keep(name)
            await self._call(name, "start", active, await self.peer_facts((ORDER_MANAGER,)), timeout_s=START_TIMEOUT_S)
            if not active:  # a standby: no books until it takes over (a new process of the one that died had them)
                await self._feed(None, away_from=name, strict=True)
                return
            if not first:
                await self.renew_channels(name)
            await self._call(name, "activate")
            await self._feed(name, strict=True)
            # never on the supervisor's word alone: the risk engine's too
            await self.enable_detector_if_allowed((role_of(name),))
        elif role_of(name) == ORDER_MANAGER:
            await self.route_callers((name,), strict=True)
            callees = (*map(exchange_actor_name, d.venue_names), POSITION_TRACKER)
            if not await self._adopt_or_keep(name):  # a standby: unstarted, holding no journal, fed nothing
                await self._feed(None, away_from=name, strict=True)
                await self._call(name, "prepare", timeout_s=START_TIMEOUT_S)  # its own Ray calls: warm for a takeover
                return
            await self.route_callers(d.detector_actors, (ORDER_MANAGER,))  # opportunities to it (refused until started)
            # a wired one here is a prepared standby taking over: it asked its peers itself and needs telling nothing
            facts = None if self._wired(name) else await self.peer_facts(callees)
            await self._call(name, "start", facts, timeout_s=START_TIMEOUT_S)  # opens the journal once the last let go
            if not first:
                await self.renew_channels(name)
            await self._feed(name, strict=True)
            if self.owner.trading:  # a new order manager rebuilt its kill switch from the journal: follow it
                try:
                    await self.enable_detector_if_allowed()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the detector is itself away: its own rewiring asks again
                    logger.warning("supervisor: detector not reached after the order manager's start (%s)",
                                   type(exc).__name__)
            if not first:  # the tracker's positions: after trading is back, which does not need them
                await self._call(name, "replay_fills", timeout_s=START_TIMEOUT_S)
        elif name == POSITION_TRACKER:
            await self.route_callers((POSITION_TRACKER,), strict=True)
            await self._call(POSITION_TRACKER, "start", self.owner.baseline)
            if not first:
                await self.renew_channels(name)
                await self._order_manager("replay_fills", timeout_s=START_TIMEOUT_S)


class SupervisorActor:
    """Named ``supervisor``. The driver calls ``start`` once, then ``begin_trading`` when the baseline is taken."""

    def __init__(self, deployment: Deployment) -> None:
        install_redaction()  # before this process logs anything of the run
        self.deployment = deployment
        self.incarnation = new_incarnation()
        self.metrics = process_metrics(deployment.venue_names, deployment.symbols, deployment.detector_shards,
                                       metrics_dir=deployment.metrics_dir,
                                       standby_roles=[role_of(n) for n in deployment.actor_names
                                                      if n != role_of(n)])
        self.trading = False
        self.detector_enabled = False  # as last set by this supervisor
        self.baseline: dict | None = None
        self.control = RayActorControl(self)
        s = deployment.supervisor
        self.supervisor = Supervisor(
            list(deployment.actor_names), self.control,
            SupervisorSettings(heartbeat_period_s=s.heartbeat_period_s, heartbeat_timeout_s=s.heartbeat_timeout_s,
                               failures_before_restart=s.failures_before_restart),
            clock=time.monotonic, rng=random.Random(), on_restart=self._count_restart,
            on_answer=self.metrics.observe_heartbeat)
        self._stop = asyncio.Event()
        self._loop_task: asyncio.Task | None = None

    def _count_restart(self, name: str) -> None:
        self.metrics.count_actor_restart(name)

    async def start(self) -> None:
        """Create every actor (adopting those that already exist) and run the heartbeat loop (idempotent)."""
        if self._loop_task is not None and not self._loop_task.done():
            return
        # adopting a running run, a lost actor of a pair is recreated away from its partner; in a new run the two are
        # created together here (placed apart by turn: nothing to ask yet). Concurrently: after a node loss a partner
        # may take its whole 1 s timeout to say nothing, and one by one those waits added up to seconds
        adopting = await self.control.exists(ORDER_MANAGER)
        await asyncio.gather(*(self.control.ensure(name, ask_partner=adopting) for name in self.deployment.actor_names))
        self._loop_task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.supervisor.step(wait_s=0)  # one actor's rewiring must not delay another's check
                for name, state in self.supervisor.actors.items():
                    self.metrics.set_actor_up(name, state.up and state.wired)
                await self._follow_risk_engine()
                self.metrics.set_actor_up("supervisor", True)  # its own loop is running
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the loop die
                logger.exception("supervisor step failed")
            await asyncio.sleep(0.05)

    async def _follow_risk_engine(self) -> None:
        """The order manager's heartbeat says whether its risk engine allows trading: a trip turns the detector off
        (the order manager does too); an operator's reset (``rayarb risk reset``) lets it trade again. An order manager
        not started (restarting, or a standby taking over) has no risk engine to ask: its start decides (it refuses
        every opportunity until then, and stops the detector itself if the journal says the switch is tripped)."""
        state = self.supervisor.actors.get(self.control.active.get(ORDER_MANAGER, ORDER_MANAGER))
        if state is None or not (state.up and state.wired) or not self.trading:
            return
        if not state.last_health.get("started"):
            return
        allowed = state.last_health.get("trading_allowed")
        if allowed is None or bool(allowed) == self.detector_enabled:
            return
        shards = tuple(shard for shard in self.deployment.detector_names
                       if (state := self.supervisor.actors.get(self.control.active.get(shard, shard))) is not None
                       and state.up and state.wired)
        if not shards:
            return  # their rewiring decides
        try:
            # a shard being rewired is told by its rewiring; detection counts as switched once every shard was told
            await self.control.enable_detector_if_allowed(shards)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("supervisor: could not follow the risk engine (%s)", type(exc).__name__)

    async def health(self) -> dict[str, Any]:
        return {"incarnation": self.incarnation, "pid": os.getpid(), "trading": self.trading,
                "detector_enabled": self.detector_enabled}

    async def running_run(self) -> tuple[Deployment, dict | None]:
        """The run this supervisor keeps and its balance baseline (None before trading began): a driver resuming it
        (``rayarb run --resume`` after its driver was killed) goes on with them."""
        return self.deployment, self.baseline

    async def active_actor(self, role: str) -> str:
        """The actor playing ``role`` now (``role`` itself unless it has a standby)."""
        return await self.control.active_member(role)

    async def status(self) -> dict[str, Any]:
        return {"actors": self.supervisor.status(), "events": self.supervisor.events[-20:], "trading": self.trading,
                "detector_enabled": self.detector_enabled}

    async def all_up(self) -> bool:
        return all(s.up and s.wired for s in self.supervisor.actors.values())

    async def begin_trading(self, baseline: dict) -> None:
        self.baseline = baseline
        self.trading = True
        await self.control._call(POSITION_TRACKER, "start", baseline)
        if not await self.control.enable_detector_if_allowed():
            logger.error("supervisor: the risk engine does not allow trading (kill switch tripped, see `rayarb risk "
                         "status`): the detector stays off")

    async def stop_trading(self) -> None:
        self.trading = False
        self.detector_enabled = False
        names = self.deployment.detector_actors  # standbys too: a takeover must not find one enabled
        results = await asyncio.gather(*(self.control._call(name, "set_enabled", False) for name in names),
                                       return_exceptions=True)
        active = {self.control.active.get(shard, shard) for shard in self.deployment.detector_names}
        failed = [r for name, r in zip(names, results) if isinstance(r, BaseException) and name in active]
        if failed:  # every shard reachable was stopped; a restarted one starts disabled (trading is off)
            raise failed[0]

    async def shutdown(self) -> None:
        """Stop supervising (the driver then kills the actors)."""
        self._stop.set()
        if self._loop_task is not None:
            self._loop_task.cancel()
