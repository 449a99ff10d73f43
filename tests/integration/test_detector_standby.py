"""supervisor.detector_standby: the detector's second actor, started but sent no books, takes detection over when the
active one dies (the exchange actors send it their books, the risk engine's word enables it); the dead one comes back
as the standby, sent no books and detecting nothing. A new supervisor learns from the two which one is active. Never
do two detectors fire at once, and every order a venue knows is in the journal once. A takeover does not wait for an
exchange actor that does not answer."""
from __future__ import annotations

import os
import signal

import pytest
import ray

from actors.common import SUPERVISOR
from execution.journal import Journal
from simulator.launcher import VenueProcess
from tests.integration.runs import (BackgroundRun, actor, all_up, assert_every_venue_order_journaled_once, fed_by,
                                    make_job, process_state, replaced, wait_for)
from tests.integration.runs import actor_health as health

pytestmark = pytest.mark.ray

PRIMARY, STANDBY = "detector", "detector~2"
EXCHANGES = ("exchange:alpha", "exchange:beta")


def legs_by(journal: Journal, incarnation: str) -> int:
    """Arbitrage legs of opportunities the detector process ``incarnation`` found (its ids are op-<incarnation>-n)."""
    return sum(1 for o in journal.orders() if (o.opportunity_id or "").startswith(f"op-{incarnation}-"))


def assert_standby(name: str) -> None:
    """Started, told nothing of the market and detecting nothing."""
    info = health(name)
    assert info["started"] and not info["active"] and not info["enabled"] and info["updates"] == 0, info
    assert fed_by(name, EXCHANGES) == [False, False]


def take_over(dead: str, taking_over: str, journal: Journal) -> None:
    """Kill the active ``dead``: ``taking_over`` is fed the books, enabled, and its opportunities are traded; ``dead``
    comes back as the standby."""
    info = health(dead)
    os.kill(info["pid"], signal.SIGKILL)
    incarnation = health(taking_over)["incarnation"]
    wait_for(f"{taking_over} active, enabled and its opportunities traded",
             lambda: health(taking_over)["active"] and health(taking_over)["enabled"]
             and legs_by(journal, incarnation) > 0, timeout_s=60, interval_s=0.1)
    assert fed_by(taking_over, EXCHANGES) == [True, True]
    wait_for(f"{dead} back", lambda: replaced(dead, info["incarnation"]), timeout_s=60, interval_s=0.2)
    assert_standby(dead)


def assert_one_detector_at_a_time(journal: Journal) -> None:
    """The opportunities of each detector process were traded in one stretch of time, and the stretches do not
    overlap: never two detectors firing at once."""
    spans: dict[str, list[float]] = {}
    for order in journal.orders():
        if (order.opportunity_id or "").startswith("op-"):
            incarnation = order.opportunity_id.split("-")[1]
            span = spans.setdefault(incarnation, [order.created_ts, order.created_ts])
            span[0], span[1] = min(span[0], order.created_ts), max(span[1], order.created_ts)
    ordered = sorted(spans.values())
    assert len(ordered) >= 3, spans  # the first detector, the standby, the first one's new process
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:])), spans


def test_the_standby_takes_detection_over_and_the_dead_one_comes_back_as_the_standby(tmp_path):
    with VenueProcess(("alpha", "beta:okx"), seed=4) as venues:
        venues.start(timeout_s=60)
        job = make_job(venues.venues, tmp_path, duration_s=None, cooldown_s=0.05,
                       # a frozen exchange actor's hang counted only after ~30 s (the last takeover below)
                       supervisor={"detector_standby": True, "failures_before_restart": 30})
        run = BackgroundRun(job).start()
        journal = None
        try:
            wait_for("trading with both detectors up", lambda: run.error is None and all_up()
                     and health(PRIMARY)["detected"] > 0, timeout_s=180, interval_s=0.2)
            journal = Journal(job.deployment.journal_path)  # read beside the running order manager (WAL)
            assert health(PRIMARY)["active"] and health(PRIMARY)["enabled"]
            assert fed_by(PRIMARY, EXCHANGES) == [True, True]
            assert_standby(STANDBY)

            take_over(PRIMARY, STANDBY, journal)
            # a new supervisor learns from the detectors which one is active, and leaves it so
            supervisor = health(SUPERVISOR)["incarnation"]
            ray.kill(actor(SUPERVISOR))
            wait_for("a new supervisor", lambda: replaced(SUPERVISOR, supervisor), timeout_s=90, interval_s=0.2)
            assert [health(name)["active"] for name in (PRIMARY, STANDBY)] == [False, True]
            assert_standby(PRIMARY)
            take_over(STANDBY, PRIMARY, journal)
            # a takeover is not held up by an actor it tells that does not answer: with an exchange actor frozen
            # (its hang not yet counted), the standby takes detection over and is fed by the other one
            wait_for("every actor up and wired", all_up, timeout_s=60, interval_s=0.1)  # the standby ready too
            frozen = health(EXCHANGES[0])["pid"]
            os.kill(frozen, signal.SIGSTOP)
            try:
                dead = health(PRIMARY)
                # killed for good: the frozen actor's missed heartbeats slow the supervisor's rounds, and a Ray restart
                # can be over before it sees the death; the new process then keeps the role (no takeover to check)
                ray.kill(actor(PRIMARY), no_restart=True)
                wait_for(f"{STANDBY} active, enabled and fed by {EXCHANGES[1]} while {EXCHANGES[0]} is frozen",
                         lambda: health(STANDBY)["active"] and health(STANDBY)["enabled"]
                         and fed_by(STANDBY, EXCHANGES[1:]) == [True], timeout_s=15, interval_s=0.1)
                assert process_state(frozen) == "T"  # still frozen: the takeover did not wait for it
            finally:
                os.kill(frozen, signal.SIGCONT)
            incarnation = health(STANDBY)["incarnation"]
            wait_for(f"{STANDBY}'s opportunities traded", lambda: legs_by(journal, incarnation) > 0, timeout_s=60,
                     interval_s=0.1)
            wait_for(f"{PRIMARY} back", lambda: replaced(PRIMARY, dead["incarnation"]), timeout_s=60, interval_s=0.2)
        finally:
            run.job.stop()
            assert run.join(180) == 0
        assert_one_detector_at_a_time(journal)
        journal.close()
        assert_every_venue_order_journaled_once(run.job.run_dir, venues.venues)
