"""Detection sharded by symbol (``detector.shards: 2``) end to end on simulator venues: each shard gets only its
symbol's books, both shards' opportunities are traded through the one order manager, a killed shard is recreated and
rewired by the supervisor and detects again, and the run's numbers agree with the venues exactly."""
from __future__ import annotations

from collections import Counter

import pytest
import ray

from actors.common import ORDER_MANAGER, SUPERVISOR
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (
    BackgroundRun,
    account_balances,
    account_orders,
    actor,
    assert_positions_are_the_balance_changes,
    make_job,
    wait_for,
)

pytestmark = pytest.mark.ray

SHARDS = ("detector:0", "detector:1")


def health(name, timeout_s=5.0):
    return ray.get(actor(name).health.remote(), timeout=timeout_s)


def test_two_shards_trade_both_symbols_and_a_killed_shard_comes_back(tmp_path):
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=11) as process:
        process.start(timeout_s=60)
        venues = process.venues
        before = {e.name: account_balances(e.url) for e in venues}
        run = BackgroundRun(make_job(venues, tmp_path, duration_s=None, cooldown_s=0.05,
                                     detector={"shards": 2})).start()
        try:
            wait_for("both shards detecting", lambda: all(health(name)["detected"] > 0 for name in SHARDS),
                     timeout_s=120)
            assert {name: health(name)["symbols"] for name in SHARDS} == {"detector:0": ["BTC/USDT"],
                                                                          "detector:1": ["ETH/USDT"]}
            # gone for good (ray.kill): the supervisor recreates shard 1, resubscribes it and lets it trade
            old = health("detector:1")["incarnation"]
            ray.kill(actor("detector:1"))
            wait_for("detector:1 recreated and detecting", lambda: (
                (h := health("detector:1"))["incarnation"] != old and h["enabled"] and h["detected"] > 0))
            status = ray.get(actor(SUPERVISOR).status.remote(), timeout=10)
            assert status["actors"]["detector:1"]["restarts"] >= 1 and status["actors"]["detector:1"]["up"]
            taken = ray.get(actor(ORDER_MANAGER).summary.remote(), timeout=10)["opportunities_taken"]
            wait_for("opportunities taken after the restart", lambda: ray.get(
                actor(ORDER_MANAGER).summary.remote(), timeout=10)["opportunities_taken"] > taken)
        finally:
            run.job.stop()
            assert run.join(180) == 0
        after = {e.name: account_balances(e.url) for e in venues}
        venue_orders = [o for e in venues for o in account_orders(e.url)]

    result = load_run_report(run.job.run_dir)
    report = result.report
    shards = report["detector_shards"]
    assert set(shards) == set(SHARDS) and all(s["updates"] > 0 for s in shards.values()), shards
    assert report["opportunities_detected"] == sum(s["detected"] for s in shards.values())
    assert {f["symbol"] for f in result.fills} == {"BTC/USDT", "ETH/USDT"}  # both shards' opportunities filled
    assert set(report["hot_path"]["scheduling"]) >= set(SHARDS)
    assert_positions_are_the_balance_changes(report["positions"], before, after)
    assert all(n == 1 for n in Counter(o["clientOrderId"] for o in venue_orders).values())
    journaled = {row["client_order_id"] for row in result.orders}
    assert {o["clientOrderId"] for o in venue_orders} <= journaled
