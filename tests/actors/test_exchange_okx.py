"""The exchange actor's class, in-process, on an OKX-dialect venue through real ccxt ``okx``: OKX answers an order
with ids only, so the actor's placing path looks the IOC order up by client order id, with its trades, and returns it
settled -- filled, canceled with what filled, fees as OKX charged them -- or, when that lookup fails, an unknown
outcome (never a resend). Paper trading an OKX venue sends nothing signed: no keys, public data only.
"""
from __future__ import annotations

import asyncio
import time
from collections import Counter
from decimal import Decimal as D
from typing import Any

import aiohttp
import pytest

from actors.credentials import seal
from actors.exchange import ExchangeConnection, VenueSpec
from execution.api.orders import fills_from_ccxt_trades
from execution.api.venue import make_exchange
from execution.error_handler import AmbiguousOrderError, ErrorClass, error_class
from execution.messages import SubmitOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce
from orchestration.config import Credentials
from simulator.config import SimConfig
from simulator.launcher import start_local_venues, wall_clock_ms
from tests.integration.runs import ACCOUNT

SYMBOL = "BTC/USDT"
S = OrderStatus


async def sim_get(url: str, path: str) -> Any:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{url}{path}") as response:
            return await response.json()


async def until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def count_requests(venue: Any) -> Counter:
    """Every REST request the venue serves, as (method, path, signed): signed = it carries any OK-ACCESS header."""
    seen: Counter = Counter()
    serve = venue.server.serve_rest

    async def counting(request, action, received_at):
        signed = any(name.upper().startswith("OK-ACCESS-") for name in request.headers)
        seen[(request.method, request.path, signed)] += 1
        return await serve(request, action, received_at)

    venue.server.serve_rest = counting
    return seen


@pytest.fixture
async def okx():
    async with start_local_venues(SimConfig.default(("beta:okx",), seed=3), run_market=False) as sim:
        sim.market.step(wall_clock_ms())  # quote once; from then on only our orders change the book
        yield sim["beta"]


@pytest.fixture
async def connection(okx):
    spec = VenueSpec(name="beta", exchange_id="okx", url=okx.url, paper=False, simulator=True)
    connection = ExchangeConnection(spec, [SYMBOL], balance_refresh_s=3600)
    public_key = await connection.credentials_wanted(0.1)
    await connection.provide_credentials(seal(public_key, Credentials(okx.api_key, okx.secret, okx.passphrase)))
    await connection.start()
    await until(lambda: connection.balances_cache and SYMBOL in connection._books)
    try:
        yield connection, okx
    finally:
        await connection.stop()


def order(side: Side, book, cid: str, *, away: str = "0.01", amount: str = "0.0100") -> SubmitOrder:
    """An IOC limit order ``away`` through the touch (negative: passive, it cannot fill)."""
    factor = D(1) + D(away) if side is Side.BUY else D(1) - D(away)
    reference = book.best_ask if side is Side.BUY else book.best_bid
    return SubmitOrder(client_order_id=cid, exchange="beta", symbol=SYMBOL, side=side, order_type=OrderType.LIMIT,
                       amount=D(amount), price=(reference * factor).quantize(D("0.1")), time_in_force=TimeInForce.IOC)


async def test_an_ioc_acknowledged_with_ids_only_comes_back_settled_with_its_fills_and_okx_fees(connection):
    connection, okx = connection
    for index, side in enumerate((Side.BUY, Side.SELL)):
        cid = f"rxOkxFill{index}"
        outcome = await connection.submit_order(order(side, await connection.latest_book(SYMBOL), cid))
        snapshot = outcome.snapshot
        assert snapshot.status is S.FILLED and snapshot.filled == D("0.0100")
        assert snapshot.exchange_order_id and snapshot.client_order_id == cid
        assert sum(f.amount for f in snapshot.fills) == snapshot.filled
        assert len({f.trade_id for f in snapshot.fills}) == len(snapshot.fills)
        # fees as OKX charged them: positive costs in the asset received (BTC on a buy, USDT on a sell)
        received = "BTC" if side is Side.BUY else "USDT"
        assert all(f.fee > 0 and f.fee_asset == received for f in snapshot.fills)
        [venue_order] = [o for o in await sim_get(okx.url, "/_sim/orders") if o["clientOrderId"] == cid]
        assert str(venue_order["orderId"]) == snapshot.exchange_order_id
        assert D(venue_order["executedQty"]) == snapshot.filled
    # the cached balances moved by those fills are the venue's, exactly
    free = {a: D(v["free"]) for a, v in (await sim_get(okx.url, "/_sim/balances"))[ACCOUNT].items()}
    assert {a: connection.balances_cache[a][0] for a in ("BTC", "USDT")} == {a: free[a] for a in ("BTC", "USDT")}


