"""The kill switch, end to end on real Ray and simulator venues: tripped mid-run by one-legged outcomes (one venue
rejecting every order), it stays tripped while the order manager (SIGKILL), the detector and the supervisor
(ray.kill) are replaced; the venues' own order lists show that no opportunity's leg was sent after the trip; the live
status, the metric, report.json and `rayarb risk status` say why; an operator's `rayarb risk reset` lets the run trade
again. And a new `rayarb run --resume` on a journal whose switch is tripped sends nothing, also after its order
manager is ray.kill-ed and recreated."""
from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections import Counter
from decimal import Decimal

import pytest
import ray

from actors.common import DETECTOR, ORDER_MANAGER, SUPERVISOR
from execution.journal import Journal
from execution.messages import ArbitrageDetected
from orchestration.cli import main as rayarb
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import BackgroundRun, account_orders, actor, make_job, sim_post, wait_for

pytestmark = pytest.mark.ray

WAIT_S = 60.0
UNWIND_PREFIX = "unw"  # execution.risk.UNWIND_ID_PREFIX
HEDGE_PREFIX = "hedge-"


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=21) as process:
        process.start(timeout_s=60)
        yield process.venues


def call(name, method, *args, timeout_s=10.0):
    return ray.get(getattr(actor(name), method).remote(*args), timeout=timeout_s)


def replaced(name, old_incarnation):
    def check():
        status = call(SUPERVISOR, "status", timeout_s=5)["actors"][name]
        return call(name, "health", timeout_s=5)["incarnation"] != old_incarnation and status["up"]
    return check


