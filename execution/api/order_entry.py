"""The HTTP session behind a ccxt client's order requests: the signed request is on the wire before ccxt's call yields.

ccxt's async clients send every request through aiohttp, which spent ~0.5 ms (p50) between ccxt handing it a signed
order and writing it (BENCHMARKS.md, "What makes the hot path fast"): request objects, connector bookkeeping; uvloop then held the written
bytes until the end of the loop's turn. ``OrderEntrySession`` takes ccxt's place for those
requests only: the order paths of the venue (``ORDER_PATHS``), on kept-alive HTTP/1.1 connections opened ahead of the
first order (``connect``), with the request written to the socket at once, in the clear or through TLS. Every other
request (markets, balances, trades; anything through a proxy) goes to ccxt's own aiohttp session unchanged.

What ccxt sees is aiohttp's interface and aiohttp's failures, so its signing, error table and response parsing stay as
they are: a request that could not be sent or whose answer did not come raises ``aiohttp.ClientConnectionError`` (ccxt:
``ExchangeNotAvailable``) or ``asyncio.TimeoutError`` (ccxt: ``RequestTimeout``); for an order both are an unknown
outcome, settled by its client order id. A request is never sent twice: a kept-alive connection the venue closed while
idle is dropped when its close arrives, and one that closes under a request fails that request.
"""
from __future__ import annotations

import asyncio
import os
import ssl
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import httptools
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

# Per ccxt exchange id: the REST paths that place, look up and cancel one order.
ORDER_PATHS: dict[str, frozenset[str]] = {"binance": frozenset({"/api/v3/order"})}
MAX_IDLE_CONNECTIONS = 4  # per venue host: kept for the next order; more concurrent orders open more, then close them
MAX_RESPONSE_BYTES = 1 << 20  # an order's answer is ~1 kB; a venue sending more is not answering an order
REWARM_FIRST_DELAY_S = 0.5  # reopening a lost ready connection: first retry after this, doubling up to the max
REWARM_MAX_DELAY_S = 10.0
REWARM_TIMEOUT_S = 10.0


