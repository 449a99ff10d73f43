"""End to end on a local Ray against simulator venues: `rayarb run` trades, and its report, its positions and its
journal agree exactly with what the venues recorded."""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from decimal import Decimal

import pytest

from actors.hot_path import CPU_LATENCY_DEVICE, may_use_realtime_priority
from execution.journal import Journal
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (
    account_balances,
    account_orders,
    account_trades,
    assert_positions_are_the_balance_changes,
    make_job,
    run_until,
)

pytestmark = pytest.mark.ray

OKX_VENUE = "beta"  # speaks OKX's dialect; alpha and gamma speak Binance's


@pytest.fixture
def venues():  # fresh venues per run: the checks below compare a run with everything its venues ever saw
    with VenueProcess(("alpha", f"{OKX_VENUE}:okx", "gamma"), seed=5) as process:  # both dialects in one run
        process.start(timeout_s=60)
        yield process.venues


@pytest.mark.parametrize("channels, profile", [
    ("auto", "latency"),
    pytest.param("off", "standard", marks=pytest.mark.slow),  # make test: Ray calls in tests/actors/test_channel.py
])
def test_a_short_run_trades_and_every_number_agrees_with_the_venues(venues, tmp_path, channels, profile):
    """The same invariants whichever transport carries the hot path: direct channels (the default) or Ray calls,
    and whichever profile the run has."""
    before = {e.name: account_balances(e.url) for e in venues}
    dialects = {e.name: e.dialect for e in venues}
    assert dialects == {"alpha": "binance", OKX_VENUE: "okx", "gamma": "binance"}
    job = make_job(venues, tmp_path, duration_s=None, run={"channels": channels, "profile": profile})
    urls = {e.name: e.url for e in venues}

    def both_dialects_filled() -> bool:  # a fill at the OKX venue is a leg of an opportunity crossing the dialects
        return all(any(account_trades(url) for name, url in urls.items() if (name == OKX_VENUE) == okx)
                   for okx in (True, False))

    assert run_until(job, "fills at the OKX-dialect venue and at a Binance-dialect one", both_dialects_filled) == 0
    after = {e.name: account_balances(e.url) for e in venues}
    run = load_run_report(job.run_dir)
    report = run.report

    hot_path = report["hot_path"]
    # the latency profile asks for real-time priority 10 and polling idle CPUs: granted where the process may (root
    # here), else said why; the standard profile asks for neither
    if profile == "standard":
        expected_policy = "normal, cpu wake not limited"
    else:
        if os.access(CPU_LATENCY_DEVICE, os.W_OK):
            wake = "cpu wake <= 0 us"
        else:
            wake = "cpu wake not limited (" + ("not permitted" if os.path.exists(CPU_LATENCY_DEVICE)
                                               else "no such file or directory") + ")"
        expected_policy = ", ".join(("realtime 10" if may_use_realtime_priority(10) else "normal (not permitted)",
                                     wake))
    assert set(hot_path.pop("scheduling").values()) == {expected_policy}, report["hot_path"]
    if channels == "off":
        assert hot_path == {"transport": "ray", "direct_calls": 0, "calls_through_ray": 0}
    else:  # books, opportunities, legs and fills went over the channels, none fell back to Ray
        assert hot_path["transport"] == "channels"
        assert hot_path["direct_calls"] > report["orders"]["count"] and hot_path["calls_through_ray"] == 0, hot_path

    # fills happened, on both dialects
    assert report["fills"]["count"] > 0, report
    assert report["opportunities_taken"] > 0
    assert any(f["exchange"] == OKX_VENUE for f in run.fills), "nothing filled on the OKX-dialect venue"
    assert any(f["exchange"] != OKX_VENUE for f in run.fills)

    # the position tracker equals the change in the venues' balances, exactly
    assert_positions_are_the_balance_changes(report["positions"], before, after)
    assert report["balance_check"]["checked"] and report["balance_check"]["differences"] == {}

    # the report's orders and fills agree with the venues' order and trade lists
    venue_orders = {e.name: account_orders(e.url) for e in venues}
    venue_trades = {e.name: account_trades(e.url) for e in venues}
    journal_ids = {row["client_order_id"]: row for row in run.orders}
    for name, orders in venue_orders.items():
        counts = Counter(o["clientOrderId"] for o in orders)
        assert all(n == 1 for n in counts.values()), f"a client order id was placed twice at {name}"
        for order in orders:  # every order a venue knows is in the journal, with the venue's id and fill
            row = journal_ids[order["clientOrderId"]]
            assert row["exchange"] == name and row["exchange_order_id"] == str(order["orderId"])
            assert row["filled"] == Decimal(order["executedQty"])
    all_ids = [o["clientOrderId"] for orders in venue_orders.values() for o in orders]
    assert len(all_ids) == len(set(all_ids)), "a client order id was used at two venues"
    for row in run.orders:  # every journaled order is terminal
        assert row["status"] in {"filled", "expired", "canceled", "rejected", "denied"}, row
    reported_fills = {(f["exchange"], f["trade_id"]) for f in run.fills}
    venue_fills = {(name, str(t["id"])) for name, trades in venue_trades.items() for t in trades}
    assert reported_fills == venue_fills
    assert len(run.fills) == len(reported_fills)  # no fill counted twice
    for fill in run.fills:  # fees as each venue charged them: in the asset received, never negative
        base, quote = fill["symbol"].split("/")
        assert fill["fee"] >= 0 and fill["fee_asset"] == (base if fill["side"] == "buy" else quote), fill
    with Journal(job.run_dir / "journal.sqlite") as journal:  # opportunities crossed the dialects
        legs = defaultdict(set)
        for order in journal.orders():
            if order.opportunity_id is not None:
                legs[order.opportunity_id].add(dialects[order.exchange])
    assert any(kinds == {"okx", "binance"} for kinds in legs.values()), dict(legs)

    # latency was measured on every taken opportunity with two legs sent
    latency = report["latency"]["tick_to_order"]
    assert latency["count"] > 0 and latency["p50"] is not None
    stages = report["tick_to_order_stages"]
    assert list(stages) == ["detect", "handoff", "submit", "request"]
    assert all(stage["count"] == latency["count"] for stage in stages.values())
    # the stages split each opportunity's latency: book -> detected -> order manager -> placing -> request sent
    assert sum(stage["mean"] for stage in stages.values()) == pytest.approx(latency["mean"], abs=1e-4)
    assert stages["request"]["p50"] > 0  # ccxt's building and signing is in "sent", not after it
    # each sample's first leg, found at its venue, received there after the book that led to it
    first_legs = report["tick_to_order_first_legs"]
    assert len(first_legs) == latency["count"]
    received_us = {(name, o["clientOrderId"]): o["receivedTimeUs"] for name, orders in venue_orders.items()
                   for o in orders}
    for leg in first_legs:
        assert received_us[(leg["exchange"], leg["client_order_id"])] / 1e6 > leg["book_received_at"]
    # the slowest samples, stage by stage, are real samples: their stages add up to their latency
    slowest = report["tick_to_order_slowest"]
    assert 0 < len(slowest) <= 10 and slowest[0]["tick_to_order_s"] == latency["max"]
    for sample in slowest:
        assert sum(sample["stages_s"].values()) == pytest.approx(sample["tick_to_order_s"], abs=1e-6)
        assert (sample["exchange"], sample["client_order_id"]) in received_us
