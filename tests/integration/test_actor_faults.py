"""Kill every kind of actor during a run — ray.kill and SIGKILL, with orders in flight — and hang one: trading
resumes, no client order id reaches a venue twice, and every order a venue knows is in the journal.

Slow (``make test-full``): ``make test`` applies each of these faults with the same checks through
``rayarb chaos --short`` (tests/integration/test_chaos.py)."""
from __future__ import annotations

import os
import signal

import pytest
import ray

from actors.common import DETECTOR, ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (
    BackgroundRun,
    account_balances,
    account_orders,
    account_trades,
    actor,
    assert_every_venue_order_journaled_once,
    assert_positions_are_the_balance_changes,
    make_job,
    sim_post,
    wait_for,
)

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # make test runs these faults in tests/integration/test_chaos.py

WAIT_S = 60.0


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=9) as process:
        process.start(timeout_s=60)
        yield process.venues


def health(name, timeout_s=5.0):
    return ray.get(actor(name).health.remote(), timeout=timeout_s)


def fills():
    return ray.get(actor(ORDER_MANAGER).summary.remote(), timeout=10)["fills"]


def replaced(name, old_incarnation):
    return lambda: health(name)["incarnation"] != old_incarnation and supervisor_says_up(name)


def supervisor_says_up(name):
    status = ray.get(actor(SUPERVISOR).status.remote(), timeout=5)["actors"][name]
    return status["up"] and status["restarts"] >= 1


def wait_until_orders_in_flight(timeout_s=WAIT_S):
    wait_for("an opportunity in flight", lambda: health(ORDER_MANAGER, 2)["in_flight"] > 0, timeout_s, 0.005)


def test_actors_killed_and_hung_mid_run_lose_and_double_nothing(venues, tmp_path):
    url = {e.name: e.url for e in venues}
    before = {e.name: account_balances(e.url) for e in venues}
    run = BackgroundRun(make_job(venues, tmp_path, duration_s=None, cooldown_s=0.05)).start()
    try:
        wait_for("the first fills", lambda: fills() > 0, timeout_s=180)

        # SIGKILL inside the detector: Ray restarts the process, the supervisor rewires it
        info = health(DETECTOR)
        os.kill(info["pid"], signal.SIGKILL)
        wait_for("detector back", replaced(DETECTOR, info["incarnation"]))

        # ray.kill the position tracker: gone for good, the supervisor recreates it and it replays the journal
        info = health(POSITION_TRACKER)
        ray.kill(actor(POSITION_TRACKER))
        wait_for("position tracker back", replaced(POSITION_TRACKER, info["incarnation"]))

        # SIGKILL the order manager while orders are in flight (slow venue answers keep them in flight)
        for venue in url.values():
            sim_post(venue, "/_sim/faults", {"latency_ms": 300})
        wait_until_orders_in_flight()
        info = health(ORDER_MANAGER)
        os.kill(info["pid"], signal.SIGKILL)
        wait_for("order manager back", replaced(ORDER_MANAGER, info["incarnation"]))

        # ray.kill an exchange actor while orders are in flight
        wait_until_orders_in_flight()
        info = health("exchange:alpha")
        ray.kill(actor("exchange:alpha"))
        wait_for("exchange:alpha back", replaced("exchange:alpha", info["incarnation"]))
        for venue in url.values():
            sim_post(venue, "/_sim/faults", {"clear": True})

        # a hung actor (stopped, not dead) is detected by heartbeat and replaced
        info = health("exchange:gamma")
        os.kill(info["pid"], signal.SIGSTOP)
        wait_for("hung exchange:gamma replaced", replaced("exchange:gamma", info["incarnation"]))

        # the supervisor itself: the driver recreates it and it adopts the running actors
        sup = actor(SUPERVISOR)
        ray.kill(sup)
        wait_for("supervisor back", lambda: ray.get(actor(SUPERVISOR).all_up.remote(), timeout=5))

        # trading resumes after all of that
        resumed_from = fills()
        wait_for("trading resumed", lambda: fills() > resumed_from, timeout_s=90)
    finally:
        run.job.stop()
        assert run.join(180) == 0

    after = {e.name: account_balances(e.url) for e in venues}
    report = load_run_report(run.job.run_dir)
    assert_every_venue_order_journaled_once(run.job.run_dir, venues)
    journal = {row["client_order_id"]: row for row in report.orders}
    for e in venues:
        for order in account_orders(e.url):
            assert journal[order["clientOrderId"]]["exchange_order_id"] == str(order["orderId"])
    for row in report.orders:
        assert row["status"] in {"filled", "expired", "canceled", "rejected", "denied"}, row
    venue_fills = {(e.name, str(t["id"])) for e in venues for t in account_trades(e.url)}
    assert {(f["exchange"], f["trade_id"]) for f in report.fills} == venue_fills
    assert_positions_are_the_balance_changes(report.report["positions"], before, after)
