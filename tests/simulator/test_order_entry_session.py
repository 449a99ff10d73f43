"""The order-entry session behind ccxt (execution/api/order_entry.py): orders through it reach a real venue exactly as
through aiohttp, every order fault of the simulator looks the same to ccxt, and HTTP framing, kept-alive connections,
failures and TLS behave as a trading client needs (never a request sent twice, never an answer taken for another's)."""
from __future__ import annotations

import asyncio
import gzip
import ssl
import time
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest
import pytest_asyncio

from execution.api.errors import translate_ccxt_error
from execution.api.order_entry import (MAX_RESPONSE_BYTES, OrderEntrySession, install_order_entry_session,
                                       order_entry_url)
from execution.api.venue import make_exchange
from execution.error_handler import AmbiguousOrderError
from tests.certificates import self_signed_certificate

SYMBOL = "BTC/USDT"
NETWORK_ERRORS = (ccxt.NetworkError, ccxt.ExchangeNotAvailable)


def order_entry(client: Any) -> OrderEntrySession:
    session = install_order_entry_session(client)
    assert isinstance(session, OrderEntrySession)
    return session


@pytest_asyncio.fixture(params=["aiohttp", "order-entry"])
async def order_client(request: pytest.FixtureRequest, make_client: Callable[..., Any]) -> Any:
    """A loaded ccxt client on the venue, its orders sent by ccxt's aiohttp session or by the order-entry session."""
    client = await make_client()
    if request.param == "order-entry":
        await order_entry(client).connect(order_entry_url(client))
    return client


# --- against the simulator --------------------------------------------------------------------------------------
async def test_orders_lookups_and_cancels_go_through_it_and_everything_else_through_aiohttp(
        client: Any, venue: Any, http: Any) -> None:
    sending: list[float] = []
    connected: list[bool] = []
    session = install_order_entry_session(client, on_sending=sending.append, on_connected=lambda: connected.append(True))
    assert session is client.session
    await session.connect(order_entry_url(client))
    book = await client.fetch_order_book(SYMBOL, 5)
    assert sending == []  # market data is not an order request
    before = time.time()
    placed = await client.create_order(SYMBOL, "limit", "buy", 0.01, book["bids"][-1][0], {"clientOrderId": "oe-1"})
    assert placed["status"] == "open" and len(sending) == 1 and before <= sending[0] <= time.time()
    (at_venue,) = await http.get(venue.url, "/_sim/orders?clientOrderId=oe-1")
    assert at_venue["receivedTimeUs"] / 1e6 >= sending[0] - 0.001  # sent, then received
    found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "oe-1"})
    assert found["id"] == placed["id"] == str(at_venue["orderId"])
    canceled = await client.cancel_order(None, SYMBOL, {"clientOrderId": "oe-1"})
    assert canceled["status"] == "canceled" and len(sending) == 3
    assert (await client.fetch_balance())["USDT"]["total"] > 0 and len(sending) == 3
    assert session.requests_sent == 3 and session.connections_opened == 1  # one kept-alive connection for all
    assert connected == [True]


async def test_a_refusal_maps_to_the_same_ccxt_error_as_through_aiohttp(order_client: Any, http: Any,
                                                                       venue: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="-1013"):  # below the minimum notional
        await order_client.create_order(SYMBOL, "limit", "buy", 0.00001, 60000, {"clientOrderId": "too-small"})
    with pytest.raises(ccxt.InsufficientFunds):
        await order_client.create_order(SYMBOL, "market", "buy", 50, None, {"clientOrderId": "too-big"})
    with pytest.raises(ccxt.OrderNotFound):
        await order_client.fetch_order(None, SYMBOL, {"clientOrderId": "never-sent"})
    assert await http.get(venue.url, "/_sim/orders") == []


async def test_reject_next_orders_places_nothing(order_client: Any, venue: Any, http: Any) -> None:
    await venue.set_faults({"reject_next_orders": 1})
    with pytest.raises(ccxt.InvalidOrder, match="simulated"):
        await order_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "rejected"})
    placed = await order_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "accepted"})
    assert placed["status"] == "closed"
    assert [o["clientOrderId"] for o in await http.get(venue.url, "/_sim/orders")] == ["accepted"]


