"""Unmodified ccxt ``okx`` (async and sync) against an OKX-dialect venue over real sockets: what ccxt parses passes
ccxt's own structure validators, and every number agrees with the venue's own record (``/_sim/``) exactly.

The validators are the ones ccxt ships for its exchange tests (ccxt/test/exchange/base/test_*.py), called the way
ccxt's runner calls them, as for the Binance dialect (test_rest_ccxt.py).

OKX answers an order with ids only (``ordId``, ``clOrdId``, ``sCode``): ccxt's created order has no status, amount
or fills, so what an IOC order did is learnt from ``fetch_order``, ``fetch_closed_orders`` / ``fetch_canceled_orders``
and ``fetch_my_trades``, as a client of the real OKX must.
"""
from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from typing import Any

import pytest
from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_currency import test_currency as check_currency
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade
from ccxt.test.exchange.base.test_trading_fee import test_trading_fee as check_trading_fee

from simulator.launcher import VenueProcess

from .conftest import SEED, make_okx_exchange

SYMBOL = "BTC/USDT"
SKIP: dict[str, Any] = {}
# OKX's order answer carries ids only: ccxt leaves timestamp, amount, status... None (allowed empty by the validator).
SKIP_ACK: dict[str, Any] = {"timestamp": True, "datetime": True}


def d(value: Any) -> D:
    return D(str(value))


async def _book(ex: Any) -> tuple[D, D]:
    book = await ex.fetch_order_book(SYMBOL, 5)
    return d(book["bids"][0][0]), d(book["asks"][0][0])


async def _venue_order(http: Any, venue: Any, order_id: str) -> dict[str, Any]:
    orders = await http.get(venue.url, f"/_sim/orders?orderId={order_id}")
    assert len(orders) == 1, orders
    return orders[0]


async def test_market_data_passes_ccxt_validators(okx_client: Any, okx_venue: Any) -> None:
    ex = okx_client
    now = ex.milliseconds()
    assert set(ex.symbols) == {"BTC/USDT", "ETH/USDT"}
    for market in ex.markets.values():
        check_market(ex, SKIP, "loadMarkets", market)
        assert market["spot"] is True and market["active"] is True and market["id"] == market["symbol"].replace("/", "-")
    btc = ex.market(SYMBOL)
    spec = okx_venue.engine.books["BTCUSDT"].spec
    assert d(btc["precision"]["price"]) == spec.tick_size and d(btc["precision"]["amount"]) == spec.step_size
    assert d(btc["limits"]["amount"]["min"]) == spec.min_qty
    for code in ("BTC", "ETH", "USDT"):  # load_markets asked the signed asset/currencies (ccxt adds a bare USD)
        check_currency(ex, SKIP, "fetchCurrencies", ex.currencies[code])
        assert ex.currencies[code]["info"][0]["ccy"] == code

    book = await ex.fetch_order_book(SYMBOL)
    check_order_book(ex, SKIP, "fetchOrderBook", book, SYMBOL)
    assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
    small = await ex.fetch_order_book(SYMBOL, 5)
    assert 0 < len(small["bids"]) <= 5 and 0 < len(small["asks"]) <= 5
    ticker = await ex.fetch_ticker(SYMBOL)
    check_ticker(ex, SKIP, "fetchTicker", ticker, SYMBOL)
    assert ticker["bid"] < ticker["ask"]
    tickers = await ex.fetch_tickers()
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    for symbol, entry in tickers.items():
        check_ticker(ex, SKIP, "fetchTickers", entry, symbol)
    assert abs(await ex.fetch_time() - now) < 5_000

    fee = await ex.fetch_trading_fee(SYMBOL)
    check_trading_fee(ex, SKIP, "fetchTradingFee", SYMBOL, fee)
    assert d(fee["taker"]) == okx_venue.engine.taker_fee and d(fee["maker"]) == okx_venue.engine.maker_fee
    balance = await ex.fetch_balance()
    check_balance(ex, SKIP, "fetchBalance", balance)
    assert d(balance["BTC"]["free"]) == D(2) and d(balance["USDT"]["total"]) == D(100000)


