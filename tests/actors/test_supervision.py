"""The supervisor's loop, stepped with a fake clock and fake actor handles: no Ray, no cluster."""
from __future__ import annotations

import asyncio
import random

import pytest

from actors.supervision import ActorGone, ActorRestarting, Supervisor, SupervisorSettings, hung_process


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeActors:
    """Actors that can be alive, dead, restarting (by Ray), hung or erroring; records what the supervisor did to
    them."""

    def __init__(self, names):
        self.state = {n: "alive" for n in names}
        self.incarnation = {n: 1 for n in names}
        self.calls: list[tuple[str, str]] = []
        self.unanswered: list[tuple[str, float]] = []  # (actor, when sent) of each heartbeat a hung actor let time out

    async def ensure(self, name):
        self.calls.append(("ensure", name))
        if self.state[name] in ("dead", "killed"):
            self.state[name] = "alive"
            self.incarnation[name] += 1

    async def health(self, name, timeout_s):
        s = self.state[name]
        if s in ("dead", "killed"):
            raise ActorGone(name)
        if s == "restarting":
            raise ActorRestarting(name)
        if s == "hung":  # no answer: the caller's timeout ends the wait
            self.unanswered.append((name, asyncio.get_running_loop().time()))
            await asyncio.sleep(timeout_s)
            raise TimeoutError()
        if s == "erroring":
            raise RuntimeError("boom")
        return {"incarnation": self.incarnation[name]}

    async def kill(self, name, last_health):
        self.calls.append(("kill", name))
        self.killed_health = last_health
        self.state[name] = "killed"

    async def on_new_incarnation(self, name, first):
        self.calls.append(("wire-first" if first else "rewire", name))

    async def on_down(self, name):
        self.calls.append(("down", name))


def make(names=("a", "b"), **settings):
    clock = FakeClock()
    actors = FakeActors(names)
    restarted = []
    sup = Supervisor(list(names), actors, SupervisorSettings(**settings), clock=clock, rng=random.Random(1),
                     on_restart=restarted.append)
    return sup, actors, clock, restarted


async def run_steps(sup, clock, n, dt=1.0, wait_s=None):
    for _ in range(n):
        await sup.step(wait_s)
        clock.now += dt


HUNG_FAST = {"heartbeat_period_s": 0.02, "heartbeat_timeout_s": 0.1}  # real seconds: a hung actor's pings time out


async def settle(sup, clock, n):
    """``n`` heartbeat rounds, each waited for to its end (a hung actor's lasts timeout + (misses - 1) periods)."""
    await run_steps(sup, clock, n, wait_s=5.0)


async def test_first_heartbeat_wires_every_actor_once():
    sup, actors, clock, restarted = make()
    await run_steps(sup, clock, 3)
    assert sorted(c for c in actors.calls if c[0] == "wire-first") == [("wire-first", "a"), ("wire-first", "b")]
    assert not [c for c in actors.calls if c[0] == "rewire"]
    assert restarted == []
    assert all(s["up"] for s in sup.status().values())


async def test_dead_actor_is_recreated_and_rewired_at_once():
    sup, actors, clock, restarted = make()
    await run_steps(sup, clock, 1)
    actors.state["a"] = "dead"
    await run_steps(sup, clock, 2)
    assert ("ensure", "a") in actors.calls
    assert ("rewire", "a") in actors.calls
    assert restarted == ["a"]
    assert sup.status()["a"]["restarts"] == 1 and sup.status()["b"]["restarts"] == 0


async def test_a_hung_actor_misses_heartbeats_sent_a_period_apart_and_is_killed_after_the_last_times_out():
    sup, actors, clock, restarted = make(failures_before_restart=3, **HUNG_FAST)
    await settle(sup, clock, 1)
    hung_incarnation = actors.incarnation["b"]
    actors.state["b"] = "hung"
    await settle(sup, clock, 1)
    sent = [t for name, t in actors.unanswered if name == "b"]
    assert len(sent) == 3 and ("kill", "b") in actors.calls
    # each went out while the one before was still waiting for its answer: not three timeouts end to end
    assert all(0 < later - earlier < HUNG_FAST["heartbeat_timeout_s"] for earlier, later in zip(sent, sent[1:]))
    assert actors.killed_health == {"incarnation": hung_incarnation}  # its last answer: which process it was
    await settle(sup, clock, 1)
    assert ("rewire", "b") in actors.calls and restarted == ["b"]


