"""Market data that fails validation stops a venue's start with an error that names what is wrong.

A scripted HTTP server on 127.0.0.1 stands in front of a simulator venue: it answers exchangeInfo (or the fee table)
with a bad body and forwards everything else to the venue, byte for byte (signed requests verify there). Through real
ccxt: an exchangeInfo that is garbage, truncated, ``{}`` or lists no symbol gives ccxt a client with no markets and
no error; a symbol listed without its filters gives ccxt a market with no tick or step; a fee table ccxt cannot parse.
The seed's ``initialize_exchange_api`` and the exchange actor's ``start`` refuse each with ``MarketDataError``.
"""
from __future__ import annotations

import json
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from actors.exchange import ExchangeConnection, VenueSpec
from actors.supervision import StartRefused
from execution.api.market_data import MarketDataError, rules_with_fees
from execution.api.other_exchange_api import close_exchange, initialize_exchange_api
from tests.actors.test_exchange_connection import deliver_keys
from tests.execution.fakes import spot_rules

SYMBOL = "BTC/USDT"
EXCHANGE_INFO = "/api/v3/exchangeInfo"
FEES = "/sapi/v1/asset/tradeFee"
NO_FILTERS = json.dumps({"timezone": "UTC", "serverTime": 1, "rateLimits": [], "symbols": [
    {"symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "baseAssetPrecision": 8,
     "quotePrecision": 8, "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"], "isSpotTradingAllowed": True,
     "permissions": ["SPOT"], "filters": []}]})

BAD_EXCHANGE_INFO = {
    "empty object": ("{}", "no usable market"),
    "garbage": ("<html><body>502 Bad Gateway</body></html>", "no usable market"),
    "truncated": ('{"timezone":"UTC","serverTime":1,"symbols":[{"symbol":"BTCUSDT","baseAsset":"BTC","quoteAs',
                  "no usable market"),
    "no symbols": ('{"timezone":"UTC","serverTime":1,"symbols":[]}', "no usable market"),
    "no filters": (NO_FILTERS, "BTC/USDT: tick size (PRICE_FILTER tickSize) is None"),
}

BAD_FEE_TABLES = {
    "garbage": ("<html>oops</html>", "fee table is empty (its answer did not parse"),
    "empty": ("[]", "fee table is empty"),
    "not a number": ('[{"symbol":"BTCUSDT","makerCommission":"abc","takerCommission":"0.001"}]',
                     "BTC/USDT: maker fee"),
    "negative": ('[{"symbol":"BTCUSDT","makerCommission":"-0.001","takerCommission":"0.001"}]',
                 "BTC/USDT: maker fee -0.001 in the venue's fee table is not a rate"),
    "absurd": ('[{"symbol":"BTCUSDT","makerCommission":"0.001","takerCommission":"7"}]', "BTC/USDT: taker fee"),
}


class FrontServer:
    """Answers ``overrides`` (path -> body) itself and forwards every other request to the venue unchanged."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.overrides: dict[str, str] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path in self.overrides:
            return web.Response(text=self.overrides[request.path], content_type="application/json")
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-mbx-apikey", "content-type")}
        async with self.session.request(request.method, self.target + request.raw_path, data=await request.read(),
                                        headers=headers) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status,
                                headers={"Content-Type": answer.headers.get("Content-Type", "application/json")})

    async def __aenter__(self) -> "FrontServer":
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.runner.cleanup()
        await self.session.close()


@pytest.fixture
async def front(venue) -> AsyncIterator[FrontServer]:
    async with FrontServer(venue.url) as server:
        yield server


async def test_the_front_server_forwards_a_healthy_venue(front, venue):
    exchange = await initialize_exchange_api("binance", venue.api_key, venue.secret, url=front.url, verify_keys=True,
                                             symbols=[SYMBOL])
    try:
        assert SYMBOL in exchange.markets
    finally:
        await close_exchange(exchange)


@pytest.mark.parametrize("case", sorted(BAD_EXCHANGE_INFO))
async def test_bad_exchange_info_stops_initialize_exchange_api(front, venue, case):
    body, named = BAD_EXCHANGE_INFO[case]
    front.overrides[EXCHANGE_INFO] = body
    with pytest.raises(MarketDataError, match=named.replace("(", r"\(").replace(")", r"\)")):
        await initialize_exchange_api("binance", venue.api_key, venue.secret, url=front.url, symbols=[SYMBOL])


async def start_connection(front: FrontServer, venue: Any) -> ExchangeConnection:
    spec = VenueSpec(name="alpha", exchange_id="binance", url=front.url, paper=False, simulator=True)
    connection = ExchangeConnection(spec, [SYMBOL], balance_refresh_s=3600)
    await deliver_keys(connection, venue)
    return connection


@pytest.mark.parametrize("case", sorted(BAD_EXCHANGE_INFO))
async def test_bad_exchange_info_stops_the_exchange_actors_start(front, venue, case):
    body, named = BAD_EXCHANGE_INFO[case]
    front.overrides[EXCHANGE_INFO] = body
    connection = await start_connection(front, venue)
    try:
        with pytest.raises(StartRefused) as raised:  # the operator's to fix: the run ends with this one line
            await connection.start()
        assert named in str(raised.value) and str(raised.value).startswith("alpha")
        assert not (await connection.health())["started"]
    finally:
        await connection.stop()


@pytest.mark.parametrize("case", sorted(BAD_FEE_TABLES))
async def test_a_fee_table_that_does_not_parse_stops_the_exchange_actors_start(front, venue, case):
    body, named = BAD_FEE_TABLES[case]
    front.overrides[FEES] = body
    connection = await start_connection(front, venue)
    try:
        with pytest.raises(StartRefused) as raised:  # the operator's to fix: the run ends with this one line
            await connection.start()
        assert named in str(raised.value), str(raised.value)
        assert venue.secret not in str(raised.value) and venue.api_key not in str(raised.value)
    finally:
        await connection.stop()


async def test_a_healthy_fee_table_sets_the_accounts_rates(front, venue):
    connection = await start_connection(front, venue)
    try:
        rules = await connection.start()
        fees = await connection._rest.fetch_trading_fees()
        assert str(rules[SYMBOL].taker_fee) == str(fees[SYMBOL]["taker"])
    finally:
        await connection.stop()


def test_fee_tables_that_do_not_parse_are_refused_by_name():
    rules = {SYMBOL: spot_rules("alpha")}
    with pytest.raises(MarketDataError, match="alpha: the venue's fee table is list"):
        rules_with_fees("alpha", rules, [])
    with pytest.raises(MarketDataError, match="BTC/USDT: fee table entry is str"):
        rules_with_fees("alpha", rules, {SYMBOL: "0.1%"})
    with pytest.raises(MarketDataError, match="BTC/USDT: taker fee None"):
        rules_with_fees("alpha", rules, {SYMBOL: {"maker": 0.001, "taker": None}})
    with pytest.raises(MarketDataError, match="maker fee 'NaN'"):
        rules_with_fees("alpha", rules, {SYMBOL: {"maker": "NaN", "taker": 0.001}})
    with pytest.raises(MarketDataError, match="fee table is empty"):
        rules_with_fees("alpha", rules, {})
    assert rules_with_fees("alpha", rules, {"ETH/USDT": {"maker": 0, "taker": 0}}) == rules  # not listed: defaults
    updated = rules_with_fees("alpha", rules, {SYMBOL: {"maker": 0.0002, "taker": "0.0004"}})[SYMBOL]
    assert (str(updated.maker_fee), str(updated.taker_fee)) == ("0.0002", "0.0004")
