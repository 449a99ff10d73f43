"""A balance that moves without a fill (the simulator's ``/_sim/balance_adjust``) is detected: the position tracker's
check against the venue names the venue, the asset and the amount (the line the position tracker actor logs as a
warning, sets as ``rayarb_balance_unexplained`` and writes in the run report); the fills, and so the positions,
are left as they are."""
from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from execution.position_tracker import PositionTracker
from orchestration.report.tables import _balance_check
from tests.badinput.cases import Case
from tests.badinput.conftest import ACCOUNT, orders_everywhere, sim_post
from tests.badinput.test_api import World

AREA = "A balance that moves without a fill (`POST /_sim/balance_adjust`)"

# data: (venue, asset, delta)
CASES = [
    Case("binance_usdt_withdrawn", "alpha (Binance): 1.5 USDT leaves the account, no fill",
         "alpha USDT: the venue holds 1.5 less than rayarb's fills explain (a balance moved without a fill: a deposit, "
         "a withdrawal, a correction or a fill rayarb never saw)", ("alpha", "USDT", "-1.5")),
    Case("okx_btc_deposited", "beta (OKX): 0.25 BTC arrives, no fill",
         "beta BTC: the venue holds 0.25 more than rayarb's fills explain (a balance moved without a fill: a deposit, "
         "a withdrawal, a correction or a fill rayarb never saw)", ("beta", "BTC", "0.25")),
]


async def totals(exchange) -> dict[str, D]:
    balance = await asyncio.wait_for(exchange.fetch_balance(), 10)
    return {asset: D(str(amount)) for asset, amount in balance["total"].items() if amount is not None}


def test_the_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)


async def test_a_balance_moving_without_a_fill_is_named_and_not_applied(venues, tmp_path):
    async with World(venues, tmp_path / "journal.sqlite") as world:
        clients = {"alpha": world.alpha, "beta": world.beta}
        start = {name: await totals(client) for name, client in clients.items()}
        tracker = PositionTracker(start)
        assert tracker.balance_differences(start) == {}
        for case in CASES:
            venue, asset, delta = case.data
            await sim_post(venues[venue].url, "/_sim/balance_adjust", {"account": ACCOUNT, "asset": asset,
                                                                       "delta": delta})
        now = {name: await totals(client) for name, client in clients.items()}
        differences = tracker.balance_differences(now)
    assert differences == {(c.data[0], c.data[1]): D(c.data[2]) for c in CASES}
    for case in CASES:
        venue, asset, delta = case.data
        assert PositionTracker.describe_difference(venue, asset, differences[(venue, asset)]) == case.expected()
    assert tracker.balance_changes() == {}  # nothing applied to positions
    assert await orders_everywhere(venues) == {"alpha": [], "beta": []}


def test_the_run_report_names_each_difference():
    check = {"checked": True, "differences": {"alpha:USDT": "-1.5", "beta:BTC": "0.25"}}
    assert _balance_check(check) == ("DIFFER: alpha USDT -1.5 (moved without a fill); beta BTC 0.25 (moved without a "
                                     "fill)")
    assert _balance_check({"checked": True, "differences": {}}) == "agree exactly"
    assert _balance_check(None) == "not checked"


def test_the_difference_is_a_metric_per_exchange_and_asset():
    from prometheus_client import CollectorRegistry

    from metrics.definitions import RayarbMetrics

    registry = CollectorRegistry()
    metrics = RayarbMetrics(registry)
    metrics.init_labels(["alpha", "beta"], ["BTC/USDT"])
    metrics.set_balance_unexplained("alpha", "USDT", D("-1.5"))
    metrics.set_balance_unexplained("beta", "BTC", D("0.25"))
    value = registry.get_sample_value
    assert value("rayarb_balance_unexplained", {"exchange": "alpha", "asset": "USDT"}) == -1.5
    assert value("rayarb_balance_unexplained", {"exchange": "beta", "asset": "BTC"}) == 0.25