async def test_a_dropped_order_is_a_network_error_and_never_placed(order_client: Any, venue: Any) -> None:
    await venue.set_faults({"drop_next": 1})
    with pytest.raises(NETWORK_ERRORS) as raised:
        await order_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "dropped"})
    assert isinstance(translate_ccxt_error(raised.value, client_order_id="dropped", creating_order=True),
                      AmbiguousOrderError)  # unknown outcome: settled by its client order id, never resent
    assert venue.engine.sim_orders() == []
    assert (await order_client.create_order(SYMBOL, "market", "buy", 0.001, None))["status"] == "closed"


async def test_accept_then_drop_places_it_once_and_the_lookup_finds_it(order_client: Any, venue: Any,
                                                                      http: Any) -> None:
    await venue.set_faults({"accept_then_drop_next": 1})
    with pytest.raises(NETWORK_ERRORS):
        await order_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "lost-answer"})
    (order,) = await http.get(venue.url, "/_sim/orders?clientOrderId=lost-answer")
    found = await order_client.fetch_order(None, SYMBOL, {"clientOrderId": "lost-answer"})
    assert found["id"] == str(order["orderId"]) and found["status"] == "closed"
    assert (await order_client.create_order(SYMBOL, "market", "buy", 0.001, None))["status"] == "closed"
    assert len(venue.engine.sim_orders()) == 2


async def test_throttled_orders_raise_ccxts_rate_limit_error(order_client: Any, venue: Any) -> None:
    await venue.set_faults({"throttle_next": 1, "throttle_status": 429, "retry_after_s": 3})
    with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        await order_client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "throttled"})
    assert order_client.last_response_headers.get("Retry-After") == "3"
    assert venue.engine.sim_orders() == []


async def test_a_silent_venue_is_a_request_timeout(make_client: Callable[..., Any], venue: Any) -> None:
    client = await make_client(timeout_ms=300)
    await order_entry(client).connect(order_entry_url(client))
    await venue.set_faults({"down": "silent"})
    started = time.monotonic()
    with pytest.raises(ccxt.RequestTimeout):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "unanswered"})
    assert 0.25 < time.monotonic() - started < 2.0
    await venue.set_faults({"down": None})
    assert (await client.create_order(SYMBOL, "market", "buy", 0.001, None))["status"] == "closed"


async def test_a_venue_that_went_down_and_came_back_is_reconnected(make_client: Callable[..., Any],
                                                                    venue: Any) -> None:
    client = await make_client()
    session = order_entry(client)
    await session.connect(order_entry_url(client))
    await venue.server.go_down("refuse")
    with pytest.raises(NETWORK_ERRORS):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "while-down"})
    await venue.server.come_up()
    assert (await client.create_order(SYMBOL, "market", "buy", 0.001, None))["status"] == "closed"
    assert [o["clientOrderId"] for o in venue.engine.sim_orders()] != ["while-down"]
    assert session.connections_opened >= 2