async def test_ioc_filled_partly_filled_and_expired_as_the_real_okx_reports_them(
        okx_client: Any, okx_venue: Any, http: Any) -> None:
    ex = okx_client
    now = ex.milliseconds()
    bid, ask = await _book(ex)
    taker_fee = okx_venue.engine.taker_fee

    # filled: a buy through the best ask, smaller than the level
    filled_ack = await ex.create_order(SYMBOL, "limit", "buy", 0.002, float(ask * D("1.001")),
                                       {"timeInForce": "IOC", "clientOrderId": "okxIocFilled1"})
    check_order(ex, SKIP_ACK, "createOrder", filled_ack, SYMBOL, now)
    assert filled_ack["id"] and filled_ack["clientOrderId"] == "okxIocFilled1"
    assert filled_ack["status"] is None and filled_ack["filled"] is None and filled_ack["amount"] is None
    filled = await ex.fetch_order(filled_ack["id"], SYMBOL)
    check_order(ex, SKIP, "fetchOrder", filled, SYMBOL, now)
    assert (filled["status"], filled["type"], filled["timeInForce"]) == ("closed", "limit", "IOC")
    assert d(filled["filled"]) == d(filled["amount"]) == D("0.002")
    venue_view = await _venue_order(http, okx_venue, filled_ack["id"])
    assert venue_view["status"] == "FILLED" and D(venue_view["executedQty"]) == D("0.002")
    base_fee = sum((D(f["commission"]) for f in venue_view["fills"]), D(0))
    assert base_fee == sum(((D(f["qty"]) * taker_fee).quantize(D("0.00000001"), ROUND_HALF_UP)
                            for f in venue_view["fills"]), D(0)) > 0
    assert d(filled["fee"]["cost"]) == base_fee and filled["fee"]["currency"] == "BTC"
    assert d(filled["average"]) == D(venue_view["cummulativeQuoteQty"]) / D("0.002")
    by_client_id = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "okxIocFilled1"})
    assert by_client_id["id"] == filled_ack["id"] and by_client_id["status"] == "closed"
    order_trades = await ex.fetch_order_trades(filled_ack["id"], SYMBOL)  # fills-history?ordId=
    for trade in order_trades:
        check_trade(ex, SKIP, "fetchOrderTrades", trade, SYMBOL, now, False)
    assert {t["order"] for t in order_trades} == {filled_ack["id"]}
    assert sorted(int(t["id"]) for t in order_trades) == sorted(f["tradeId"] for f in venue_view["fills"])
    assert sum((d(t["amount"]) for t in order_trades), D(0)) == D("0.002")

    # expired: a buy below the best bid takes nothing and ends canceled with nothing filled
    expired_ack = await ex.create_order(SYMBOL, "limit", "buy", 0.001, float(bid * D("0.9")), {"timeInForce": "IOC"})
    assert expired_ack["clientOrderId"].startswith(ex.options["brokerId"])  # ccxt's own 32-character clOrdId
    expired = await ex.fetch_order(expired_ack["id"], SYMBOL)
    check_order(ex, SKIP, "fetchOrder", expired, SYMBOL, now)
    assert expired["status"] == "canceled" and d(expired["filled"]) == 0 and expired["average"] is None

    # partly filled: the venue fills half (fault), the rest is canceled: OKX's "canceled" with accFillSz > 0
    await okx_venue.set_faults({"partial_fills_only": True})
    partial_ack = await ex.create_order(SYMBOL, "limit", "sell", 0.004, float(bid * D("0.999")),
                                        {"timeInForce": "IOC", "clientOrderId": "okxIocPartial1"})
    await okx_venue.set_faults({"partial_fills_only": False})
    partial = await ex.fetch_order(partial_ack["id"], SYMBOL)
    check_order(ex, SKIP, "fetchOrder", partial, SYMBOL, now)
    assert partial["status"] == "canceled" and D(0) < d(partial["filled"]) < D("0.004")
    assert d(partial["filled"]) == D("0.002")
    assert partial["fee"]["currency"] == "USDT" and d(partial["fee"]["cost"]) > 0  # a seller pays in quote

    closed = await ex.fetch_closed_orders(SYMBOL)
    canceled = await ex.fetch_canceled_orders(SYMBOL)
    for order in closed + canceled:
        check_order(ex, SKIP, "fetchClosedOrders", order, SYMBOL, now)
    assert [o["id"] for o in closed] == [filled_ack["id"]]
    assert {o["id"] for o in canceled} == {expired_ack["id"], partial_ack["id"]}

    trades = await ex.fetch_my_trades(SYMBOL)
    for trade in trades:
        check_trade(ex, SKIP, "fetchMyTrades", trade, SYMBOL, now, False)
        assert trade["takerOrMaker"] == "taker"
    by_order: dict[str, D] = {}
    for trade in trades:
        by_order[trade["order"]] = by_order.get(trade["order"], D(0)) + d(trade["amount"])
    assert by_order == {filled_ack["id"]: D("0.002"), partial_ack["id"]: D("0.002")}
    venue_trades = {f["tradeId"] for o in (venue_view, await _venue_order(http, okx_venue, partial_ack["id"]))
                    for f in o["fills"]}
    assert {int(t["id"]) for t in trades} == venue_trades