async def test_each_answer_of_a_started_process_is_reported_with_its_time_not_its_first_nor_a_miss():
    clock = FakeClock()
    actors = FakeActors(["a", "b"])
    answers = []
    sup = Supervisor(["a", "b"], actors, SupervisorSettings(failures_before_restart=3, **HUNG_FAST), clock=clock,
                     rng=random.Random(1), on_answer=lambda name, seconds: answers.append((name, seconds)))
    answering = actors.health

    async def a_answers_in_a_quarter_second(name, timeout_s):
        if name == "a":
            clock.now += 0.25
        return await answering(name, timeout_s)

    await settle(sup, clock, 1)
    assert answers == []  # a process's first answer waits for its start: not a live actor's answer time
    actors.health = a_answers_in_a_quarter_second
    await settle(sup, clock, 1)
    assert sorted(name for name, _ in answers) == ["a", "b"] and dict(answers)["a"] == pytest.approx(0.25)
    answers.clear()
    actors.state["b"] = "hung"
    await settle(sup, clock, 1)
    assert [name for name, _ in answers] == ["a"]  # b's three misses are not answers
    assert ("kill", "b") in actors.calls


async def test_an_answer_to_a_later_heartbeat_before_the_misses_are_spent_keeps_the_actor():
    sup, actors, clock, _ = make(failures_before_restart=3, **HUNG_FAST)
    await settle(sup, clock, 1)
    actors.state["b"] = "hung"
    step = asyncio.ensure_future(sup.step(wait_s=5.0))
    async with asyncio.timeout(5.0):
        while len(actors.unanswered) < 2:  # two heartbeats waiting for their answers
            await asyncio.sleep(0.002)
    actors.state["b"] = "alive"  # the third is answered
    await step
    assert ("kill", "b") not in actors.calls and sup.status()["b"]["failures"] == 0 and sup.status()["b"]["up"]


async def test_a_restart_done_by_ray_itself_is_noticed_through_the_incarnation():
    sup, actors, clock, restarted = make()
    await run_steps(sup, clock, 1)
    actors.incarnation["a"] += 1  # Ray restarted the process: same handle, new memory
    await run_steps(sup, clock, 1)
    assert ("rewire", "a") in actors.calls and restarted == ["a"]
    assert ("ensure", "a") not in actors.calls


async def test_recovered_actor_resets_its_failure_count():
    sup, actors, clock, _ = make(failures_before_restart=3)
    await run_steps(sup, clock, 1)
    actors.state["a"] = "erroring"
    await run_steps(sup, clock, 2)
    actors.state["a"] = "alive"
    await run_steps(sup, clock, 1)
    actors.state["a"] = "erroring"
    await run_steps(sup, clock, 2)
    assert ("kill", "a") not in actors.calls


async def test_the_loop_survives_errors_raised_by_the_control_itself():
    sup, actors, clock, _ = make()

    async def broken_wiring(name, first):
        raise RuntimeError("rewiring failed")

    actors.on_new_incarnation = broken_wiring
    await run_steps(sup, clock, 3)  # must not raise
    assert "RuntimeError" in sup.status()["a"]["last_error"]
    # wiring is retried on the next heartbeat because it never completed
    calls = []

    async def good_wiring(name, first):
        calls.append(name)

    actors.on_new_incarnation = good_wiring
    await run_steps(sup, clock, 2)
    assert sorted(set(calls)) == ["a", "b"]


async def test_heartbeats_are_jittered_and_not_more_frequent_than_the_period():
    sup, actors, clock, _ = make(heartbeat_period_s=1.0, jitter=0.2)
    await sup.step()
    checks = [s.next_check - clock.now for s in sup.actors.values()]
    assert all(0.8 <= c <= 1.2 for c in checks)
    assert len(set(checks)) == 2  # two actors, two different jittered times
    n = len(actors.calls)
    await sup.step()  # nothing is due yet
    assert len(actors.calls) == n


async def test_a_slow_starting_actor_is_given_a_grace_period_before_it_counts_as_hung():
    sup, actors, clock, _ = make(failures_before_restart=2, startup_grace_s=10.0, **HUNG_FAST)
    actors.state["a"] = "hung"  # never answered yet: still importing, say
    await settle(sup, clock, 5)  # 5 s < grace
    assert ("kill", "a") not in actors.calls
    await settle(sup, clock, 8)  # grace over: now it counts
    assert ("kill", "a") in actors.calls


