"""Fuzzing every endpoint with random and malformed input: the venue never crashes, never answers 500 or a traceback,
and every refusal is Binance error JSON with an integer code."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import time
from typing import Any, Iterator
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.launcher import VenueEndpoint

ENDPOINTS = [
    ("GET", "/api/v3/ping"), ("GET", "/api/v3/time"), ("GET", "/api/v3/exchangeInfo"), ("GET", "/api/v3/depth"),
    ("GET", "/api/v3/ticker/24hr"), ("GET", "/api/v3/ticker/bookTicker"), ("GET", "/api/v3/ticker/price"),
    ("GET", "/api/v3/account"), ("POST", "/api/v3/order"), ("GET", "/api/v3/order"), ("DELETE", "/api/v3/order"),
    ("GET", "/api/v3/openOrders"), ("GET", "/api/v3/allOrders"), ("GET", "/api/v3/myTrades"),
    ("PUT", "/api/v3/order"), ("GET", "/api/v3/unknown"), ("POST", "/api/v3/depth"), ("GET", "/api/v1/order"),
]
PARAM_NAMES = [
    "symbol", "symbols", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId",
    "newOrderRespType", "orderId", "origClientOrderId", "limit", "startTime", "endTime", "fromId", "stopPrice",
    "icebergQty", "selfTradePreventionMode", "recvWindow", "omitZeroBalances",
]
INTERESTING = [
    "BTCUSDT", "ETHUSDT", "btcusdt", "BUY", "SELL", "LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "GTC", "IOC",
    "FOK", "FULL", "ACK", "RESULT", "0", "-1", "1", "0.001", "60000", "60000.01", "1e5", "NaN", "Infinity", "-0",
    "0.000000001", "99999999999999999999999", "1.", ".5", "00001", "1,5", " 1", '["BTCUSDT"]', '["NOPE"]', "[]",
    "{}", "null", "true", "", "%", "\x00", "é", "x" * 300,
]
values = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=40),
                   st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str),
                   st.decimals(allow_nan=True, allow_infinity=True).map(str))
names = st.one_of(st.sampled_from(PARAM_NAMES), st.text(min_size=1, max_size=20))
params_strategy = st.dictionaries(names, values, max_size=8)
AUTH_MODES = ["signed", "bad_signature", "no_signature", "no_key", "unknown_key", "stale", "unsigned"]


@pytest.fixture(scope="module")
def connection(venue_process: VenueEndpoint) -> Iterator[http.client.HTTPConnection]:
    parts = urlsplit(venue_process.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    yield conn
    conn.close()


def _send(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    for attempt in range(2):  # the server may close a kept-alive connection (e.g. after a 413): reconnect once
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _assert_binance_answer(status: int, payload: bytes) -> None:
    assert status != 500 and status < 500, (status, payload[:300])
    text = payload.decode("utf-8", "replace")
    assert "Traceback" not in text and "File \"" not in text
    body = json.loads(payload)
    if status >= 400:
        assert isinstance(body, dict) and set(body) == {"code", "msg"}, body
        assert isinstance(body["code"], int) and body["code"] < 0 and isinstance(body["msg"], str)
    else:
        assert isinstance(body, (dict, list))


def _sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), params=params_strategy, auth=st.sampled_from(AUTH_MODES),
       in_body=st.booleans())
def test_random_parameters_on_every_endpoint_get_binance_errors(
        connection: http.client.HTTPConnection, venue_process: VenueEndpoint,
        endpoint: tuple[str, str], params: dict[str, str], auth: str, in_body: bool) -> None:
    method, path = endpoint
    headers: dict[str, str] = {}
    now = int(time.time() * 1000)
    fields = dict(params)
    if auth != "unsigned":
        fields["timestamp"] = str(now - 120_000 if auth == "stale" else now)
    query = urlencode(fields, quote_via=quote)
    if auth in ("signed", "stale", "no_key", "unknown_key"):
        query += "&signature=" + _sign(venue_process.secret, query)
    elif auth == "bad_signature":
        query += "&signature=" + "0" * 64
    if auth not in ("no_key", "unsigned"):
        headers["X-MBX-APIKEY"] = "sim-nobody" if auth == "unknown_key" else venue_process.api_key
    body = None
    target = path
    if in_body and method == "POST":
        body = query.encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif query:
        target = f"{path}?{query}"
    status, payload = _send(connection, method, target, body, headers)
    _assert_binance_answer(status, payload)


raw_bytes = st.binary(max_size=200)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), raw=raw_bytes,
       shape=st.sampled_from(["percent", "mangled", "ascii"]), signed_key=st.booleans())
def test_malformed_query_strings_and_bodies_get_binance_errors(
        connection: http.client.HTTPConnection, venue_process: VenueEndpoint,
        endpoint: tuple[str, str], raw: bytes, shape: str, signed_key: bool) -> None:
    method, path = endpoint
    if shape == "percent":  # every byte escaped: invalid UTF-8 and control characters reach the parser
        text = "".join(f"%{b:02X}" for b in raw)
    elif shape == "mangled":  # broken escapes and separators
        text = raw.hex().replace("a", "%").replace("b", "&").replace("c", "=").replace("d", "%z")
    else:
        text = "".join(chr(b) for b in raw if 0x21 <= b < 0x7F and chr(b) not in "#?")
    headers = {"X-MBX-APIKEY": venue_process.api_key} if signed_key else {}
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        status, payload = _send(connection, method, path, text.encode(), headers)
    else:
        status, payload = _send(connection, method, f"{path}?{text}", None, headers)
    _assert_binance_answer(status, payload)


ws_messages = st.one_of(
    st.text(max_size=100),
    st.builds(lambda m, p, i: json.dumps({"method": m, "params": p, "id": i}),
              st.sampled_from(["SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "X", ""]),
              st.one_of(st.lists(st.one_of(st.sampled_from(["btcusdt@depth", "ethusdt@depth@100ms", "x@depth"]),
                                           st.text(max_size=20)), max_size=3),
                        st.integers(), st.none(), st.text(max_size=5)),
              st.one_of(st.integers(), st.text(max_size=5), st.none(), st.booleans(), st.floats())),
    st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=8).map(json.dumps),
)


async def _ws_session(ws_url: str, messages: list[str]) -> list[dict[str, Any]]:
    replies: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url + "/3", timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            for message in messages:
                await ws.send_str(message)
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "end"}))
            while True:
                frame = await ws.receive(timeout=5)
                assert frame.type == aiohttp.WSMsgType.TEXT, frame
                reply = json.loads(frame.data)
                if reply.get("e") == "depthUpdate":
                    continue
                replies.append(reply)
                if reply.get("id") == "end" and "result" in reply:
                    return replies


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(messages=st.lists(ws_messages, max_size=12))
def test_random_websocket_messages_get_binance_replies(venue_process: VenueEndpoint, messages: list[str]) -> None:
    replies = asyncio.run(_ws_session(venue_process.url.replace("http", "ws", 1) + "/stream/ws", messages))
    assert len(replies) == len(messages) + 1  # one reply per message, the connection survives
    for reply in replies:
        assert ("result" in reply) != ("error" in reply), reply
        if "error" in reply:
            assert isinstance(reply["error"]["code"], int) and isinstance(reply["error"]["msg"], str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=50),
    st.dictionaries(st.sampled_from(["latency_ms", "error_share", "drop_next", "throttle_status", "seed", "nope",
                                     "freeze_book", "retry_after_s", "clear"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(-1, 2), st.text(max_size=5)),
                    max_size=3).map(lambda d: json.dumps(d).encode()),
))
def test_random_fault_settings_are_validated(connection: http.client.HTTPConnection, body: bytes) -> None:
    status, payload = _send(connection, "POST", "/_sim/faults", body, {"Content-Type": "application/json"})
    assert status in (200, 400), (status, payload[:200])
    answer = json.loads(payload)
    if status == 400:
        assert isinstance(answer["code"], int)
    status, payload = _send(connection, "POST", "/_sim/faults", b'{"clear": true}')
    assert status == 200 and json.loads(payload)["error_share"] == 0.0


def test_the_venue_still_trades_after_the_fuzzing(connection: http.client.HTTPConnection,
                                                   venue_process: VenueEndpoint) -> None:
    status, payload = _send(connection, "GET", "/api/v3/ping")
    assert (status, json.loads(payload)) == (200, {})
    query = urlencode({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                       "timestamp": int(time.time() * 1000)})
    body = f"{query}&signature={_sign(venue_process.secret, query)}".encode()
    status, payload = _send(connection, "POST", "/api/v3/order", body,
                            {"X-MBX-APIKEY": venue_process.api_key,
                             "Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and json.loads(payload)["status"] == "FILLED"