async def test_resting_order_open_then_canceled_and_balances_move_exactly_by_the_fills(
        okx_client: Any, okx_venue: Any) -> None:
    ex = okx_client
    now = ex.milliseconds()
    before = await ex.fetch_balance()
    bid, ask = await _book(ex)
    low = float(ex.price_to_precision(SYMBOL, float(bid * D("0.9"))))
    resting_ack = await ex.create_order(SYMBOL, "limit", "buy", 0.01, low, {"clientOrderId": "okxRest1"})
    open_orders = await ex.fetch_open_orders(SYMBOL)
    for order in open_orders:
        check_order(ex, SKIP, "fetchOpenOrders", order, SYMBOL, now)
    assert [o["id"] for o in open_orders] == [resting_ack["id"]] and open_orders[0]["status"] == "open"
    locked = await ex.fetch_balance()
    assert d(locked["USDT"]["used"]) == D("0.01") * d(low)
    assert d(locked["USDT"]["free"]) + d(locked["USDT"]["used"]) == d(before["USDT"]["total"])

    canceled = await ex.cancel_order(resting_ack["id"], SYMBOL)
    check_order(ex, SKIP_ACK, "cancelOrder", canceled, SYMBOL, now)
    assert canceled["id"] == resting_ack["id"]
    assert (await ex.fetch_order(resting_ack["id"], SYMBOL))["status"] == "canceled"
    assert await ex.fetch_open_orders(SYMBOL) == []

    await ex.create_order(SYMBOL, "limit", "buy", 0.003, float(ask * D("1.002")), {"timeInForce": "IOC"})
    await ex.create_order(SYMBOL, "market", "sell", 0.001)
    trades = await ex.fetch_my_trades(SYMBOL)
    after = await ex.fetch_balance()
    bought = sum((d(t["amount"]) for t in trades if t["side"] == "buy"), D(0))
    sold = sum((d(t["amount"]) for t in trades if t["side"] == "sell"), D(0))
    btc_fees = sum((d(t["fee"]["cost"]) for t in trades if t["fee"]["currency"] == "BTC"), D(0))
    spent = sum((d(t["amount"]) * d(t["price"]) for t in trades if t["side"] == "buy"), D(0))
    received = sum((d(t["amount"]) * d(t["price"]) for t in trades if t["side"] == "sell"), D(0))
    usdt_fees = sum((d(t["fee"]["cost"]) for t in trades if t["fee"]["currency"] == "USDT"), D(0))
    assert bought == D("0.003") and sold == D("0.001")
    assert d(after["BTC"]["total"]) - d(before["BTC"]["total"]) == bought - sold - btc_fees
    assert d(after["USDT"]["total"]) - d(before["USDT"]["total"]) == received - spent - usdt_fees
    recent = await ex.private_get_trade_fills({})  # trade/fills: instType optional there
    assert recent["code"] == "0" and sorted(f["tradeId"] for f in recent["data"]) == sorted(t["id"] for t in trades)
    sim_balance = okx_venue.engine.sim_balances()["main"]
    assert D(sim_balance["BTC"]["free"]) == d(after["BTC"]["free"])