class _Answer:
    """The part of aiohttp's response that ccxt reads."""

    def __init__(self, status: int, reason: str, headers: CIMultiDict, body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = CIMultiDictProxy(headers)
        self._body = body

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        return self._body.decode(encoding or "utf-8", errors)

    @property
    def content(self) -> bytes:
        return self._body


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, TLS done here (a memory BIO) so that a write is a socket write."""

    def __init__(self, host: str, tls: ssl.SSLContext | None, on_lost: Callable[[], None]) -> None:
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self._fd: int | None = None
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = None if tls is None else tls.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        self._handshaken = tls is None
        self._received = asyncio.Event()  # new bytes during the TLS handshake
        self.closed = False
        self._answer: asyncio.Future[_Answer] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._status_text = b""
        self._headers = CIMultiDict()
        self._body: list[bytes] = []
        self._body_size = 0
        self._framed = False  # the answer carries its length (Content-Length or chunked)
        self._headers_complete = False

    # ----- asyncio.Protocol -----
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self._fd = None if sock is None else sock.fileno()

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._feed(data)
            return
        self._incoming.write(data)
        if not self._handshaken:
            self._received.set()
            return
        plain = []
        closed_by_peer = False
        try:
            while True:
                chunk = self._tls.read(65536)
                if not chunk:  # the venue's close_notify
                    closed_by_peer = True
                    break
                plain.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:  # the venue's close_notify: the end of the stream, like a TCP close
            closed_by_peer = True
        except ssl.SSLError as exc:
            self._fail(f"TLS error: {exc.reason or exc}")
            return
        finally:
            self._flush_tls()  # TLS may answer (key updates)
        if plain:
            self._feed(b"".join(plain))
        if closed_by_peer:
            self._end_of_stream(None)
            self.close()

    def eof_received(self) -> bool:
        return False  # close: a request needs both directions

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._received.set()
        self._end_of_stream(exc)
        self._on_lost()

    def _end_of_stream(self, exc: Exception | None) -> None:
        if self._answer is not None and not self._answer.done():
            if self._headers_complete and not self._framed and exc is None:
                self._complete()  # an answer without a length ends when the connection does
            else:
                self._fail("connection closed before the answer" + (f" ({type(exc).__name__})" if exc else ""))

    # ----- TLS -----
    async def handshake(self) -> None:
        if self._handshaken:
            return
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush_tls()
                if self.closed:
                    raise aiohttp.ClientConnectionError("connection closed during the TLS handshake") from None
                self._received.clear()
                await self._received.wait()
            except ssl.SSLError as exc:  # a bad certificate included
                raise aiohttp.ClientConnectionError(f"TLS handshake failed: {exc.reason or exc}") from None
        self._flush_tls()
        self._handshaken = True

    def _flush_tls(self) -> None:
        if self._outgoing.pending:
            self._write_raw(self._outgoing.read())

    # ----- a request -----
    def send(self, request: bytes) -> asyncio.Future[_Answer]:
        """Write ``request``; the future gets the answer. The bytes are in the kernel when this returns, unless the
        socket is full (then the transport sends the rest)."""
        self._answer = asyncio.get_running_loop().create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._status_text, self._headers, self._body, self._body_size = b"", CIMultiDict(), [], 0
        self._framed = self._headers_complete = False
        if self._tls is None:
            self._write_raw(request)
        else:
            self._tls.write(request)
            self._flush_tls()
        return self._answer

    def _write_raw(self, data: bytes) -> None:
        # transport.write under uvloop waits for the end of the loop's turn; the socket takes it now.
        if self._fd is not None and not self.transport.is_closing() and self.transport.get_write_buffer_size() == 0:
            try:
                sent = os.write(self._fd, data)
            except OSError:  # full or broken: the transport sends the rest or finds the connection lost
                sent = 0
            data = data[sent:]
        if data:
            self.transport.write(data)

    def _feed(self, data: bytes) -> None:
        if self._parser is None or self._answer is None or self._answer.done():
            self._fail("bytes from the venue with no request waiting")
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(f"malformed answer: {exc}")

    def _fail(self, reason: str) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(aiohttp.ServerDisconnectedError(reason))
        self.close()

    def _complete(self) -> None:
        try:
            body = _decoded(b"".join(self._body), self._headers.get("Content-Encoding", "identity"))
        except ValueError as exc:
            self._fail(str(exc))
            return
        status = self._parser.get_status_code()
        answer = _Answer(status, self._status_text.decode("latin-1"), self._headers, body)
        if not self._answer.done():
            self._answer.set_result(answer)

    def close(self) -> None:
        if self._tls is not None and self._handshaken and not self.closed:
            try:
                self._tls.unwrap()  # our close_notify, so the venue need not wait for it
            except ssl.SSLError:
                pass
            self._flush_tls()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    @property
    def reusable(self) -> bool:
        connection = self._headers.get("Connection", "").lower()
        if self._parser is not None and self._parser.get_http_version() == "1.0":
            return not self.closed and connection == "keep-alive"
        return not self.closed and connection != "close"

    # ----- httptools callbacks -----
    def on_status(self, status: bytes) -> None:
        self._status_text += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.add(name.decode("latin-1"), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        self._headers_complete = True
        self._framed = "Content-Length" in self._headers or "chunked" in self._headers.get("Transfer-Encoding", "")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > MAX_RESPONSE_BYTES:
            self._fail(f"answer over {MAX_RESPONSE_BYTES} bytes")
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._complete()


class _Request:
    """``async with session.post(...) as response``: the request leaves in ``__aenter__`` before its first await when
    a connection is ready."""

    __slots__ = ("_send",)

    def __init__(self, send: Any) -> None:
        self._send = send

    async def __aenter__(self) -> Any:
        return await self._send

    async def __aexit__(self, *exc_info: Any) -> bool:
        return False


class OrderEntrySession:
    """ccxt's session for one exchange client: the order paths on its own connections, the rest on ``fallback``.

    ``on_sending`` is called with the wall clock as an order request is handed to the kernel (the software send
    timestamp: taken before the write, so a receiver the write wakes on this CPU is not counted in it);
    ``on_connected`` each time a connection to a venue is opened.
    """

    def __init__(self, fallback: Any, order_paths: Iterable[str], *, tls: ssl.SSLContext | None = None,
                 on_sending: Callable[[float], None] | None = None,
                 on_connected: Callable[[], None] | None = None) -> None:
        self._fallback = fallback
        self._order_paths = frozenset(order_paths)
        self._tls = tls
        self._on_sending = on_sending
        self._on_connected = on_connected
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._warm: dict[tuple[str, str, int], URL] = {}  # hosts given to connect(): one connection kept ready
        self._rewarming: dict[tuple[str, str, int], asyncio.Task] = {}
        self.closed = False
        self.requests_sent = 0
        self.connections_opened = 0

    def __getattr__(self, name: str) -> Any:  # anything else ccxt may ask of a session is aiohttp's
        if name == "_fallback":
            raise AttributeError(name)
        return getattr(self._fallback, name)

    def get(self, url: URL, **kwargs: Any) -> Any:
        return self._request("GET", url, **kwargs)

    def post(self, url: URL, **kwargs: Any) -> Any:
        return self._request("POST", url, **kwargs)

    def delete(self, url: URL, **kwargs: Any) -> Any:
        return self._request("DELETE", url, **kwargs)

    def put(self, url: URL, **kwargs: Any) -> Any:
        return self._request("PUT", url, **kwargs)

    def _request(self, method: str, url: URL, *, data: Any = None, headers: dict[str, str] | None = None,
                 timeout: aiohttp.ClientTimeout | None = None, proxy: str | None = None, **kwargs: Any) -> Any:
        if (url.path not in self._order_paths or proxy is not None or kwargs
                or not (data is None or isinstance(data, bytes)) or url.scheme not in ("http", "https")):
            return getattr(self._fallback, method.lower())(url, data=data, headers=headers, timeout=timeout,
                                                           proxy=proxy, **kwargs)
        if self.closed:
            raise aiohttp.ClientConnectionError("order-entry session is closed")
        return _Request(self._exchange(method, url, data or b"", headers or {}, timeout))

    async def connect(self, url: str | URL, timeout_s: float = 10.0) -> None:
        """Open one connection to ``url``'s host ahead of the first order (TCP and TLS handshakes off the hot path),
        and from now on open another whenever the host is left without one (a venue closes idle connections)."""
        url = URL(url)
        key = self._host_key(url)
        self._warm[key] = url
        try:
            async with asyncio.timeout(timeout_s):
                connection = await self._new_connection(url)
        except Exception:
            self._lost(key)  # keep trying in the background
            raise
        self._idle.setdefault(key, []).append(connection)

    @property
    def idle_connections(self) -> int:
        return sum(not c.closed for idle in self._idle.values() for c in idle)

    def _lost(self, key: tuple[str, str, int]) -> None:
        if self.closed or key not in self._warm or key in self._rewarming:
            return
        if any(not c.closed for c in self._idle.get(key, ())):
            return
        task = asyncio.get_running_loop().create_task(self._rewarm(key))
        self._rewarming[key] = task
        task.add_done_callback(lambda _: self._rewarming.pop(key, None))

    async def _rewarm(self, key: tuple[str, str, int]) -> None:
        """Reopen ``key``'s ready connection, retrying with backoff while the venue is away; never raises."""
        delay = REWARM_FIRST_DELAY_S
        while not self.closed:
            try:
                async with asyncio.timeout(REWARM_TIMEOUT_S):
                    connection = await self._new_connection(self._warm[key])
            except asyncio.CancelledError:
                raise
            except Exception:  # connection refused, timed out, TLS: the next order would meet the same
                await asyncio.sleep(delay)
                delay = min(delay * 2, REWARM_MAX_DELAY_S)
                continue
            idle = self._idle.setdefault(key, [])
            if self.closed or len(idle) >= MAX_IDLE_CONNECTIONS:
                connection.close()
            else:
                idle.append(connection)
            return

    async def _exchange(self, method: str, url: URL, body: bytes, headers: dict[str, str],
                        timeout: aiohttp.ClientTimeout | None) -> _Answer:
        request = _request_bytes(method, url, headers, body)  # refused before a connection is taken
        total = timeout.total if timeout is not None and timeout.total else None
        deadline = None if total is None else asyncio.get_running_loop().time() + total
        key = self._host_key(url)
        # asyncio.timeout: Python 3.11's wait_for drops a cancel that arrives in the turn the answer does
        connection = self._take_idle(key)
        if connection is None:
            async with asyncio.timeout_at(deadline):
                connection = await self._new_connection(url)
        if self._on_sending is not None:
            self._on_sending(time.time())
        answer = connection.send(request)  # before the answer's timer is set: nothing ahead of the write
        self.requests_sent += 1
        try:
            async with asyncio.timeout_at(deadline):
                result = await answer
        except BaseException:
            connection.close()  # an answer may still come: this connection can carry no other request
            self._open.discard(connection)
            raise
        self._give_back(key, connection)
        return result

    @staticmethod
    def _host_key(url: URL) -> tuple[str, str, int]:
        return url.scheme, url.host or "", url.port or 0  # yarl gives http/https their default port

    def _take_idle(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
            self._open.discard(connection)
        return None

    def _give_back(self, key: tuple[str, str, int], connection: _Connection) -> None:
        idle = self._idle.setdefault(key, [])
        if connection.reusable and not self.closed and len(idle) < MAX_IDLE_CONNECTIONS:
            idle.append(connection)
        else:
            connection.close()
            self._open.discard(connection)

    async def _new_connection(self, url: URL) -> _Connection:
        tls = None
        if url.scheme == "https":
            tls = self._tls or ssl.create_default_context()
        key = self._host_key(url)
        _, host, port = key
        try:
            _, connection = await asyncio.get_running_loop().create_connection(
                lambda: _Connection(host, tls, lambda: self._lost(key)), host, port)
        except OSError as exc:
            raise aiohttp.ClientConnectionError(f"cannot connect to {host}:{port} ({type(exc).__name__})") from None
        self._open.add(connection)
        try:
            await connection.handshake()
        except BaseException:
            connection.close()
            self._open.discard(connection)
            raise
        self.connections_opened += 1
        if self._on_connected is not None:
            self._on_connected()
        return connection

    async def close(self) -> None:
        self.closed = True
        rewarming = list(self._rewarming.values())
        for task in rewarming:
            task.cancel()
        await asyncio.gather(*rewarming, return_exceptions=True)
        for connection in self._open:
            connection.close()
        self._open.clear()
        self._idle.clear()
        if self._fallback is not None:
            await self._fallback.close()


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body without its content coding (ccxt asks for gzip or deflate), at most ``MAX_RESPONSE_BYTES``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ValueError(f"answer in an encoding not asked for: {encoding}")
    # gzip: its header; deflate: zlib-wrapped as the RFC says, or raw as some servers send it
    attempts = (16 + zlib.MAX_WBITS,) if encoding != "deflate" else (zlib.MAX_WBITS, -zlib.MAX_WBITS)
    for window_bits in attempts:
        decompressor = zlib.decompressobj(window_bits)
        try:
            plain = decompressor.decompress(body, MAX_RESPONSE_BYTES)
        except zlib.error:
            continue
        if decompressor.unconsumed_tail:
            raise ValueError(f"answer over {MAX_RESPONSE_BYTES} bytes once decompressed")
        if not decompressor.eof:
            raise ValueError(f"{encoding} answer cut short")
        return plain
    raise ValueError(f"answer not valid {encoding}")


def _request_bytes(method: str, url: URL, headers: dict[str, str], body: bytes) -> bytes:
    host = url.raw_host if url.is_default_port() else f"{url.raw_host}:{url.port}"
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {host}"]
    lines.extend(f"{name}: {value}" for name, value in headers.items() if name.lower() not in ("host", "content-length"))
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    head = "\r\n".join(lines)
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        raise ValueError("a request header contains a line break")
    return (head + "\r\n\r\n").encode("latin-1") + body


def install_order_entry_session(client: Any, *, on_sending: Callable[[float], None] | None = None,
                                on_connected: Callable[[], None] | None = None) -> OrderEntrySession | None:
    """Put an ``OrderEntrySession`` in front of ``client``'s own session (ccxt async; call inside the running loop),
    when rayarb knows the venue's order paths. Returns it, or None for another venue, or when ccxt is told to take
    proxies from the environment (``aiohttp_trust_env``: aiohttp then routes every request, orders included)."""
    paths = ORDER_PATHS.get(client.id)
    if paths is None or getattr(client, "aiohttp_trust_env", False):
        return None
    client.open()  # ccxt's aiohttp session and TLS context, made as ccxt makes them
    tls = client.ssl_context
    if not isinstance(tls, ssl.SSLContext):  # ccxt's verify=False
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    session = OrderEntrySession(client.session, paths, tls=tls, on_sending=on_sending, on_connected=on_connected)
    client.session = session
    return session


def order_entry_url(client: Any) -> str | None:
    """The base URL ``client`` sends orders to (to ``connect`` ahead of the first one)."""
    api = client.urls.get("api")
    return api.get("private") if isinstance(api, dict) else None