async def test_after_its_first_answer_a_hang_counts_at_once():
    sup, actors, clock, _ = make(failures_before_restart=2, startup_grace_s=100.0, **HUNG_FAST)
    await settle(sup, clock, 1)
    actors.state["a"] = "hung"
    await settle(sup, clock, 1)
    assert ("kill", "a") in actors.calls


async def test_slow_wiring_of_one_actor_does_not_hold_up_the_heartbeats_of_others():
    sup, actors, clock, _ = make(heartbeat_timeout_s=0.05)
    release = asyncio.Event()

    async def wiring(name, first):
        if name == "a":
            await release.wait()
        actors.calls.append(("wired", name))

    actors.on_new_incarnation = wiring
    await run_steps(sup, clock, 1)
    actors.state["b"] = "dead"
    await run_steps(sup, clock, 2)
    assert ("ensure", "b") in actors.calls  # b handled while a's wiring is still pending
    release.set()
    await asyncio.sleep(0.01)
    assert ("wired", "a") in actors.calls


async def test_the_supervisors_own_step_waits_for_no_check_so_a_rewiring_never_delays_another_actors_check():
    sup, actors, clock, _ = make()  # heartbeat timeout 1.5 s: what step() would wait by default
    release = asyncio.Event()

    async def wiring(name, first):
        if name == "a" and not first:
            await release.wait()  # a's new process being started and rewired
        actors.calls.append(("wired", name))

    actors.on_new_incarnation = wiring
    await run_steps(sup, clock, 1)
    actors.incarnation["a"] += 1  # a restarted by Ray
    actors.state["b"] = "dead"
    await asyncio.wait_for(sup.step(wait_s=0), 0.05)  # returns at once: a's rewiring goes on
    await asyncio.sleep(0.01)
    assert ("ensure", "b") in actors.calls and actors.calls.count(("wired", "a")) == 1  # its first wiring only
    clock.now += 1.0
    await asyncio.wait_for(sup.step(wait_s=0), 0.05)  # b's new process: rewired while a's is still pending
    await asyncio.sleep(0.01)
    assert actors.calls.count(("wired", "b")) == 2 and actors.calls.count(("wired", "a")) == 1
    release.set()
    await asyncio.sleep(0.01)
    assert actors.calls.count(("wired", "a")) == 2 and all(s["up"] for s in sup.status().values())


async def test_an_actor_being_restarted_by_ray_is_waited_for_not_killed_again():
    sup, actors, clock, _ = make(failures_before_restart=2, startup_grace_s=30.0)
    await run_steps(sup, clock, 1)
    actors.state["a"] = "restarting"
    await run_steps(sup, clock, 10)
    assert ("kill", "a") not in actors.calls and sup.status()["a"]["up"] is False
    actors.state["a"] = "alive"
    actors.incarnation["a"] += 1
    await run_steps(sup, clock, 1)
    assert ("rewire", "a") in actors.calls and sup.status()["a"]["up"] is True


async def test_an_actor_that_is_down_is_checked_often_so_its_new_process_is_noticed_at_once():
    sup, actors, clock, _ = make(heartbeat_period_s=0.5)
    await sup.step()
    assert all(0.4 - 1e-9 <= s.next_check - clock.now <= 0.6 + 1e-9 for s in sup.actors.values())  # up: 0.5 s
    actors.state["a"] = "restarting"
    clock.now += 1.0
    await sup.step()
    assert not sup.actors["a"].up and sup.actors["a"].next_check - clock.now <= 0.05 * 1.2 + 1e-9  # down: 0.05 s
    assert sup.actors["b"].next_check - clock.now >= 0.5 * 0.8 - 1e-9
    actors.state["a"] = "alive"
    actors.incarnation["a"] += 1
    clock.now += 0.06
    await sup.step()  # its new process, noticed at the next 0.05 s check
    assert ("rewire", "a") in actors.calls and sup.actors["a"].up
    assert sup.actors["a"].next_check - clock.now >= 0.5 * 0.8 - 1e-9  # up again: back to the heartbeat period


