"""Unmodified ccxt (sync and async) against the simulator: what ccxt parses passes ccxt's own structure validators.

The validators are the ones ccxt ships for its exchange tests (ccxt/test/exchange/base/test_*.py); they are called
the way ccxt's runner calls them: ``test_x(exchange, skipped_properties, method, entry, symbol[, now])``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from ccxt.test.exchange.base.test_balance import test_balance as check_balance
from ccxt.test.exchange.base.test_last_price import test_last_price as check_last_price
from ccxt.test.exchange.base.test_market import test_market as check_market
from ccxt.test.exchange.base.test_order import test_order as check_order
from ccxt.test.exchange.base.test_order_book import test_order_book as check_order_book
from ccxt.test.exchange.base.test_ticker import test_ticker as check_ticker
from ccxt.test.exchange.base.test_trade import test_trade as check_trade

SYMBOL = "BTC/USDT"
SKIP: dict[str, Any] = {}
# Binance's spot REST depth carries no timestamp (only lastUpdateId), so neither does ccxt's parsed book.
SKIP_BOOK: dict[str, Any] = {"timestamp": True, "datetime": True}


def check_market_data(ex: Any, results: dict[str, Any]) -> None:
    assert set(ex.symbols) == {"BTC/USDT", "ETH/USDT"}
    for market in ex.markets.values():
        check_market(ex, SKIP, "loadMarkets", market)
        assert market["spot"] is True and market["type"] == "spot" and market["active"] is True
    btc = ex.market(SYMBOL)
    assert Decimal(str(btc["precision"]["price"])) == Decimal("0.01")
    assert Decimal(str(btc["precision"]["amount"])) == Decimal("0.00001")
    assert Decimal(str(btc["limits"]["cost"]["min"])) == Decimal("5")

    book = results["order_book"]
    check_order_book(ex, SKIP_BOOK, "fetchOrderBook", book, SYMBOL)
    assert book["bids"] and book["asks"] and book["nonce"] is not None
    small = results["order_book_5"]
    check_order_book(ex, SKIP_BOOK, "fetchOrderBook", small, SYMBOL)
    assert 0 < len(small["bids"]) <= 5 and 0 < len(small["asks"]) <= 5

    check_ticker(ex, SKIP, "fetchTicker", results["ticker"], SYMBOL)
    tickers = results["tickers"]
    assert set(tickers) == {"BTC/USDT", "ETH/USDT"}
    for symbol, ticker in tickers.items():
        check_ticker(ex, SKIP, "fetchTickers", ticker, symbol)
    for symbol, ticker in results["bids_asks"].items():
        check_ticker(ex, SKIP, "fetchBidsAsks", ticker, symbol)
        assert ticker["bid"] < ticker["ask"]
    for symbol, last in results["last_prices"].items():
        check_last_price(ex, SKIP, "fetchLastPrices", last, symbol)
    assert abs(results["time"] - results["now"]) < 5_000


def check_trading(ex: Any, results: dict[str, Any]) -> None:
    now = results["now"]
    check_balance(ex, SKIP, "fetchBalance", results["balance_before"])
    check_balance(ex, SKIP, "fetchBalance", results["balance_after"])

    resting = results["resting"]
    check_order(ex, SKIP, "createOrder", resting, SYMBOL, now)
    assert resting["status"] == "open" and resting["filled"] == 0
    assert resting["clientOrderId"] == "rest-1"
    for fetched in (results["fetched_by_id"], results["fetched_by_client_id"]):
        check_order(ex, SKIP, "fetchOrder", fetched, SYMBOL, now)
        assert fetched["id"] == resting["id"] and fetched["status"] == "open"
    assert resting["id"] in [o["id"] for o in results["open_orders"]]
    for order in results["open_orders"]:
        check_order(ex, SKIP, "fetchOpenOrders", order, SYMBOL, now)
    canceled = results["canceled"]
    check_order(ex, SKIP, "cancelOrder", canceled, SYMBOL, now)
    assert canceled["status"] == "canceled" and canceled["id"] == resting["id"]
    assert resting["id"] not in [o["id"] for o in results["open_orders_after"]]

    taker = results["taker"]
    check_order(ex, SKIP, "createOrder", taker, SYMBOL, now)
    assert taker["status"] == "closed"
    assert Decimal(str(taker["filled"])) == Decimal("0.002")
    assert taker["trades"], "a FULL response carries the fills"
    ioc = results["ioc"]
    check_order(ex, SKIP, "createOrder", ioc, SYMBOL, now)
    assert ioc["status"] in ("closed", "expired") or ioc["filled"] == ioc["amount"]
    post_only = results["post_only"]
    check_order(ex, SKIP, "createOrder", post_only, SYMBOL, now)
    assert post_only["status"] == "open" and post_only["postOnly"] is True

    trades = results["my_trades"]
    assert trades, "the taker orders traded"
    for trade in trades:
        check_trade(ex, SKIP, "fetchMyTrades", trade, SYMBOL, now, False)
    assert {t["order"] for t in trades} >= {taker["id"]}
    for order in results["all_orders"]:
        check_order(ex, SKIP, "fetchOrders", order, SYMBOL, now)
    assert {resting["id"], taker["id"]} <= {o["id"] for o in results["all_orders"]}

    # balances move exactly by the fills (Decimal): BTC gained = bought - base commission
    bought = sum((Decimal(str(t["amount"])) for t in trades if t["side"] == "buy"), Decimal(0))
    sold = sum((Decimal(str(t["amount"])) for t in trades if t["side"] == "sell"), Decimal(0))
    btc_fees = sum((Decimal(str(t["fee"]["cost"])) for t in trades if t["fee"]["currency"] == "BTC"), Decimal(0))
    before = Decimal(str(results["balance_before"]["BTC"]["total"]))
    after = Decimal(str(results["balance_after"]["BTC"]["total"]))
    assert after - before == bought - sold - btc_fees


def _prices(book: dict[str, Any]) -> tuple[float, float]:
    return book["bids"][0][0], book["asks"][0][0]


async def test_async_client_structures_pass_ccxt_validators(client: Any) -> None:
    results: dict[str, Any] = {"now": client.milliseconds()}
    results["order_book"] = await client.fetch_order_book(SYMBOL)
    results["order_book_5"] = await client.fetch_order_book(SYMBOL, 5)
    results["ticker"] = await client.fetch_ticker(SYMBOL)
    results["tickers"] = await client.fetch_tickers()
    results["bids_asks"] = await client.fetch_bids_asks()
    results["last_prices"] = await client.fetch_last_prices()
    results["time"] = await client.fetch_time()
    check_market_data(client, results)


async def test_async_client_trading_passes_ccxt_validators(client: Any) -> None:
    results = await _trade_async(client)
    check_trading(client, results)


async def _trade_async(ex: Any) -> dict[str, Any]:
    results: dict[str, Any] = {"balance_before": await ex.fetch_balance()}
    bid, ask = _prices(await ex.fetch_order_book(SYMBOL, 5))
    low = float(ex.price_to_precision(SYMBOL, bid * 0.9))
    results["resting"] = await ex.create_order(SYMBOL, "limit", "buy", 0.001, low, {"clientOrderId": "rest-1"})
    order_id = results["resting"]["id"]
    results["fetched_by_id"] = await ex.fetch_order(order_id, SYMBOL)
    results["fetched_by_client_id"] = await ex.fetch_order(None, SYMBOL, {"clientOrderId": "rest-1"})
    results["open_orders"] = await ex.fetch_open_orders(SYMBOL)
    results["canceled"] = await ex.cancel_order(order_id, SYMBOL)
    results["open_orders_after"] = await ex.fetch_open_orders(SYMBOL)
    results["taker"] = await ex.create_order(SYMBOL, "market", "buy", 0.002)
    results["ioc"] = await ex.create_order(SYMBOL, "limit", "sell", 0.001,
                                           float(ex.price_to_precision(SYMBOL, bid * 0.99)), {"timeInForce": "IOC"})
    results["post_only"] = await ex.create_order(SYMBOL, "limit", "sell", 0.001,
                                                 float(ex.price_to_precision(SYMBOL, ask * 1.1)), {"postOnly": True})
    results["my_trades"] = await ex.fetch_my_trades(SYMBOL)
    results["all_orders"] = await ex.fetch_orders(SYMBOL)
    await ex.cancel_order(results["post_only"]["id"], SYMBOL)
    results["balance_after"] = await ex.fetch_balance()
    results["now"] = ex.milliseconds()
    return results


def test_sync_client_structures_pass_ccxt_validators(sync_client: Any) -> None:
    ex = sync_client
    results: dict[str, Any] = {"now": ex.milliseconds()}
    results["order_book"] = ex.fetch_order_book(SYMBOL)
    results["order_book_5"] = ex.fetch_order_book(SYMBOL, 5)
    results["ticker"] = ex.fetch_ticker(SYMBOL)
    results["tickers"] = ex.fetch_tickers()
    results["bids_asks"] = ex.fetch_bids_asks()
    results["last_prices"] = ex.fetch_last_prices()
    results["time"] = ex.fetch_time()
    check_market_data(ex, results)


def test_sync_client_trading_passes_ccxt_validators(sync_client: Any) -> None:
    ex = sync_client
    results: dict[str, Any] = {"balance_before": ex.fetch_balance()}
    bid, ask = _prices(ex.fetch_order_book(SYMBOL, 5))
    low = float(ex.price_to_precision(SYMBOL, bid * 0.9))
    results["resting"] = ex.create_order(SYMBOL, "limit", "buy", 0.001, low, {"clientOrderId": "rest-1"})
    order_id = results["resting"]["id"]
    results["fetched_by_id"] = ex.fetch_order(order_id, SYMBOL)
    results["fetched_by_client_id"] = ex.fetch_order(None, SYMBOL, {"clientOrderId": "rest-1"})
    results["open_orders"] = ex.fetch_open_orders(SYMBOL)
    results["canceled"] = ex.cancel_order(order_id, SYMBOL)
    results["open_orders_after"] = ex.fetch_open_orders(SYMBOL)
    results["taker"] = ex.create_order(SYMBOL, "market", "buy", 0.002)
    results["ioc"] = ex.create_order(SYMBOL, "limit", "sell", 0.001,
                                     float(ex.price_to_precision(SYMBOL, bid * 0.99)), {"timeInForce": "IOC"})
    results["post_only"] = ex.create_order(SYMBOL, "limit", "sell", 0.001,
                                           float(ex.price_to_precision(SYMBOL, ask * 1.1)), {"postOnly": True})
    results["my_trades"] = ex.fetch_my_trades(SYMBOL)
    results["all_orders"] = ex.fetch_orders(SYMBOL)
    ex.cancel_order(results["post_only"]["id"], SYMBOL)
    results["balance_after"] = ex.fetch_balance()
    results["now"] = ex.milliseconds()
    check_trading(ex, results)


async def test_sim_endpoints_show_orders_trades_balances_and_never_secrets(client: Any, venue: Any, http: Any) -> None:
    order = await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "sim-view-1"})
    orders = await http.get(venue.url, "/_sim/orders")
    mine = [o for o in orders if o["clientOrderId"] == "sim-view-1"]
    assert len(mine) == 1 and str(mine[0]["orderId"]) == order["id"] and mine[0]["status"] == "FILLED"
    assert await http.get(venue.url, "/_sim/orders?clientOrderId=sim-view-1") == mine
    trades = await http.get(venue.url, "/_sim/trades")
    assert any(t["buyerOrderId"] == mine[0]["orderId"] for t in trades)
    balances = await http.get(venue.url, "/_sim/balances")
    assert Decimal(balances["main"]["BTC"]["free"]) > Decimal("2")
    info = await http.get(venue.url, "/_sim/info")
    assert info["venue"] == "alpha" and info["url"] == venue.url and set(info["symbols"]) == {"BTCUSDT", "ETHUSDT"}
    for path in ("/_sim/orders", "/_sim/trades", "/_sim/balances", "/_sim/info", "/_sim/faults"):
        status, body, _ = await http.request("GET", venue.url + path)
        assert status == 200
        assert venue.secret not in str(body)


async def test_trading_fees_are_the_venues_own_rates(sim, make_client):
    from decimal import Decimal

    exchange = await make_client("async")
    fees = await exchange.fetch_trading_fees()
    venue = sim["alpha"]
    assert Decimal(str(fees["BTC/USDT"]["taker"])) == venue.engine.taker_fee
    assert Decimal(str(fees["BTC/USDT"]["maker"])) == venue.engine.maker_fee