def trades_requests(seen: Counter) -> int:
    return sum(n for (method, path, _), n in seen.items() if method == "GET" and "fills" in path)


async def test_an_ioc_filled_in_one_trade_is_settled_from_the_order_alone_with_the_fill_its_trades_give(connection):
    """The order's lookup names its last fill; when that fill is all that filled, the trades are not fetched, and the
    fill recorded is the one ``fetch_order_trades`` returns for it (same trade id, amount, price, fee)."""
    connection, okx = connection
    seen = count_requests(okx)
    outcome = await connection.submit_order(order(Side.BUY, await connection.latest_book(SYMBOL), "rxOkxOne1"))
    snapshot = outcome.snapshot
    assert snapshot.status is S.FILLED and len(snapshot.fills) == 1
    assert trades_requests(seen) == 0
    trades = await connection._rest.fetch_order_trades(snapshot.exchange_order_id, SYMBOL)
    assert snapshot.fills == fills_from_ccxt_trades("beta", trades, client_order_id="rxOkxOne1", side=Side.BUY,
                                                    symbol=SYMBOL, exchange_order_id=snapshot.exchange_order_id)


async def test_an_ioc_filled_in_several_trades_is_settled_with_every_trade_fetched(connection):
    connection, okx = connection
    seen = count_requests(okx)
    book = await connection.latest_book(SYMBOL)
    first_level = book.asks[0][1]
    outcome = await connection.submit_order(order(Side.BUY, book, "rxOkxMany1", amount=str(
        (D(str(first_level)) * 3).quantize(D("0.0001")))))
    snapshot = outcome.snapshot
    assert snapshot.status is S.FILLED and len(snapshot.fills) > 1
    assert trades_requests(seen) == 1
    assert sum(f.amount for f in snapshot.fills) == snapshot.filled
    assert len({f.trade_id for f in snapshot.fills}) == len(snapshot.fills)


async def test_an_ioc_that_cannot_fill_comes_back_canceled_with_nothing_filled(connection):
    connection, okx = connection
    outcome = await connection.submit_order(order(Side.BUY, await connection.latest_book(SYMBOL), "rxOkxMiss1",
                                                  away="-0.05"))
    assert outcome.snapshot.status is S.CANCELED and outcome.snapshot.filled == 0 and outcome.snapshot.fills == ()


async def test_a_partly_filled_ioc_comes_back_canceled_with_what_filled(connection):
    connection, okx = connection
    await okx.set_faults({"partial_fills_only": True})
    outcome = await connection.submit_order(order(Side.BUY, await connection.latest_book(SYMBOL), "rxOkxPart1"))
    snapshot = outcome.snapshot
    assert snapshot.status is S.CANCELED and 0 < snapshot.filled < snapshot.amount
    assert sum(f.amount for f in snapshot.fills) == snapshot.filled
    [venue_order] = [o for o in await sim_get(okx.url, "/_sim/orders") if o["clientOrderId"] == "rxOkxPart1"]
    assert D(venue_order["executedQty"]) == snapshot.filled


async def test_a_lookup_that_fails_after_the_acknowledgement_is_an_unknown_outcome_found_later_never_resent(
        connection):
    connection, okx = connection
    seen = count_requests(okx)
    fetch_order = connection._rest.fetch_order

    async def venue_fails_first(*args, **kwargs):  # the venue answers every request with a 5xx from now on
        await okx.set_faults({"error_share": 1.0})
        return await fetch_order(*args, **kwargs)

    connection._rest.fetch_order = venue_fails_first
    with pytest.raises(AmbiguousOrderError) as info:
        await connection.submit_order(order(Side.BUY, await connection.latest_book(SYMBOL), "rxOkxLost1"))
    assert error_class(info.value) is ErrorClass.UNKNOWN_OUTCOME and info.value.client_order_id == "rxOkxLost1"
    connection._rest.fetch_order = fetch_order
    await okx.set_faults({"error_share": 0.0})
    found = await connection.lookup_order(SYMBOL, "rxOkxLost1")  # what the order manager does next
    assert found is not None and found.status is S.FILLED and sum(f.amount for f in found.fills) == found.filled
    # the order was sent once
    posts = sum(n for (method, path, _), n in seen.items()
                if method == "POST" and path in ("/api/v5/trade/order", "/api/v5/trade/batch-orders"))
    assert posts == 1
    assert [o["clientOrderId"] for o in await sim_get(okx.url, "/_sim/orders")].count("rxOkxLost1") == 1