async def test_sim_controls_speak_the_simulators_own_vocabulary_on_okx(
        okx_client: Any, okx_venue: Any, http: Any) -> None:
    _, ask = await _book(okx_client)
    ack = await okx_client.create_order(SYMBOL, "limit", "buy", 0.001, float(ask * D("1.001")),
                                        {"timeInForce": "IOC", "clientOrderId": "okxSimView1"})
    orders = await http.get(okx_venue.url, "/_sim/orders?clientOrderId=okxSimView1")
    assert [str(o["orderId"]) for o in orders] == [ack["id"]] and orders[0]["symbol"] == "BTCUSDT"
    info = await http.get(okx_venue.url, "/_sim/info")
    assert info["dialect"] == "okx" and info["ws_url"] == okx_venue.ws_url
    for path in ("/_sim/orders", "/_sim/trades", "/_sim/balances", "/_sim/info", "/_sim/faults"):
        status, body, _ = await http.request("GET", okx_venue.url + path)
        assert status == 200 and okx_venue.secret not in str(body) and okx_venue.passphrase not in str(body)


@pytest.fixture(scope="module")
def okx_process() -> Any:
    process = VenueProcess(("alpha", "beta:okx"), seed=SEED)
    process.start(timeout_s=60)
    try:
        yield process
    finally:
        assert process.stop() == 0


def test_sync_client_on_a_subprocess_venue_announced_with_its_dialect_and_passphrase(okx_process: Any) -> None:
    alpha, beta = okx_process["alpha"], okx_process["beta"]
    assert (alpha.dialect, alpha.passphrase) == ("binance", "")
    assert beta.dialect == "okx" and beta.passphrase and beta.ws_url.endswith("/ws/v5")
    ex = make_okx_exchange(beta, "sync")
    ex.load_markets()
    now = ex.milliseconds()
    ask = ex.fetch_order_book(SYMBOL, 5)["asks"][0][0]
    ack = ex.create_order(SYMBOL, "limit", "buy", 0.001, ask * 1.01, {"timeInForce": "IOC"})  # above any jump
    order = ex.fetch_order(ack["id"], SYMBOL)
    check_order(ex, SKIP, "fetchOrder", order, SYMBOL, now)
    assert order["status"] == "closed" and d(order["filled"]) == D("0.001")


async def test_many_concurrent_iocs_each_learnt_from_lookups(okx_client: Any, http: Any, okx_venue: Any) -> None:
    _, ask = await _book(okx_client)
    ids = [f"okxConc{n}" for n in range(8)]
    acks = await asyncio.gather(*(okx_client.create_order(SYMBOL, "limit", "buy", 0.001, float(ask * D("1.01")),
                                                          {"timeInForce": "IOC", "clientOrderId": cid})
                                  for cid in ids))
    assert sorted(a["clientOrderId"] for a in acks) == sorted(ids)
    orders = await asyncio.gather(*(okx_client.fetch_order(a["id"], SYMBOL) for a in acks))
    assert all(o["status"] == "closed" and d(o["filled"]) == D("0.001") for o in orders)
    venue_orders = await http.get(okx_venue.url, "/_sim/orders")
    assert sorted(o["clientOrderId"] for o in venue_orders) == sorted(ids)


@pytest.mark.parametrize("side", ["buy", "sell"])
async def test_fee_currency_is_the_one_received(okx_client: Any, side: str) -> None:
    bid, ask = await _book(okx_client)
    price = ask * D("1.001") if side == "buy" else bid * D("0.999")
    ack = await okx_client.create_order(SYMBOL, "limit", side, 0.001, float(price), {"timeInForce": "IOC"})
    order = await okx_client.fetch_order(ack["id"], SYMBOL)
    assert order["fee"]["currency"] == ("BTC" if side == "buy" else "USDT") and d(order["fee"]["cost"]) > 0