def kill_switch_metric(job) -> dict[str, float]:
    values = {}
    for target in job.metrics_export.targets.values():
        with urllib.request.urlopen(f"http://{target.address}/metrics", timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                if line.startswith("rayarb_kill_switch{"):
                    labels, value = line.rsplit(" ", 1)
                    values[labels] = float(value)
    return values


@pytest.mark.slow  # make test: the kill_switch, sigkill_* and raykill_* faults of rayarb chaos --short (test_chaos.py)
def test_a_tripped_kill_switch_outlives_every_restart_and_nothing_is_sent_after_it(venues, tmp_path):
    began = time.monotonic()
    url = {e.name: e.url for e in venues}
    run = BackgroundRun(make_job(venues, tmp_path, duration_s=None, cooldown_s=0.05,
                                 risk={"max_one_legged": 1})).start()
    try:
        wait_for("the first fills", lambda: call(ORDER_MANAGER, "summary", 5)["fills"] > 0, timeout_s=120)
        trading_at = time.monotonic()
        sim_post(url["beta"], "/_sim/faults", {"reject_next_orders": 100_000})  # every beta leg refused
        wait_for("the kill switch", lambda: call(ORDER_MANAGER, "health")["kill_switch"] is not None)
        sim_post(url["beta"], "/_sim/faults", {"clear": True})  # healthy venues: whatever is sent now goes through
        risk = call(ORDER_MANAGER, "risk_status")
        trip = risk["trip"]
        assert trip["rule"] == "one_legged" and trip["reason"] == "1 one-legged outcomes (limit 1)"
        assert trip["journal_seq"] is not None and risk["one_legged"] >= 1
        assert trip["detail"]["one_legged_opportunities"], trip
        wait_for("the detector stopped", lambda: not call(DETECTOR, "health")["enabled"], timeout_s=30)
        status = run.job.status()
        assert status.kill_switch == trip["reason"] and trip["reason"] in status.render()
        assert kill_switch_metric(run.job) == {'rayarb_kill_switch{rule="one_legged"}': 1.0,
                                               'rayarb_kill_switch{rule="loss_limit"}': 0.0}

        # the order manager SIGKILLed: a new process rebuilds the switch from the journal, tripped
        info = call(ORDER_MANAGER, "health")
        os.kill(info["pid"], signal.SIGKILL)
        wait_for("order manager back", replaced(ORDER_MANAGER, info["incarnation"]))
        wait_for("order manager started", lambda: call(ORDER_MANAGER, "health")["started"])
        after = call(ORDER_MANAGER, "health")
        assert after["kill_switch"] == trip["reason"] and after["trading_allowed"] is False
        # even an opportunity handed to it directly is refused
        now = time.time()
        offer = ArbitrageDetected(opportunity_id="op-test-1", symbol="BTC/USDT", buy_exchange="alpha",
                                  sell_exchange="gamma", amount=Decimal("0.001"), buy_price=Decimal("1"),
                                  sell_price=Decimal("2"), expected_profit=Decimal("1"), detected_at=now,
                                  buy_book_received_at=now, sell_book_received_at=now)
        assert call(ORDER_MANAGER, "on_opportunity", offer) == "denied:kill_switch"

        # the detector, then the supervisor (the driver recreates it and asks it to trade): neither turns it back on
        info = call(DETECTOR, "health")
        ray.kill(actor(DETECTOR))
        wait_for("detector back", replaced(DETECTOR, info["incarnation"]))
        ray.kill(actor(SUPERVISOR))
        wait_for("supervisor back", lambda: call(SUPERVISOR, "all_up", timeout_s=5))
        wait_for("the driver asked the new supervisor to trade", lambda: call(SUPERVISOR, "status")["trading"])
        assert call(SUPERVISOR, "status")["detector_enabled"] is False
        # the new detector sees the markets move (hundreds of books) and stays off
        seen = call(DETECTOR, "health")["updates"]
        wait_for("books flowing to the new detector", lambda: call(DETECTOR, "health")["updates"] > seen + 200)
        assert call(DETECTOR, "health")["enabled"] is False
        assert kill_switch_metric(run.job)['rayarb_kill_switch{rule="one_legged"}'] == 1.0

        # what the venues received, before the operator's reset
        stopped_orders = {name: account_orders(u) for name, u in url.items()}
        assert rayarb(["risk", "status", str(run.job.run_dir)]) == 0

        # an operator clears it: the running order manager reads the reset and the supervisor lets it trade again
        assert rayarb(["risk", "reset", str(run.job.run_dir), "--by", "test@ci"]) == 0
        wait_for("trading allowed again", lambda: call(ORDER_MANAGER, "health")["trading_allowed"], timeout_s=30)
        wait_for("the detector back on", lambda: call(DETECTOR, "health")["enabled"], timeout_s=30)
        reset_at = time.time()
        print(f"run up and trading after {trading_at - began:.1f} s; tripped, restarted three times and reset in "
              f"{time.monotonic() - trading_at:.1f} s")
    finally:
        run.job.stop()
        assert run.join(180) == 0

    report = load_run_report(run.job.run_dir)
    with Journal(run.job.run_dir / "journal.sqlite") as db:
        events = db.risk_events()
        journal = {row.client_order_id: row for row in db.orders()}
    trip_event = events[0]
    assert [e.kind for e in events] == ["trip", "reset"] and trip_event.reason == trip["reason"]
    assert events[1].actor == "test@ci" and events[1].detail["cleared_reason"] == trip["reason"]
    trip_at = trip_event.ts

    # From the venues' own lists: every order a venue received after the trip and before the reset was no
    # opportunity's leg made after the trip: only unwinds and hedges (they reduce exposure), or legs already on
    # their way when it tripped (journaled, i.e. decided, before it).
    after_trip = Counter()
    for name, orders in stopped_orders.items():
        for order in orders:
            received = order["receivedTimeUs"] / 1e6
            if received <= trip_at:
                continue
            row = journal[order["clientOrderId"]]
            if row.client_order_id.startswith(UNWIND_PREFIX) or (row.opportunity_id or "").startswith(HEDGE_PREFIX):
                after_trip["unwind or hedge"] += 1
            else:
                assert row.created_ts <= trip_at, (name, order, row, trip_at)
                assert received - trip_at < 1.0, (name, order, trip_at)  # in flight at the trip, not sent later
                after_trip["leg in flight at the trip"] += 1
    print(f"orders received after the trip: {dict(after_trip)}")

    # report.json says why trading stopped, and its outcome counts add up to the opportunities taken
    summary = report.report
    assert summary["risk"]["last_reset"]["by"] == "test@ci" and summary["kill_switch"] is None
    assert sum(summary["outcomes"].values()) == summary["opportunities_taken"] > 0
    assert summary["one_legged"] >= 1 and summary["outcomes"]["one_legged"] == summary["one_legged"]
    assert reset_at > trip_at
    print(f"test took {time.monotonic() - began:.1f} s")


def test_a_new_run_resumed_on_a_tripped_journal_sends_nothing(venues, tmp_path):
    from execution.types import OrderStatus, Side
    from tests.execution.test_risk import LIMITS, RiskEngine, a_fill, journal_order, one_legged_opportunity, order_row

    run_dir = tmp_path / "earlier-run"
    run_dir.mkdir()
    with Journal(run_dir / "journal.sqlite") as db:  # an earlier run's journal: two one-legged outcomes, tripped
        for index in (1, 2):  # each bought alone and unwound: nothing left for the new run to hedge
            one_legged_opportunity(db, index)
            journal_order(db, order_row(f"unw-{index}", f"op-{index}", Side.SELL, status=OrderStatus.FILLED,
                                        filled="0.01"), [a_fill(f"unw-{index}", Side.SELL, "0.01")])
        engine = RiskEngine.rebuild(db, LIMITS, actor="an earlier order manager")
        db.record_risk_event("trip", **engine.trip.journal_fields())
        reason = engine.trip.reason
    known = {e.name: {o["clientOrderId"] for o in account_orders(e.url)} for e in venues}
    run = BackgroundRun(make_job(venues, tmp_path, duration_s=None, cooldown_s=0.05, resume_dir=run_dir)).start()
    try:
        wait_for("the run trading", lambda: call(SUPERVISOR, "status")["trading"], timeout_s=120)
        assert call(ORDER_MANAGER, "health")["kill_switch"] == reason
        # ray.kill of the order manager (gone for good: the supervisor creates a new one): tripped again from the journal
        info = call(ORDER_MANAGER, "health")
        ray.kill(actor(ORDER_MANAGER))
        wait_for("order manager recreated", replaced(ORDER_MANAGER, info["incarnation"]))
        wait_for("order manager started", lambda: call(ORDER_MANAGER, "health")["started"])
        assert call(ORDER_MANAGER, "health")["kill_switch"] == reason
        seen = call(DETECTOR, "health")["updates"]
        wait_for("books flowing to the detector", lambda: call(DETECTOR, "health")["updates"] > seen + 200)
        assert call(DETECTOR, "health")["enabled"] is False and call(SUPERVISOR, "status")["detector_enabled"] is False
    finally:
        run.job.stop()
        assert run.join(180) == 0
    assert run.job.run_dir == run_dir
    for e in venues:
        assert {o["clientOrderId"] for o in account_orders(e.url)} == known[e.name], f"{e.name} got orders"
    report = load_run_report(run_dir)
    assert report.report["kill_switch"] == reason
    assert report.report["risk"]["trip"]["by"] == "an earlier order manager"
    assert report.report["outcomes"] == {"one_legged": 2} and report.report["opportunities_taken"] == 2
