"""``create_spot_order`` hands ccxt's ``privatePostOrder`` exactly the request ccxt's own ``create_order`` would, for
every order on the market's grid (so the signed body is the same bytes), and leaves everything else to ccxt."""
from __future__ import annotations

import asyncio
import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.api.binance_api import create_spot_order, spot_order_request
from execution.api.venue import make_exchange
from execution.types import OrderType, Side, TimeInForce

SYMBOLS = ("BTC/USDT", "ETH/USDT", "HALF/USDT")  # HALF: a copy of BTC/USDT with a 0.5 tick and a 0.25 step


class Captured(Exception):
    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request


@pytest.fixture(scope="module")
def markets(venue_process: Any) -> dict[str, Any]:
    client = make_exchange(url=venue_process.url, flavour="sync")
    loaded = copy.deepcopy(client.load_markets())
    half = copy.deepcopy(loaded["BTC/USDT"])
    half.update(symbol="HALF/USDT", id="HALFUSDT", base="HALF", baseId="HALF")
    half["precision"] = {**half["precision"], "price": 0.5, "amount": 0.25}
    loaded["HALF/USDT"] = half
    return loaded


def capturing_client(markets: dict[str, Any], **options: Any) -> Any:
    client = make_exchange(url="http://127.0.0.1:9", flavour="async", api_key="key", secret="secret", options=options)
    client.set_markets(list(markets.values()))

    async def private_post_order(request: dict[str, Any], *args: Any) -> Any:
        raise Captured(dict(request))

    client.privatePostOrder = private_post_order
    return client


def sent_by(call: Any) -> dict[str, Any]:
    try:
        asyncio.run(call)
    except Captured as captured:
        return captured.request
    raise AssertionError("nothing reached privatePostOrder")


def on_grid(multiple: int, increment: float, extra_zeros: int, normalized: bool) -> Decimal:
    step = Decimal(str(increment))
    value = multiple * step
    if normalized:
        return value.normalize()  # 6E+4 and the like
    return value.quantize(step.scaleb(-extra_zeros)) if step.as_tuple().exponent < 0 else value


ORDERS = st.tuples(
    st.sampled_from(SYMBOLS), st.sampled_from([OrderType.LIMIT, OrderType.MARKET]), st.sampled_from(list(Side)),
    st.integers(1, 10**7), st.integers(1, 10**8), st.integers(0, 3), st.booleans(),
    st.sampled_from(list(TimeInForce)), st.from_regex(r"[.A-Za-z0-9:/_-]{1,36}", fullmatch=True))


@settings(max_examples=400, deadline=None)
@given(ORDERS)
def test_the_request_is_the_one_ccxts_create_order_sends(markets: dict[str, Any], order: tuple) -> None:
    symbol, kind, side, lots, ticks, extra_zeros, normalized, tif, cid = order
    precision = markets[symbol]["precision"]
    amount = on_grid(lots, precision["amount"], extra_zeros, normalized)
    price = on_grid(ticks, precision["price"], extra_zeros, not normalized) if kind is OrderType.LIMIT else None
    client = capturing_client(markets)
    ours = spot_order_request(client, symbol, kind, side, amount, price, tif, cid)
    assert ours is not None
    ccxts = sent_by(client.create_order(symbol, kind.value, side.value, str(amount),
                                        None if price is None else str(price),
                                        {"clientOrderId": cid, "timeInForce": tif.value}))
    assert list(ours.items()) == list(ccxts.items())  # same keys, values and order: the same signed bytes
    assert sent_by(create_spot_order(client, symbol, kind, side, amount, price, tif, cid)) == ccxts


@pytest.mark.parametrize("case", ["off-step amount", "off-tick price", "priced market order", "unknown symbol",
                                  "portfolio margin", "limit without price"])
def test_anything_else_is_left_to_ccxt(markets: dict[str, Any], case: str) -> None:
    client = capturing_client(markets, portfolioMargin=case == "portfolio margin")
    amount, price, kind, symbol = Decimal("0.01"), Decimal("60000.00"), OrderType.LIMIT, "BTC/USDT"
    if case == "off-step amount":
        amount = Decimal("0.0100001")
    elif case == "off-tick price":
        price = Decimal("60000.001")
    elif case == "priced market order":
        kind = OrderType.MARKET
    elif case == "unknown symbol":
        symbol = "NOPE/USDT"
    elif case == "limit without price":
        price = None
    assert spot_order_request(client, symbol, kind, Side.BUY, amount, price, TimeInForce.IOC, "c-1") is None
    if case in ("off-step amount", "off-tick price", "priced market order"):  # ccxt builds it: and rounds, its way
        request = sent_by(create_spot_order(client, symbol, kind, Side.BUY, amount, price, TimeInForce.IOC, "c-1"))
        assert request["newClientOrderId"] == "c-1"


async def test_an_order_placed_through_it_is_ccxts_unified_order(client: Any, venue: Any) -> None:
    book = await client.fetch_order_book("BTC/USDT", 5)
    price = Decimal(str(book["asks"][0][0])) * Decimal("1.01")
    price = price.quantize(Decimal("0.01"))
    order = await create_spot_order(client, "BTC/USDT", OrderType.LIMIT, Side.BUY, Decimal("0.0100"), price,
                                    TimeInForce.IOC, "fast-1")
    looked_up = await client.fetch_order(None, "BTC/USDT", {"clientOrderId": "fast-1"})
    assert order["clientOrderId"] == "fast-1" and order["id"] == looked_up["id"]
    assert order["status"] == "closed" and order["filled"] == 0.01 and order["trades"]
    assert order["symbol"] == "BTC/USDT" and order["price"] > 0 and order["fee"] is not None