async def test_paper_trading_an_okx_venue_sends_nothing_signed(okx):
    seen = count_requests(okx)
    spec = VenueSpec(name="beta", exchange_id="okx", url=okx.url, paper=True, simulator=True)
    connection = ExchangeConnection(spec, [SYMBOL], paper_balances={"BTC": D(1), "USDT": D(100_000)},
                                    balance_refresh_s=0.05)
    assert await connection.credentials_wanted(0.01) is None  # paper: asks for no keys
    await connection.start()
    try:
        await until(lambda: SYMBOL in connection._books)
        outcome = await connection.submit_order(order(Side.BUY, await connection.latest_book(SYMBOL), "rxPaper1"))
        assert outcome.snapshot.status is S.FILLED  # filled locally
        await asyncio.sleep(0.3)  # several balance refreshes
    finally:
        await connection.stop()
    assert seen and all(not signed for (_, _, signed) in seen), seen
    assert not any(path.startswith(("/api/v5/trade", "/api/v5/account", "/api/v5/asset")) for (_, path, _) in seen)
    assert ("GET", "/api/v5/public/instruments", False) in seen
    assert await sim_get(okx.url, "/_sim/orders") == []


async def test_ccxt_okx_without_keys_loads_markets_without_a_signed_request(okx):
    """ccxt's okx ``load_markets`` sends the signed ``asset/currencies`` when it holds keys; a paper client holds none
    and sends only ``public/instruments`` (checked at the venue), and on the real OKX too (checked at the client: no
    request to ``asset/currencies`` is even built)."""
    seen = count_requests(okx)
    local = make_exchange("okx", url=okx.url)
    try:
        await local.load_markets()
    finally:
        await local.close()
    assert dict(seen) == {("GET", "/api/v5/public/instruments", False): 1}
    real = make_exchange("okx")  # the real OKX, no keys: what a paper run builds
    asked: list[str] = []
    real.fetch = lambda url, *args, **kwargs: asked.append(url) or asyncio.sleep(0, {"code": "0", "data": []})
    try:
        assert await real.fetch_currencies() == {}
    finally:
        await real.close()
    assert asked == []


async def test_the_okx_accounts_own_fee_rates_reach_the_market_rules(connection):
    """ccxt's okx asks fees one symbol at a time (``fetch_trading_fee``, OKX's negative rates negated): the actor
    asks for each of its symbols, so sizing and profit use the account's rates, not ccxt's market defaults."""
    connection, okx = connection
    rules = (await connection.market_rules())[SYMBOL]
    own = (D(okx.engine.maker_fee), D(okx.engine.taker_fee))
    assert (rules.maker_fee, rules.taker_fee) == own
    default = connection._rest.markets[SYMBOL]
    assert (D(str(default["maker"])), D(str(default["taker"]))) != own  # the test tells the account's from the defaults


async def test_a_resting_order_comes_back_open_and_its_cancel_answered_with_ids_only_comes_back_canceled(connection):
    connection, okx = connection
    book = await connection.latest_book(SYMBOL)
    resting = SubmitOrder(client_order_id="rxOkxRest1", exchange="beta", symbol=SYMBOL, side=Side.BUY,
                          order_type=OrderType.LIMIT, amount=D("0.0100"),
                          price=(book.best_bid * D("0.95")).quantize(D("0.1")), time_in_force=TimeInForce.GTC)
    outcome = await connection.submit_order(resting)
    assert outcome.snapshot.status is S.ACCEPTED and outcome.snapshot.filled == 0
    assert outcome.snapshot.exchange_order_id
    canceled = await connection.cancel_order(SYMBOL, "rxOkxRest1")
    assert canceled.status is S.CANCELED and canceled.filled == 0 and canceled.client_order_id == "rxOkxRest1"
    [venue_order] = [o for o in await sim_get(okx.url, "/_sim/orders") if o["clientOrderId"] == "rxOkxRest1"]
    assert venue_order["status"] == "CANCELED"


async def test_a_timestamp_refused_by_okx_makes_the_actor_read_its_clock_again(connection):
    """50102 (the venue's clock 120 s ahead): refused, not placed; the actor reads the venue's time again and the
    next order, stamped in it, fills."""
    from execution.error_handler import TimestampOutsideWindow
    connection, okx = connection
    await okx.set_faults({"clock_skew_ms": 120_000})
    book = await connection.latest_book(SYMBOL)
    with pytest.raises(TimestampOutsideWindow):
        await connection.submit_order(order(Side.BUY, book, "rxOkxSkew1"))
    await until(lambda: abs(connection._rest.options["timeDifference"] + 120_000) < 1_000)
    assert (await connection.submit_order(order(Side.BUY, book, "rxOkxSkew2"))).snapshot.status is S.FILLED
    assert [o["clientOrderId"] for o in await sim_get(okx.url, "/_sim/orders")] == ["rxOkxSkew2"]
