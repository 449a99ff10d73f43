"""execute_arbitrage through real ccxt and real sockets against two in-process simulator venues.

The market does not run (``run_market=False``): the venues' market makers quote once and the books then change only
through our orders, so the crossing is stable. beta's market maker quotes 100 bps above alpha's, a crossing far
beyond both taker fees. The symbol's tick is 1 USDT so that every commission (0.1% of a quote amount with 5 decimals)
is exact at the venue's 8 decimals: the profit the maths predicts must then be captured to the last unit.
"""
import asyncio
import dataclasses
import time
from decimal import Decimal as D

import aiohttp
import pytest

from execution.api.binance_api import CcxtArbitrageIO, initialize_binance_api
from execution.api.other_exchange_api import close_exchange, fetch_order_book
from execution.api.precision import rules_from_market
from execution.arbitrage_executor import Outcome, execute_opportunity, size_arbitrage
from execution.position_tracker import PositionTracker
from execution.types import OrderStatus, Side
from simulator.config import MarketConfig, SimConfig, SymbolSpec, VenueConfig, default_account
from simulator.launcher import start_local_venues, wall_clock_ms

SYMBOL = "BTC/USDT"
SEED = 7
FEE = D("0.001")
MAX_AMOUNT = D("0.5")


def config():
    venues = [
        VenueConfig(name, maker_fee=FEE, taker_fee=FEE, price_offset_bps=D(offset), lag_ms=0, noise_bps=D(0),
                    accounts=[default_account(name, SEED)])
        for name, offset in (("alpha", "0"), ("beta", "100"))
    ]
    symbol = SymbolSpec(symbol="BTCUSDT", base="BTC", quote="USDT", tick_size=D("1"), step_size=D("0.00001"),
                        min_qty=D("0.00001"), min_price=D("1"), fair_price=D("60000"))
    return SimConfig(venues=venues, symbols=[symbol], market=MarketConfig(crossing_rate=0.0, volatility_bps=D(0)),
                     seed=SEED)


class Session:
    """Both venues, connected through ccxt, with rules, books and balances read from the venues."""

    def __init__(self, sim):
        self.sim = sim
        self.exchanges = {}

    async def connect(self):
        for venue in self.sim:
            self.exchanges[venue.name] = await initialize_binance_api(venue.api_key, venue.secret, url=venue.url,
                                                                      timeout_s=5)
        # ccxt's market carries Binance's default fee, not the venue's: take the venue's configured taker fee.
        self.rules = {
            name: dataclasses.replace(rules_from_market(name, exchange.market(SYMBOL)),
                                      taker_fee=self.sim.config.venue(name).taker_fee)
            for name, exchange in self.exchanges.items()
        }
        self.io = CcxtArbitrageIO(self.exchanges, timeout_s=5)
        return self

    async def close(self):
        for exchange in self.exchanges.values():
            await close_exchange(exchange)

    async def books(self):
        return {name: await fetch_order_book(exchange, SYMBOL, venue=name) for name, exchange in self.exchanges.items()}

    async def balances(self):
        result = {}
        for name, exchange in self.exchanges.items():
            balance = await asyncio.wait_for(exchange.fetch_balance(), 5)
            result[name] = {asset: D(str(balance[asset]["total"])) for asset in ("BTC", "USDT")}
        return result

    async def opportunity(self):
        books = await self.books()
        balances = await self.balances()
        opportunity = size_arbitrage(books["alpha"], books["beta"], self.rules["alpha"], self.rules["beta"],
                                     quote_free=balances["alpha"]["USDT"], base_free=balances["beta"]["BTC"],
                                     max_amount=MAX_AMOUNT)
        assert opportunity is not None, "the configured 100 bps offset must cross"
        return opportunity, balances

    async def sim_orders(self, venue, **filters):
        url = f"{self.sim[venue].url}/_sim/orders"
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(url, params=filters) as response:
                assert response.status == 200
                return await response.json()


@pytest.fixture
async def session():
    async with start_local_venues(config(), run_market=False) as sim:
        sim.market.step(wall_clock_ms())  # one quote from each market maker; nothing moves after this
        for venue in sim:
            venue.server.publish_depth()
        connected = await Session(sim).connect()
        try:
            yield connected
        finally:
            await connected.close()


def changes(before, after):
    return {venue: {asset: after[venue][asset] - before[venue][asset] for asset in after[venue]} for venue in after}


