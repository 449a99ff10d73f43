"""The faults a chaos or bad-input campaign needs, on a Binance- and an OKX-dialect venue alike, each driven by
unmodified ccxt (or a raw HTTP / WebSocket client for the broken replies) over real sockets: clock skew beyond the
signing window, WebSocket pushes that close their connection, malformed REST answers (the order behind a broken
answer is real, found by its client order id), lying books, fills of orders nobody placed, balances that move without
a fill, and the throttle / down / drop faults in OKX's words."""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any, AsyncIterator

import aiohttp
import ccxt
import pytest
import pytest_asyncio

from execution.api.venue import make_exchange
from simulator.config import SimConfig
from simulator.core.tampering import PHANTOM_ID_BASE
from simulator.faults import MALFORMED_KINDS, FaultConfigError, FaultInjector, Faults
from simulator.launcher import VenueProcess, start_local_venues
from tests.simulator.conftest import make_okx_exchange

SYMBOL = "BTC/USDT"
WAIT_S = 5.0
# per dialect: the order POST's path prefix, a REST depth query, the public WebSocket path and its subscription
DIALECTS = {
    "binance": {"venue": "alpha", "orders": "/api/v3/order", "depth": "/api/v3/depth?symbol=BTCUSDT&limit=5",
                "ws": "", "subscribe": {"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1}},
    "okx": {"venue": "beta:okx", "orders": "/api/v5/trade/", "depth": "/api/v5/market/books?instId=BTC-USDT&sz=5",
            "ws": "/public", "subscribe": {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}},
}


@pytest_asyncio.fixture(params=sorted(DIALECTS))
async def any_venue(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    async with start_local_venues(SimConfig.default((DIALECTS[request.param]["venue"],), seed=13)) as sim:
        yield sim[0]


@pytest_asyncio.fixture
async def any_client(any_venue: Any) -> AsyncIterator[Any]:
    venue = any_venue
    exchange = (make_okx_exchange(venue, "async") if venue.dialect == "okx"
                else make_exchange(url=venue.url, flavour="async", api_key=venue.api_key, secret=venue.secret,
                                   timeout_ms=5000))
    await exchange.load_markets()
    try:
        yield exchange
    finally:
        await exchange.close()


def spec(venue: Any) -> dict[str, Any]:
    return DIALECTS[venue.dialect]


def book_of(message: Any) -> tuple[list[list[str]], list[list[str]]]:
    """(bids, asks) of a depth answer or push in either dialect."""
    if isinstance(message, dict) and "data" in message:
        message = message["data"][0]
    return (message["bids"], message["asks"]) if "bids" in message else (message["b"], message["a"])


def test_the_new_faults_refuse_bad_values_by_name_and_spend_their_counters_in_order() -> None:
    for bad, key in (({"clock_skew_ms": "5"}, "clock_skew_ms"), ({"clock_skew_ms": 1e12}, "clock_skew_ms"),
                     ({"malformed": "broken"}, "malformed"), ({"malformed_path": "api"}, "malformed_path"),
                     ({"book_lie": "inf"}, "book_lie"), ({"phantom_fill_next": -1}, "phantom_fill_next"),
                     ({"ws_disconnect_next": 1.5}, "ws_disconnect_next"), ({"malformed_next": True}, "malformed_next")):
        with pytest.raises(FaultConfigError, match=f"^{key}: "):
            Faults.from_dict(bad)
    injector = FaultInjector(Faults(malformed_next=2, malformed="truncated", malformed_path="/api/v3/order",
                                    book_lie_next=1, phantom_fill_next=1, ws_disconnect_next=1))
    assert injector.take_malformed("/api/v3/depth") is None  # another path spends nothing
    assert [injector.take_malformed("/api/v3/order") for _ in range(3)] == ["truncated", "truncated", None]
    assert [injector.take_book_lie(), injector.take_book_lie()] == ["crossed", None]
    assert [injector.take_phantom_fill(), injector.take_phantom_fill()] == [True, False]
    assert [injector.take_ws_disconnect(), injector.take_ws_disconnect()] == [True, False]
    assert injector.faults.merged({"malformed_path": None}).malformed_path == ""


# --- clock skew -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("skew_ms", [120_000, -120_000])
async def test_a_skewed_venue_clock_refuses_signed_requests_until_the_client_syncs(any_client: Any, any_venue: Any,
                                                                                   http: Any, skew_ms: int) -> None:
    await http.post_faults(any_venue.url, {"clock_skew_ms": skew_ms})
    code = "-1021" if any_venue.dialect == "binance" else "50102"
    with pytest.raises(ccxt.InvalidNonce, match=code):
        await any_client.fetch_balance()
    venue_time = await any_client.fetch_time()  # the public server time is the venue's (skewed) clock
    assert abs(venue_time - (time.time() * 1000 + skew_ms)) < 5_000
    await any_client.load_time_difference()
    assert "USDT" in await any_client.fetch_balance()
    await http.post_faults(any_venue.url, {"clock_skew_ms": None})


# --- WebSocket pushes that close their connection ------------------------------------------------------------------
async def test_the_next_websocket_push_closes_its_connection(any_venue: Any, http: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(any_venue.ws_url + spec(any_venue)["ws"]) as ws:
            await ws.send_str(json.dumps(spec(any_venue)["subscribe"]))
            await ws.receive(timeout=WAIT_S)  # the subscription's answer
            await http.post_faults(any_venue.url, {"ws_disconnect_next": 1})
            async with asyncio.timeout(WAIT_S):
                while (message := await ws.receive()).type in (aiohttp.WSMsgType.TEXT,):
                    pass  # a push queued before the fault, or the OKX snapshot
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
        assert (await http.get(any_venue.url, "/_sim/faults"))["ws_disconnect_next"] == 0
        async with session.ws_connect(any_venue.ws_url + spec(any_venue)["ws"]) as ws:  # a new connection is served
            await ws.send_str(json.dumps(spec(any_venue)["subscribe"]))
            assert (await ws.receive(timeout=WAIT_S)).type is aiohttp.WSMsgType.TEXT


async def test_the_okx_private_order_push_closes_its_connection(http: Any) -> None:
    async with start_local_venues(SimConfig.default(("beta:okx",), seed=13)) as sim:
        venue = sim[0]
        pro, rest = make_okx_exchange(venue, "pro"), make_okx_exchange(venue, "async")
        try:
            await asyncio.gather(pro.load_markets(), rest.load_markets())
            watching = asyncio.ensure_future(pro.watch_orders(SYMBOL))
            async with asyncio.timeout(WAIT_S):  # subscribed: the venue knows the watcher
                while not any(venue.server._orders_subscribers.values()):
                    await asyncio.sleep(0.02)
            await http.post_faults(venue.url, {"ws_disconnect_next": 1})
            await rest.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "pushed1"})
            with pytest.raises(ccxt.NetworkError):
                await asyncio.wait_for(watching, WAIT_S)
        finally:
            await pro.close()
            await rest.close()


# --- malformed answers ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", MALFORMED_KINDS)
async def test_a_broken_order_answer_leaves_a_real_order_found_by_its_client_order_id(
        any_client: Any, any_venue: Any, http: Any, kind: str) -> None:
    await http.post_faults(any_venue.url, {"malformed_next": 1, "malformed": kind,
                                           "malformed_path": spec(any_venue)["orders"]})
    assert (await any_client.fetch_ticker(SYMBOL))["last"]  # another path: not broken, nothing consumed
    cid = "broken" + kind.replace("_", "")
    try:
        answer = await any_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": cid})
    except ccxt.ExchangeNotAvailable:  # html_error: a 502
        answer = None
    if kind == "unknown_status":
        assert answer is not None and answer["status"] in ("PENDING_REVIEW", "pending_review")
    elif kind in ("garbage_json", "truncated", "missing_fields"):
        assert answer is not None and answer["status"] is None and answer["id"] is None  # ccxt learnt nothing
    placed = await http.get(any_venue.url, f"/_sim/orders?clientOrderId={cid}")
    assert len(placed) == 1 and placed[0]["status"] == "FILLED"  # the answer was broken, the order is real
    found = await any_client.fetch_order(None, SYMBOL, {"clientOrderId": cid})
    assert found["id"] == str(placed[0]["orderId"]) and found["status"] == "closed"


async def test_each_broken_answer_as_a_raw_client_sees_it(any_venue: Any, http: Any) -> None:
    path = spec(any_venue)["depth"]
    seen = {}
    for kind in MALFORMED_KINDS:
        await http.post_faults(any_venue.url, {"malformed_next": 1, "malformed": kind,
                                               "malformed_path": path.split("?")[0]})
        status, body, headers = await http.request("GET", any_venue.url + path)
        seen[kind] = (status, body, headers["Content-Type"])
    assert seen["garbage_json"][0] == 200 and isinstance(seen["garbage_json"][1], str)  # not JSON
    status, body, content_type = seen["html_error"]
    assert status == 502 and "nginx" in body and content_type.startswith("text/html")
    assert seen["truncated"][0] == 200 and isinstance(seen["truncated"][1], str)
    answer = seen["missing_fields"][1]
    assert "bids" not in json.dumps(answer) and "asks" not in json.dumps(answer)
    bids, _ = book_of(seen["wrong_types"][1])
    assert all(isinstance(value, (list, dict)) for value in bids[0][:2])
    assert (await http.get(any_venue.url, "/_sim/faults"))["malformed_next"] == 0
    bids, asks = book_of((await http.request("GET", any_venue.url + path))[1])  # the next answer is whole again
    assert Decimal(bids[0][0]) < Decimal(asks[0][0])


# --- lying books ------------------------------------------------------------------------------------------------------
async def test_a_lying_rest_book_is_crossed_negative_or_nan_once(any_venue: Any, http: Any) -> None:
    path = spec(any_venue)["depth"]
    for lie in ("crossed", "negative", "nan"):
        await http.post_faults(any_venue.url, {"book_lie_next": 1, "book_lie": lie})
        bids, asks = book_of((await http.request("GET", any_venue.url + path))[1])
        if lie == "crossed":
            assert Decimal(bids[0][0]) > Decimal(asks[0][0])
        elif lie == "negative":
            assert Decimal(bids[0][0]) < 0
        else:
            assert bids[0][0] == "NaN"
        bids, asks = book_of((await http.request("GET", any_venue.url + path))[1])
        assert 0 < Decimal(bids[0][0]) < Decimal(asks[0][0])  # one answer only; the venue's book is sound


async def test_a_lying_depth_push_carries_a_crossed_book(any_venue: Any, http: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(any_venue.ws_url + spec(any_venue)["ws"]) as ws:
            await ws.send_str(json.dumps(spec(any_venue)["subscribe"]))
            await http.post_faults(any_venue.url, {"book_lie_next": 1, "book_lie": "crossed"})
            async with asyncio.timeout(WAIT_S):
                while True:
                    message = json.loads((await ws.receive()).data)
                    if not isinstance(message, dict) or "result" in message or "event" in message:
                        continue  # the subscription's answer
                    if message.get("action") == "snapshot":
                        continue
                    bids, asks = book_of(message)
                    if bids and asks and Decimal(bids[0][0]) > Decimal(asks[0][0]):
                        break  # the lie; a truthful update never crosses


# --- phantom fills and balances that move without a fill ----------------------------------------------------------
async def test_a_fill_of_an_order_nobody_placed_appears_in_the_trade_history(any_client: Any, any_venue: Any,
                                                                              http: Any) -> None:
    def clients(balances: dict) -> dict:  # the market maker's locked amounts move with its quotes
        return {account: held for account, held in balances.items() if account != "market-maker"}

    balances = clients(await http.get(any_venue.url, "/_sim/balances"))
    await http.post_faults(any_venue.url, {"phantom_fill_next": 1})
    trades = await any_client.fetch_my_trades(SYMBOL)
    assert [t["order"] for t in trades] == [str(PHANTOM_ID_BASE + 1)]
    assert trades[0]["side"] == "buy" and trades[0]["amount"] > 0
    assert (await any_client.fetch_my_trades(SYMBOL)) == trades  # a record: it stays, no second one is made
    assert await http.get(any_venue.url, "/_sim/trades") == []  # the venue's own truth has no such trade
    assert clients(await http.get(any_venue.url, "/_sim/balances")) == balances  # and no client's balance moved
    with pytest.raises(ccxt.OrderNotFound):
        await any_client.fetch_order(str(PHANTOM_ID_BASE + 1), SYMBOL)


async def test_the_okx_order_stream_pushes_a_phantom_fill(http: Any) -> None:
    async with start_local_venues(SimConfig.default(("beta:okx",), seed=13)) as sim:
        venue = sim[0]
        pro = make_okx_exchange(venue, "pro")
        try:
            await pro.load_markets()
            watching = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
            async with asyncio.timeout(WAIT_S):
                while not any(venue.server._orders_subscribers.values()):
                    await asyncio.sleep(0.02)
            await http.post_faults(venue.url, {"phantom_fill_next": 1})
            trades = await asyncio.wait_for(watching, WAIT_S)
            assert [(t["order"], t["info"]["clOrdId"]) for t in trades] == [(str(PHANTOM_ID_BASE + 1), "phantom1")]
        finally:
            await pro.close()


async def test_a_balance_moves_without_a_fill(any_client: Any, any_venue: Any, http: Any) -> None:
    before = Decimal(str((await any_client.fetch_balance())["USDT"]["free"]))
    adjust = {"account": "main", "asset": "USDT", "delta": "-12.5"}
    status, body, _ = await http.request("POST", any_venue.url + "/_sim/balance_adjust", data=json.dumps(adjust))
    assert status == 200 and Decimal(body["USDT"]["free"]) == before - Decimal("12.5")
    assert Decimal(str((await any_client.fetch_balance())["USDT"]["free"])) == before - Decimal("12.5")
    assert await http.get(any_venue.url, "/_sim/trades") == []
    for bad, named in (({**adjust, "account": "nobody"}, "account"), ({**adjust, "delta": 5}, "delta"),
                       ({**adjust, "delta": "-1e9"}, "delta"), ({**adjust, "delta": "-99999999"}, "below 0"),
                       ({**adjust, "asset": "usdt"}, "asset"), ({**adjust, "extra": 1}, "extra")):
        status, body, _ = await http.request("POST", any_venue.url + "/_sim/balance_adjust", data=json.dumps(bad))
        assert status == 400 and named in body["msg"], (bad, body)


# --- every new fault from the command line; the older faults in OKX's words ----------------------------------------
def test_every_new_fault_is_settable_at_start_of_a_subprocess() -> None:
    faults = {"clock_skew_ms": 2500.0, "ws_disconnect_next": 2, "malformed_next": 3, "malformed": "html_error",
              "malformed_path": "/api/v5/trade/", "book_lie_next": 4, "book_lie": "nan", "phantom_fill_next": 5}
    with VenueProcess(("beta:okx",), seed=5, faults=json.dumps(faults)) as process:
        with __import__("urllib.request").request.urlopen(process["beta"].url + "/_sim/faults", timeout=5) as r:
            shown = json.loads(r.read())
    assert {key: shown[key] for key in faults} == faults


async def test_okx_throttle_418_down_for_seconds_and_drops(okx_client: Any, okx_venue: Any, http: Any) -> None:
    """The Binance dialect's are in test_faults.py."""
    any_client, any_venue = okx_client, okx_venue
    await http.post_faults(any_venue.url, {"throttle_next": 1, "throttle_status": 418, "retry_after_s": 9})
    status, body, headers = await http.request("GET", any_venue.url + "/api/v5/public/time")
    assert (status, body["code"], headers["Retry-After"]) == (418, "50011", "9")
    await http.post_faults(any_venue.url, {"drop_share": 1.0})
    with pytest.raises(ccxt.NetworkError):
        await any_client.fetch_balance()
    await http.post_faults(any_venue.url, {"drop_share": 0.0, "down": "silent", "down_for_s": 0.5})
    any_client.timeout = 300
    with pytest.raises(ccxt.RequestTimeout):
        await any_client.fetch_balance()
    any_client.timeout = 5000
    async with asyncio.timeout(WAIT_S):  # back by itself
        while (await http.get(any_venue.url, "/_sim/faults"))["down"] is not None:
            await asyncio.sleep(0.05)
    assert "USDT" in await any_client.fetch_balance()