def test_a_refused_start_is_reported_in_one_line_from_the_cause_not_rays_traceback_header():
    from actors.supervision import StartRefused, one_line, refusal

    class RemoteError(Exception):  # what Ray raises: its own text first, the actor's exception as ``cause``
        def __init__(self, cause):
            super().__init__("ray::ExchangeConnection.start() (pid=1, ip=127.0.0.1)\n  Traceback ...")
            self.cause = cause

    class RemoteRefusal(RemoteError, StartRefused):  # Ray's error is also an instance of the cause's class
        pass

    cause = StartRefused("venues.beta: the venue refused the API key or secret (-1022)\nmore")
    assert refusal(RemoteRefusal(cause)) == "venues.beta: the venue refused the API key or secret (-1022)"
    assert refusal(cause) == "venues.beta: the venue refused the API key or secret (-1022)"
    assert refusal(RemoteError(ValueError("x"))) is None and refusal(ValueError("x")) is None
    assert one_line(RemoteError(TimeoutError("no answer\nline two"))) == "TimeoutError: no answer"


# ----- a hung process: ended by the supervisor itself when it runs on the same node ------------------------------

WORKERS = {41: b"ray::ExchangeConnection\x00", 42: b"python\x00something-else\x00"}


@pytest.mark.parametrize("last_health, node, expected", [
    ({"pid": 41, "node_id": "n1"}, "n1", 41),  # our node, a Ray worker: SIGKILL it now
    ({"pid": 41, "node_id": "n2"}, "n1", None),  # another node: Ray ends it
    ({"pid": 41}, "n1", None),  # no node in its answer
    ({}, "n1", None),  # it never answered
    ({"pid": 42, "node_id": "n1"}, "n1", None),  # the pid is now another program's
    ({"pid": 43, "node_id": "n1"}, "n1", None),  # gone already
    ({"pid": "41", "node_id": "n1"}, "n1", None),
])
def test_a_hung_process_is_ended_directly_only_on_our_node_and_only_if_still_a_ray_worker(last_health, node,
                                                                                          expected):
    assert hung_process(last_health, node, WORKERS.get) == expected


# ----- who a takeover waits for: the actors answering their heartbeats ---------------------------------------------

async def test_an_actor_whose_heartbeat_is_out_longer_than_a_period_is_not_answering():
    sup, actors, clock, _ = make(failures_before_restart=3, **HUNG_FAST)
    assert sup.answering("a")  # not heard from yet (a new supervisor adopting a run): nothing says it does not answer
    await settle(sup, clock, 1)
    assert sup.answering("a") and sup.answering("b") and sup.answering("not watched")
    actors.state["b"] = "hung"
    step = asyncio.ensure_future(sup.step(wait_s=5.0))
    async with asyncio.timeout(5.0):
        while not actors.unanswered:
            await asyncio.sleep(0.002)
    assert sup.answering("b")  # a heartbeat just sent: an actor that answers does within milliseconds
    clock.now += 2 * HUNG_FAST["heartbeat_period_s"]
    assert not sup.answering("b") and sup.answering("a")
    actors.state["b"] = "alive"  # answers the next one: answering again
    await step
    assert sup.answering("b") and sup.status()["b"]["up"]
    actors.state["a"] = "restarting"
    await settle(sup, clock, 1)
    assert not sup.answering("a")  # down: its new process is told at its rewiring


async def test_a_takeover_waits_for_the_answering_actors_it_tells_not_for_one_that_stopped(monkeypatch):
    from types import SimpleNamespace

    from actors import supervisor as supervisor_module

    sup, actors, clock, _ = make(**HUNG_FAST)
    await settle(sup, clock, 1)
    sup.actors["b"].asked_at = clock.now - 1.0  # a heartbeat out for a second: b stopped (its node cut off)
    monkeypatch.setattr(supervisor_module, "TAKEOVER_WAIT_S", 60.0)
    control = supervisor_module.RayActorControl(SimpleNamespace(deployment=None, supervisor=sup))
    told, never = asyncio.Event(), asyncio.Event()

    async def answer():
        await asyncio.sleep(0.01)
        told.set()

    await asyncio.wait_for(control._tell([("a", answer()), ("b", never.wait())], False, "%s"), 5.0)
    assert told.is_set()  # waited for a, which answers
    assert len(control._telling) == 1  # the call to b goes on, not waited for
    never.set()
    await asyncio.sleep(0.01)
    assert not control._telling