async def test_a_real_crossing_is_captured_with_the_predicted_profit(session):
    opportunity, before = await session.opportunity()
    started = time.perf_counter()
    result = await execute_opportunity(opportunity, io=session.io, rules=session.rules, leg_timeout_s=5)
    elapsed = time.perf_counter() - started
    after = await session.balances()

    assert result.outcome is Outcome.BOTH_FILLED, result
    assert result.exact
    assert result.realised_profit == opportunity.expected_profit
    assert result.realised_profit.quantize(D("1e-8")) == opportunity.expected_profit.quantize(D("1e-8"))
    amount = opportunity.amount
    assert changes(before, after) == {
        "alpha": {"BTC": amount - amount * FEE, "USDT": -opportunity.buy_notional},
        "beta": {"BTC": -amount, "USDT": opportunity.sell_notional * (1 - FEE)},
    }
    quote_change = sum(venue["USDT"] for venue in changes(before, after).values())
    assert quote_change == opportunity.expected_quote_delta
    # Positions rebuilt from the fills equal the venues' balances exactly (invariant 3).
    tracker = PositionTracker(before)
    tracker.apply_all(result.buy.snapshot.fills + result.sell.snapshot.fills)
    assert tracker.balance_differences(after) == {}
    assert elapsed < 2.0


async def test_a_rejected_sell_leg_is_detected_as_one_legged_and_unwound(session):
    opportunity, before = await session.opportunity()
    await session.sim["beta"].set_faults({"reject_next_orders": 1})
    result = await execute_opportunity(opportunity, io=session.io, rules=session.rules, leg_timeout_s=5,
                                       balances=before)
    after = await session.balances()

    assert result.outcome is Outcome.ONE_LEGGED
    assert result.sell.snapshot.status is OrderStatus.REJECTED
    assert result.buy.snapshot.status is OrderStatus.FILLED
    assert result.residual == opportunity.amount
    plan = result.unwind_plan
    assert plan.side is Side.SELL and plan.venue == "beta"  # beta's bids pay 100 bps more than alpha's
    assert result.unwind.snapshot.status is OrderStatus.FILLED
    assert result.unwind.snapshot.filled == plan.amount
    assert result.residual_after_unwind == 0
    # Flat across venues but for the carried buy fee.
    btc_change = sum(venue["BTC"] for venue in changes(before, after).values())
    assert btc_change == -opportunity.amount * FEE == -result.base_fees
    # The refused order never existed at beta; the unwind did, once.
    assert await session.sim_orders("beta", clientOrderId=result.sell.intent.client_order_id) == []
    unwinds = await session.sim_orders("beta", clientOrderId=result.unwind.intent.client_order_id)
    assert len(unwinds) == 1


async def test_an_accepted_order_whose_answer_is_dropped_is_found_and_never_placed_twice(session):
    opportunity, before = await session.opportunity()
    await session.sim["alpha"].set_faults({"accept_then_drop_next": 1})
    result = await execute_opportunity(opportunity, io=session.io, rules=session.rules, leg_timeout_s=5,
                                       lookup_interval_s=0.05)
    after = await session.balances()

    assert result.buy.resolved_by_lookup and "AmbiguousOrderError" in result.buy.error
    assert result.outcome is Outcome.BOTH_FILLED
    assert result.realised_profit == opportunity.expected_profit
    placed = await session.sim_orders("alpha", clientOrderId=result.buy.intent.client_order_id)
    assert len(placed) == 1 and placed[0]["status"] == "FILLED"
    assert len(await session.sim_orders("alpha")) == 1
    # The fills came from the lookup (GET /order + myTrades) and agree with the venue's balances.
    tracker = PositionTracker(before)
    tracker.apply_all(result.buy.snapshot.fills + result.sell.snapshot.fills)
    assert tracker.balance_differences(after) == {}


@pytest.mark.parametrize("lie, field", [("side", "side"), ("fills", "fill"), ("client_order_id", "client_order_id")])
async def test_a_lying_answer_is_not_believed_and_the_leg_is_settled_by_lookup(session, lie, field):
    opportunity, before = await session.opportunity()
    await session.sim["alpha"].set_faults({"lie_next_orders": 1, "lie": lie})
    result = await execute_opportunity(opportunity, io=session.io, rules=session.rules, leg_timeout_s=5,
                                       lookup_interval_s=0.05)
    after = await session.balances()

    assert session.io.reply_mismatches == {field: 1}
    assert result.buy.resolved_by_lookup and "untrusted answer" in result.buy.error
    assert result.outcome is Outcome.BOTH_FILLED
    assert result.realised_profit == opportunity.expected_profit
    placed = await session.sim_orders("alpha", clientOrderId=result.buy.intent.client_order_id)
    assert len(placed) == 1  # looked up, never sent again
    tracker = PositionTracker(before)
    tracker.apply_all(result.buy.snapshot.fills + result.sell.snapshot.fills)
    assert tracker.balance_differences(after) == {}