# --- framing and connections, against a scripted server -----------------------------------------------------------
class ScriptedServer:
    """An HTTP/1.1 server on 127.0.0.1 whose answers the test writes: ``answer(request_head, body)`` returns the bytes
    to send, ``None`` to close without answering, or ``...`` to keep quiet."""

    def __init__(self, answer: Callable[[bytes, bytes], Any], tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.close_idle_after_answer = False
        self._server: asyncio.AbstractServer | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "ScriptedServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"https://localhost:{port}" if self.tls else f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        for writer in self._writers:
            writer.close()
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                reply = self.answer(head, body)
                if reply is None:
                    break
                if reply is ...:
                    await asyncio.sleep(3600)
                writer.write(reply)
                await writer.drain()
                if self.close_idle_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()


def json_answer(body: bytes = b'{"ok":true}', *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


@pytest_asyncio.fixture
async def raw_client() -> AsyncIterator[Any]:
    """A ccxt client (never loaded) whose ``fetch`` the tests call directly, with the order-entry session."""
    client = make_exchange("binance", url="http://127.0.0.1:9", flavour="async", api_key="key", secret="secret",
                           timeout_ms=1_000)
    order_entry(client)
    yield client
    await client.close()


async def post_order(client: Any, base: str, body: str = "symbol=BTCUSDT&side=BUY") -> Any:
    return await client.fetch(base + "/api/v3/order", "POST", {"X-MBX-APIKEY": "key"}, body)


async def test_the_request_is_http_1_1_with_its_host_headers_and_exact_body(raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        assert await post_order(raw_client, server.url, "a=1&b=%C3%A9") == {"ok": True}
    head, body = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /api/v3/order HTTP/1.1"
    port = server.url.rsplit(":", 1)[1]
    assert f"Host: 127.0.0.1:{port}" in lines and "X-MBX-APIKEY: key" in lines and "Content-Length: 12" in lines
    assert body == b"a=1&b=%C3%A9"


async def test_chunked_and_until_close_answers_are_read_whole(raw_client: Any) -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
               b"5;ext=1\r\n{\"a\":\r\n4\r\n[1,2\r\n2\r\n]}\r\n0\r\nTrailer: x\r\n\r\n")
    until_close = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"b\":2}"
    answers = iter([chunked, until_close])
    async with ScriptedServer(lambda head, body: next(answers)) as server:
        assert await post_order(raw_client, server.url) == {"a": [1, 2]}
        server.close_idle_after_answer = True
        assert await post_order(raw_client, server.url) == {"b": 2}
    assert server.connections == 1  # the chunked answer left the connection open for the next request


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw deflate"])
async def test_compressed_answers_are_decoded_as_ccxt_asked_for_them(raw_client: Any, encoding: str) -> None:
    plain = b'{"orderId":1,"fills":[' + b",".join([b'{"qty":"0.1"}'] * 200) + b"]}"
    if encoding == "gzip":
        body = gzip.compress(plain)
    else:
        compressor = zlib.compressobj(wbits=zlib.MAX_WBITS if encoding == "deflate" else -zlib.MAX_WBITS)
        body = compressor.compress(plain) + compressor.flush()
    name = encoding.split()[-1].encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    answer = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: %s\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n%s" % (name, chunked))
    async with ScriptedServer(lambda head, body: answer) as server:
        result = await post_order(raw_client, server.url)
    assert result["orderId"] == 1 and len(result["fills"]) == 200
    assert b"Accept-Encoding: gzip, deflate" in server.requests[0][0]  # what ccxt asks for


@pytest.mark.parametrize("case", ["unasked encoding", "corrupt gzip", "truncated gzip", "gzip bomb"])
async def test_an_answer_that_cannot_be_decoded_is_an_unknown_outcome(raw_client: Any, case: str) -> None:
    body = {"unasked encoding": b"\x1b\x00", "corrupt gzip": b"\x1f\x8bnot gzip at all",
            "truncated gzip": gzip.compress(b'{"orderId":1}' * 50)[:-12],
            "gzip bomb": gzip.compress(b" " * (MAX_RESPONSE_BYTES + 1))}[case]
    encoding = b"br" if case == "unasked encoding" else b"gzip"
    answer = json_answer(body, extra=b"Content-Encoding: %s\r\n" % encoding)
    async with ScriptedServer(lambda head, body: answer) as server:
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await post_order(raw_client, server.url)
    assert len(server.requests) == 1


async def test_one_kept_alive_connection_carries_sequential_orders_and_concurrent_ones_get_their_own(
        raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: json_answer(b'{"n":%s}' % body.split(b"=")[1])) as server:
        for i in range(3):
            assert await post_order(raw_client, server.url, f"n={i}") == {"n": i}
        assert server.connections == 1
        answers = await asyncio.gather(*(post_order(raw_client, server.url, f"n={i}") for i in range(10, 16)))
        assert answers == [{"n": i} for i in range(10, 16)]  # each answer to its own request
    assert len(server.requests) == 9 and server.connections >= 2


async def test_a_connection_the_venue_closed_while_idle_is_not_used_and_nothing_is_sent_twice(
        raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        server.close_idle_after_answer = True  # the venue's keep-alive timeout, at once
        for _ in range(3):
            assert await post_order(raw_client, server.url) == {"ok": True}
            await asyncio.sleep(0.05)  # the close arrives while the connection is idle
    assert len(server.requests) == 3 and server.connections == 3


async def test_a_warm_connection_the_venue_closes_is_replaced_off_the_order_path(raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        session = raw_client.session
        await session.connect(server.url)
        assert await post_order(raw_client, server.url) == {"ok": True}
        for writer in list(server._writers):  # the venue's keep-alive timeout on the idle connection
            writer.close()
        for _ in range(100):
            if server.connections == 2 and session.idle_connections == 1:
                break
            await asyncio.sleep(0.02)
        assert server.connections == 2 and session.idle_connections == 1  # reopened, waiting for the next order
        opened = session.connections_opened
        assert await post_order(raw_client, server.url) == {"ok": True}
        assert session.connections_opened == opened and len(server.requests) == 2


async def test_replacing_a_warm_connection_retries_while_the_venue_is_away_and_stops_at_close(
        raw_client: Any) -> None:
    session = raw_client.session
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        await session.connect(server.url)
        for writer in list(server._writers):
            writer.close()
    with pytest.raises(aiohttp.ClientConnectionError):  # no venue there: retried in the background as well
        await session.connect(server.url, timeout_s=1)
    await asyncio.sleep(0.3)  # the server is gone: reconnecting fails and is retried after a pause
    assert session.connections_opened == 1 and len(session._rewarming) == 1
    await session.close()
    assert session.idle_connections == 0 and not session._rewarming


@pytest.mark.parametrize("reply", [None, b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"cut\":", b"garbage\r\n\r\n"],
                         ids=["closed-before-answer", "closed-mid-answer", "malformed"])
async def test_a_request_without_a_whole_answer_is_an_unknown_outcome_sent_once(raw_client: Any,
                                                                                reply: bytes | None) -> None:
    def answer(head: bytes, body: bytes) -> bytes | None:
        return reply if len(server.requests) == 1 else json_answer()

    async with ScriptedServer(answer) as server:
        server.close_idle_after_answer = reply is not None
        with pytest.raises(ccxt.ExchangeNotAvailable) as raised:
            await post_order(raw_client, server.url)
        assert isinstance(translate_ccxt_error(raised.value, client_order_id="c1", creating_order=True),
                          AmbiguousOrderError)
        assert len(server.requests) == 1  # not resent
        assert await post_order(raw_client, server.url) == {"ok": True}  # the next request has a fresh connection


async def test_a_silent_server_times_out_at_ccxts_timeout_and_its_connection_is_not_reused(raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: ... if len(server.requests) == 1 else json_answer()) as server:
        started = time.monotonic()
        with pytest.raises(ccxt.RequestTimeout):
            await post_order(raw_client, server.url)
        assert 0.9 < time.monotonic() - started < 3.0
        assert await post_order(raw_client, server.url) == {"ok": True}
    assert server.connections == 2 and len(server.requests) == 2


async def test_an_oversized_answer_is_refused(raw_client: Any) -> None:
    huge = b"x" * (MAX_RESPONSE_BYTES + 1)
    async with ScriptedServer(lambda head, body: json_answer(huge)) as server:
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await post_order(raw_client, server.url)


async def test_a_header_with_a_line_break_is_refused_and_nothing_is_sent(raw_client: Any) -> None:
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        assert await post_order(raw_client, server.url, "n=1") == {"ok": True}
        with pytest.raises(ValueError, match="line break"):
            await raw_client.fetch(server.url + "/api/v3/order", "POST", {"X-Evil": "a\r\nX-Injected: 1"}, "a=1")
        assert await post_order(raw_client, server.url, "n=2") == {"ok": True}  # its connection kept
    assert [body for _, body in server.requests] == [b"n=1", b"n=2"] and server.connections == 1


async def test_requests_to_other_paths_go_to_ccxts_own_session(raw_client: Any) -> None:
    session = raw_client.session
    async with ScriptedServer(lambda head, body: json_answer()) as server:
        assert await raw_client.fetch(server.url + "/api/v3/account", "GET", {}, None) == {"ok": True}
    assert session.requests_sent == 0 and len(server.requests) == 1
    assert b"aiohttp" in server.requests[0][0] or b"Accept-Encoding" in server.requests[0][0]


async def test_a_closed_session_sends_nothing(raw_client: Any) -> None:
    await raw_client.session.close()
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await post_order(raw_client, "http://127.0.0.1:9")


# --- TLS -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def tls_server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


async def test_orders_over_tls_verified_against_the_venues_certificate(
        tls_server_context: tuple[ssl.SSLContext, Path]) -> None:
    server_context, cert = tls_server_context
    client = make_exchange("binance", url="https://localhost:9", flavour="async", api_key="key", secret="secret",
                           timeout_ms=2_000)
    client.cafile = str(cert)  # ccxt builds its TLS context from this; the order-entry session uses that context
    session = order_entry(client)
    try:
        async with ScriptedServer(lambda head, body: json_answer(b'{"n":%s}' % body.split(b"=")[1]),
                                  tls=server_context) as server:
            await session.connect(server.url)
            for i in range(3):
                assert await post_order(client, server.url, f"n={i}") == {"n": i}
            big = b'{"pad":"' + b"x" * 200_000 + b'"}'  # many TLS records
            server.answer = lambda head, body: json_answer(big)
            assert (await post_order(client, server.url))["pad"] == "x" * 200_000
    finally:
        await client.close()
    assert server.connections == 1 and len(server.requests) == 4
    assert server.requests[0][1] == b"n=0"


async def test_an_answer_ended_by_the_venues_tls_close_is_read_whole_and_the_connection_not_reused(
        tls_server_context: tuple[ssl.SSLContext, Path]) -> None:
    server_context, cert = tls_server_context
    client = make_exchange("binance", url="https://localhost:9", flavour="async", api_key="key", secret="secret",
                           timeout_ms=2_000)
    client.cafile = str(cert)
    session = order_entry(client)
    until_close = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"n\":1}"
    try:
        async with ScriptedServer(lambda head, body: until_close, tls=server_context) as server:
            server.close_idle_after_answer = True  # TLS close_notify, then TCP close
            assert await post_order(client, server.url) == {"n": 1}
            assert await post_order(client, server.url) == {"n": 1}
    finally:
        await client.close()
    assert server.connections == 2 and session.connections_opened == 2


async def test_a_venue_certificate_that_does_not_verify_sends_nothing(
        tls_server_context: tuple[ssl.SSLContext, Path]) -> None:
    server_context, _ = tls_server_context
    client = make_exchange("binance", url="https://localhost:9", flavour="async", api_key="key", secret="secret",
                           timeout_ms=2_000)
    order_entry(client)  # the system's trust store: our self-signed certificate is not in it
    try:
        async with ScriptedServer(lambda head, body: json_answer(), tls=server_context) as server:
            with pytest.raises(ccxt.ExchangeNotAvailable) as raised:
                await post_order(client, server.url)
            assert "secret" not in str(raised.value)
    finally:
        await client.close()
    assert server.requests == []


def test_on_uvloop_the_loop_of_the_actors_too(tls_server_context: tuple[ssl.SSLContext, Path]) -> None:
    import uvloop

    server_context, cert = tls_server_context

    async def orders_over_plain_and_tls() -> tuple[list[Any], int]:
        answers = []
        for tls in (None, server_context):
            client = make_exchange("binance", url="http://127.0.0.1:9", flavour="async", api_key="key",
                                   secret="secret", timeout_ms=2_000)
            client.cafile = str(cert)
            order_entry(client)
            try:
                async with ScriptedServer(lambda head, body: json_answer(b'{"n":%s}' % body.split(b"=")[1]),
                                          tls=tls) as server:
                    answers += [await post_order(client, server.url, f"n={i}") for i in range(3)]
                    opened = client.session.connections_opened
            finally:
                await client.close()
            assert opened == 1
        return answers, len(answers)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        answers, count = runner.run(orders_over_plain_and_tls())
    assert answers == [{"n": i} for i in range(3)] * 2 and count == 6


def test_it_is_not_installed_where_aiohttp_must_route_orders() -> None:
    other = make_exchange("kraken", flavour="async")
    assert install_order_entry_session(other) is None  # a venue whose order paths rayarb does not know
    proxied = make_exchange("binance", url="http://127.0.0.1:9", flavour="async")
    proxied.aiohttp_trust_env = True  # proxies from the environment, which only aiohttp applies
    assert install_order_entry_session(proxied) is None
    assert not isinstance(proxied.session, OrderEntrySession)
