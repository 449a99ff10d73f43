"""hedge_exposure: one IOC order per exposed symbol, on the venue whose book flattens it best; nothing for a flat
symbol, dust below the minimums, or a symbol no venue has a book for; a failed hedge is left for the next try."""
from __future__ import annotations

import asyncio
from decimal import Decimal as D

from execution.hedging import hedge_exposure
from execution.types import OrderBook, Side
from tests.execution.fakes import spot_rules

SYMBOL = "BTC/USDT"


class FakeIO:
    def __init__(self, books, fail=False):
        self.books = books
        self.fail = fail
        self.sent = []

    async def order_book(self, venue, symbol):
        if (venue, symbol) not in self.books:
            raise LookupError(f"no {symbol} book at {venue}")
        return self.books[(venue, symbol)]

    async def submit(self, venue, symbol, side, amount, price, time_in_force, client_order_id):
        self.sent.append((venue, symbol, side, amount, price, time_in_force.value, client_order_id))
        if self.fail:
            raise TimeoutError("no answer")


def book(venue, bid, ask):
    return OrderBook(venue, SYMBOL, ((D(bid), D("5")),), ((D(ask), D("5")),))


def rules():
    return {(venue, SYMBOL): spot_rules(venue) for venue in ("alpha", "beta")}


async def test_a_long_residual_is_sold_where_the_bid_is_best():
    io = FakeIO({("alpha", SYMBOL): book("alpha", "100.00", "100.10"),
                 ("beta", SYMBOL): book("beta", "100.05", "100.20")})
    ids = iter(["h1", "h2"])
    hedged = await hedge_exposure(io, {SYMBOL: D("0.5")}, rules(), ["alpha", "beta"], max_slippage_bps=D("50"),
                                  balances={"alpha": {"BTC": D("1")}, "beta": {"BTC": D("1")}},
                                  new_client_order_id=lambda: next(ids))
    assert hedged == ["h1"]
    ((venue, symbol, side, amount, _price, tif, cid),) = io.sent
    assert (venue, symbol, side, amount, tif, cid) == ("beta", SYMBOL, Side.SELL, D("0.5"), "IOC", "h1")


async def test_nothing_is_sent_for_flat_dust_or_bookless_symbols_and_a_failed_hedge_is_not_reported():
    io = FakeIO({("alpha", SYMBOL): book("alpha", "100.00", "100.10")}, fail=True)
    exposure = {SYMBOL: D("0"), "ETH/USDT": D("3")}
    assert await hedge_exposure(io, exposure, rules(), ["alpha", "beta"], max_slippage_bps=D("50"), balances={},
                                new_client_order_id=lambda: "h") == []
    assert io.sent == []  # flat BTC, and no venue has rules or a book for ETH
    assert await hedge_exposure(io, {SYMBOL: D("0.00001")}, rules(), ["alpha"], max_slippage_bps=D("50"),
                                balances={}, new_client_order_id=lambda: "h") == []
    assert io.sent == []  # below the minimum amount: dust
    assert await hedge_exposure(io, {SYMBOL: D("-0.2")}, rules(), ["alpha"], max_slippage_bps=D("50"),
                                balances={"alpha": {"USDT": D("1000")}}, new_client_order_id=lambda: "h") == []
    assert [(v, s) for v, _sym, s, *_ in io.sent] == [("alpha", Side.BUY)]  # sent, unanswered: not counted


class SilentVenueIO(FakeIO):
    """``alpha`` never answers a book request (its actor's host gone silent, its connection open)."""

    def __init__(self, books):
        super().__init__(books)
        self.asked = []

    async def order_book(self, venue, symbol):
        self.asked.append((venue, symbol))
        if venue == "alpha":
            await asyncio.Event().wait()
        return await super().order_book(venue, symbol)


async def test_a_venue_that_never_answers_holds_the_hedge_back_one_book_timeout_and_the_others_hedge():
    eth = "ETH/USDT"
    books = {("beta", SYMBOL): book("beta", "100.05", "100.20"),
             ("beta", eth): OrderBook("beta", eth, ((D("10.00"), D("50")),), ((D("10.01"), D("50")),))}
    all_rules = {**rules(), **{(venue, eth): spot_rules(venue, symbol=eth) for venue in ("alpha", "beta")}}
    io = SilentVenueIO(books)
    ids = iter(["h1", "h2"])
    hedged = await asyncio.wait_for(hedge_exposure(
        io, {SYMBOL: D("0.5"), eth: D("-2")}, all_rules, ["alpha", "beta"], max_slippage_bps=D("50"),
        balances={"beta": {"BTC": D("1"), "USDT": D("1000")}}, new_client_order_id=lambda: next(ids),
        book_timeout_s=0.05), timeout=10)
    assert hedged == ["h1", "h2"]
    assert [(venue, symbol, side) for venue, symbol, side, *_ in io.sent] == [("beta", SYMBOL, Side.SELL),
                                                                            ("beta", eth, Side.BUY)]
    assert set(io.asked) == {(v, s) for v in ("alpha", "beta") for s in (SYMBOL, eth)}
