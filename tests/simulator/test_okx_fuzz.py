"""Fuzzing the OKX dialect with random and malformed input, signed and not: the venue never crashes, never answers
500 or a traceback, every answer is OKX's envelope (``code`` a string, ``msg`` a string, ``data`` a list), and the
WebSocket answers every frame and keeps the connection."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import http.client
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.launcher import VenueEndpoint, VenueProcess

from .conftest import SEED

ENDPOINTS = [
    ("GET", "/api/v5/public/time"), ("GET", "/api/v5/public/instruments"), ("GET", "/api/v5/market/books"),
    ("GET", "/api/v5/market/books-full"), ("GET", "/api/v5/market/ticker"), ("GET", "/api/v5/market/tickers"),
    ("GET", "/api/v5/asset/currencies"), ("GET", "/api/v5/account/balance"), ("GET", "/api/v5/account/trade-fee"),
    ("GET", "/api/v5/trade/order"), ("GET", "/api/v5/trade/orders-pending"), ("GET", "/api/v5/trade/orders-history"),
    ("GET", "/api/v5/trade/fills"), ("GET", "/api/v5/trade/fills-history"), ("POST", "/api/v5/trade/order"),
    ("POST", "/api/v5/trade/batch-orders"), ("POST", "/api/v5/trade/cancel-order"), ("DELETE", "/api/v5/trade/order"),
    ("GET", "/api/v5/unknown"), ("POST", "/api/v5/market/books"), ("GET", "/api/v3/ping"),
]
FIELDS = ["instId", "instType", "tdMode", "side", "ordType", "sz", "px", "clOrdId", "tag", "tgtCcy", "ordId", "state",
          "limit", "after", "before", "begin", "end", "ccy", "sz", "reduceOnly"]
INTERESTING = ["BTC-USDT", "ETH-USDT", "BTCUSDT", "btc-usdt", "SPOT", "SWAP", "cash", "cross", "buy", "sell", "limit",
               "ioc", "fok", "post_only", "market", "twap", "0", "-1", "0.001", "0.00001", "0.000015", "60000",
               "60000.01", "60000.001", "1e5", "NaN", "Infinity", "", "base_ccy", "quote_ccy", "filled", "canceled",
               "abcDEF123", "x" * 40, "é", "\x00", "100", "99999999999999999999999"]
scalars = st.one_of(st.sampled_from(INTERESTING), st.text(max_size=30), st.integers(-(10 ** 20), 10 ** 20),
                    st.floats(allow_nan=False), st.booleans(), st.none())
orders = st.dictionaries(st.sampled_from(FIELDS + ["other"]), scalars, max_size=9)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=10)
bodies = st.one_of(orders, st.lists(orders, max_size=4), json_values)
queries = st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.sampled_from(INTERESTING), st.text(max_size=20)),
                          max_size=5)
AUTH_CODES = ("50102", "50103", "50104", "50105", "50106", "50107", "50111", "50112", "50113")
AUTH_MODES = ["signed", "bad_signature", "no_key", "unknown_key", "bad_passphrase", "stale", "bad_timestamp",
              "unsigned"]


@pytest.fixture(scope="module")
def okx_endpoint() -> Iterator[VenueEndpoint]:
    process = VenueProcess(("beta:okx",), seed=SEED)
    process.start(timeout_s=60)
    try:
        yield process["beta"]
    finally:
        assert process.stop() == 0


@pytest.fixture(scope="module")
def connection(okx_endpoint: VenueEndpoint) -> Iterator[http.client.HTTPConnection]:
    parts = urlsplit(okx_endpoint.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    yield conn
    conn.close()


def _send(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    for attempt in range(2):  # the server may close a kept-alive connection: reconnect once
        try:
            conn.request(method, target, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.HTTPException, ConnectionError):
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(venue: VenueEndpoint, auth: str, method: str, target: str, body: bytes) -> dict[str, str]:
    if auth == "unsigned":
        return {}
    now = datetime.now(timezone.utc)
    timestamp = {"stale": _iso(now - timedelta(seconds=90)), "bad_timestamp": "yesterday"}.get(auth, _iso(now))
    mac = hmac.new(venue.secret.encode(), (timestamp + method + target).encode() + body, hashlib.sha256)
    headers = {"OK-ACCESS-KEY": "sim-nobody" if auth == "unknown_key" else venue.api_key,
               "OK-ACCESS-PASSPHRASE": "wrong" if auth == "bad_passphrase" else venue.passphrase,
               "OK-ACCESS-TIMESTAMP": timestamp,
               "OK-ACCESS-SIGN": "AAAA" if auth == "bad_signature" else base64.b64encode(mac.digest()).decode(),
               "Content-Type": "application/json"}
    if auth == "no_key":
        del headers["OK-ACCESS-KEY"]
    return headers


def _assert_okx_answer(status: int, payload: bytes) -> dict[str, Any]:
    assert status < 500, (status, payload[:300])
    text = payload.decode("utf-8", "replace")
    assert "Traceback" not in text and "File \"" not in text
    body = json.loads(payload)
    assert isinstance(body, dict) and set(body) == {"code", "msg", "data"}, body
    assert isinstance(body["code"], str) and isinstance(body["msg"], str) and isinstance(body["data"], list)
    assert status in (200, 401, 404, 405, 413), (status, body)
    assert (status == 401) == (body["code"] in AUTH_CODES), (status, body)  # OKX's 401s: keys, passphrase, sign, time
    for entry in body["data"] if body["code"] in ("1", "2") else ():
        assert isinstance(entry["sCode"], str) and isinstance(entry["sMsg"], str)
    return body


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from(ENDPOINTS), query=queries, body=bodies, auth=st.sampled_from(AUTH_MODES))
def test_random_requests_on_every_endpoint_get_okx_envelopes(
        connection: http.client.HTTPConnection, okx_endpoint: VenueEndpoint, endpoint: tuple[str, str],
        query: dict[str, str], body: Any, auth: str) -> None:
    method, path = endpoint
    target = f"{path}?{urlencode(query, quote_via=quote)}" if query and method == "GET" else path
    raw = json.dumps(body).encode() if method == "POST" else b""
    status, payload = _send(connection, method, target, raw or None,
                            _headers(okx_endpoint, auth, method, target, raw))
    if path == "/api/v3/ping" or path == "/api/v5/unknown":
        assert status == 404 and json.loads(payload)["code"] == "404"
        return
    _assert_okx_answer(status, payload)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(endpoint=st.sampled_from([e for e in ENDPOINTS if e[1].startswith("/api/v5/") and "unknown" not in e[1]]),
       raw=st.binary(max_size=200), auth=st.sampled_from(["signed", "unsigned"]), percent=st.booleans())
def test_malformed_bytes_get_okx_envelopes(connection: http.client.HTTPConnection, okx_endpoint: VenueEndpoint,
                                           endpoint: tuple[str, str], raw: bytes, auth: str, percent: bool) -> None:
    method, path = endpoint
    if method == "POST":
        target, body = path, raw
    else:
        text = "".join(f"%{b:02X}" for b in raw) if percent else "".join(
            chr(b) for b in raw if 0x21 <= b < 0x7F and chr(b) not in "#?")
        target, body = f"{path}?{text}", b""
    status, payload = _send(connection, method, target, body or None,
                            _headers(okx_endpoint, auth, method, target, body))
    _assert_okx_answer(status, payload)


ws_frames = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["ping", "pong", "", "{}", "[]", "null"]),
    st.builds(lambda op, args: json.dumps({"op": op, "args": args}),
              st.sampled_from(["subscribe", "unsubscribe", "login", "order", ""]),
              st.one_of(st.lists(st.dictionaries(st.sampled_from(["channel", "instId", "x"]),
                                                 st.sampled_from(["books", "books5", "bbo-tbt", "BTC-USDT", "orders",
                                                                  "DOGE-USDT", ""]), max_size=3), max_size=3),
                        json_values)),
    json_values.map(json.dumps),
)


async def _ws_session(ws_url: str, frames: list[str]) -> list[str]:
    """Send the frames then ``ping``; the replies (book pushes left out) up to the final ``pong``."""
    replies: list[str] = []
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            for frame in frames:
                await ws.send_str(frame)
            await ws.send_str("ping")
            pongs_expected = frames.count("ping") + 1
            while True:
                message = await ws.receive(timeout=5)
                assert message.type == aiohttp.WSMsgType.TEXT, message
                if message.data == "pong":
                    pongs_expected -= 1
                    if not pongs_expected:
                        return replies
                    continue
                reply = json.loads(message.data)
                if "data" in reply and "arg" in reply:
                    continue
                replies.append(reply)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(ws_frames, max_size=10), path=st.sampled_from(["/public", "/private", "/business"]))
def test_random_websocket_frames_get_okx_events_and_the_connection_survives(
        okx_endpoint: VenueEndpoint, frames: list[str], path: str) -> None:
    replies = asyncio.run(_ws_session(okx_endpoint.ws_url + path, frames))
    assert len(replies) >= len([f for f in frames if f != "ping"])  # every frame but ping gets an event
    for reply in replies:
        assert reply["event"] in ("subscribe", "unsubscribe", "error"), reply
        if reply["event"] == "error":
            assert isinstance(reply["code"], str) and reply["code"].startswith("60") and isinstance(reply["msg"], str)


def test_the_venue_still_trades_after_the_fuzzing(connection: http.client.HTTPConnection,
                                                   okx_endpoint: VenueEndpoint) -> None:
    body = json.dumps({"instId": "BTC-USDT", "tdMode": "cash", "side": "buy", "ordType": "market",
                       "sz": "0.001", "clOrdId": "afterFuzz1"}).encode()
    target = "/api/v5/trade/order"
    status, payload = _send(connection, "POST", target, body, _headers(okx_endpoint, "signed", "POST", target, body))
    answer = _assert_okx_answer(status, payload)
    assert answer["code"] == "0" and answer["data"][0]["sCode"] == "0"
    target = "/api/v5/trade/order?instId=BTC-USDT&clOrdId=afterFuzz1"
    status, payload = _send(connection, "GET", target, None, _headers(okx_endpoint, "signed", "GET", target, b""))
    order = _assert_okx_answer(status, payload)["data"][0]
    assert order["state"] == "filled" and order["accFillSz"] == "0.001"
