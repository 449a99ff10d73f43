"""Broken replies and a balance moved without a fill during a whole run (MainJob on a local Ray, venues of both
dialects): the run goes on trading, no client order id reaches a venue twice, every order a venue knows is in the
journal, positions equal the venues' balance changes except exactly the amount moved without a fill, which the run
report names by venue and asset."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
import ray

from actors.common import ORDER_MANAGER
from orchestration.report import format_report, load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (BackgroundRun, account_balances, account_orders, actor,
                                    assert_positions_are_the_balance_changes, make_job, sim_post, wait_for)

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def fills() -> int:
    return ray.get(actor(ORDER_MANAGER).summary.remote(), timeout=10)["fills"]


def test_a_run_through_broken_replies_and_a_moved_balance_goes_on_and_reports_it(tmp_path):
    with VenueProcess(("alpha", "beta:okx"), seed=18) as process:
        process.start(timeout_s=60)
        venues = process.venues
        url = {e.name: e.url for e in venues}
        before = {e.name: account_balances(e.url) for e in venues}
        run = BackgroundRun(make_job(venues, tmp_path, duration_s=None, cooldown_s=0.05)).start()
        try:
            wait_for("the first fills", lambda: fills() > 0, timeout_s=180)
            sim_post(url["alpha"], "/_sim/faults", {"malformed_next": 3, "malformed": "garbage_json",
                                                    "malformed_path": "/api/v3/order"})
            sim_post(url["beta"], "/_sim/faults", {"book_lie_next": 20, "book_lie": "crossed"})
            sim_post(url["beta"], "/_sim/balance_adjust", {"account": "main", "asset": "USDT", "delta": "-1.5"})
            resumed_from = fills()
            try:
                wait_for("trading goes on", lambda: fills() > resumed_from + 2, timeout_s=120)
            except AssertionError:
                states = {name: ray.get(actor(name).health.remote(), timeout=10)
                          for name in ("detector", ORDER_MANAGER, "exchange:alpha", "exchange:beta")}
                raise AssertionError(f"trading stopped after {resumed_from} fills: {states}") from None
        finally:
            run.job.stop()
            assert run.join(180) == 0
        after = {e.name: account_balances(e.url) for e in venues}
        orders = {e.name: account_orders(e.url) for e in venues}

    report = load_run_report(run.job.run_dir)
    journal = {row["client_order_id"] for row in report.orders}
    for name, placed in orders.items():
        counts = Counter(o["clientOrderId"] for o in placed)
        assert [cid for cid, n in counts.items() if n > 1] == [], f"client order id placed twice at {name}"
        assert {o["clientOrderId"] for o in placed} <= journal
    differences = report.report["balance_check"]["differences"]
    assert {where: Decimal(amount) for where, amount in differences.items()} == {"beta:USDT": Decimal("-1.5")}
    moved = {**after, "beta": {**after["beta"], "USDT": after["beta"]["USDT"] + Decimal("1.5")}}
    assert_positions_are_the_balance_changes(report.report["positions"], before, moved)
    assert f"DIFFER: beta USDT {differences['beta:USDT']} (moved without a fill)" in format_report(run.job.run_dir)
