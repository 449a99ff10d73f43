"""End to end on a local Ray between venues that speak different APIs: two Binance-dialect venues and one OKX-dialect
venue (OKX v5: its signing and passphrase, its envelope and codes, orders answered with ids only, fees in the asset
received, no minimum notional). `rayarb run` trades across them for ~20 s and the invariants hold exactly as on
Binance-only venues (tests/integration/test_run_local.py): fills happened, and on the OKX venue too; positions equal
the venues' balance changes exactly; every order a venue knows is in the journal once, with the venue's id and filled
amount, and terminal; every venue trade is a journaled fill, none twice; no client order id placed twice; and some
opportunities had one leg on each dialect."""
from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from execution.journal import Journal
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (
    account_balances,
    account_orders,
    account_trades,
    assert_positions_are_the_balance_changes,
    make_job,
    venue_entry,
)

pytestmark = pytest.mark.ray

OKX_VENUE = "beta"


@pytest.fixture
def venues():  # fresh venues: the checks compare the run with everything its venues ever saw
    with VenueProcess(("alpha", f"{OKX_VENUE}:okx", "gamma"), seed=5) as process:
        process.start(timeout_s=60)
        yield process.venues


def test_a_run_across_binance_and_okx_dialects_trades_and_every_number_agrees_with_the_venues(venues, tmp_path):
    dialects = {e.name: e.dialect for e in venues}
    assert dialects == {"alpha": "binance", OKX_VENUE: "okx", "gamma": "binance"}
    assert venue_entry(next(e for e in venues if e.name == OKX_VENUE))["exchange"] == "okx"
    before = {e.name: account_balances(e.url) for e in venues}
    job = make_job(venues, tmp_path, duration_s=20)
    assert job.run() == 0
    after = {e.name: account_balances(e.url) for e in venues}
    run = load_run_report(job.run_dir)
    report = run.report

    # fills happened, on the OKX venue as well
    assert report["fills"]["count"] > 0 and report["opportunities_taken"] > 0, report
    assert any(f["exchange"] == OKX_VENUE for f in run.fills), "nothing filled on the OKX-dialect venue"
    assert any(f["exchange"] != OKX_VENUE for f in run.fills)

    # the position tracker equals the change in the venues' balances, exactly, on both dialects
    assert_positions_are_the_balance_changes(report["positions"], before, after)
    assert report["balance_check"]["checked"] and report["balance_check"]["differences"] == {}

    # the journal and the venues' order and trade lists agree
    venue_orders = {e.name: account_orders(e.url) for e in venues}
    venue_trades = {e.name: account_trades(e.url) for e in venues}
    journal_ids = {row["client_order_id"]: row for row in run.orders}
    assert len(journal_ids) == len(run.orders)  # each order journaled once
    for name, orders in venue_orders.items():
        counts = Counter(o["clientOrderId"] for o in orders)
        assert all(n == 1 for n in counts.values()), f"a client order id was placed twice at {name}"
        for order in orders:  # every order a venue knows is in the journal, with the venue's id and fill
            row = journal_ids[order["clientOrderId"]]
            assert row["exchange"] == name and row["exchange_order_id"] == str(order["orderId"])
            assert row["filled"] == Decimal(order["executedQty"])
    all_ids = [o["clientOrderId"] for orders in venue_orders.values() for o in orders]
    assert len(all_ids) == len(set(all_ids)), "a client order id was used at two venues"
    assert venue_orders[OKX_VENUE], "no order reached the OKX-dialect venue"
    for row in run.orders:  # every journaled order is terminal
        assert row["status"] in {"filled", "expired", "canceled", "rejected", "denied"}, row
    reported_fills = {(f["exchange"], f["trade_id"]) for f in run.fills}
    venue_fills = {(name, str(t["id"])) for name, trades in venue_trades.items() for t in trades}
    assert reported_fills == venue_fills
    assert len(run.fills) == len(reported_fills)  # no fill counted twice
    # fees as each venue charged them: in the asset received, never negative
    for fill in run.fills:
        base, quote = fill["symbol"].split("/")
        assert fill["fee"] >= 0 and fill["fee_asset"] == (base if fill["side"] == "buy" else quote), fill

    # opportunities crossed the dialects: one leg on the OKX venue, the other on a Binance-dialect one
    with Journal(job.run_dir / "journal.sqlite") as journal:
        legs = defaultdict(set)
        for order in journal.orders():
            if order.opportunity_id is not None:
                legs[order.opportunity_id].add(dialects[order.exchange])
    assert any(kinds == {"okx", "binance"} for kinds in legs.values()), dict(legs)
