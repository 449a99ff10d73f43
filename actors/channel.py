"""Direct connections between actors for the hot path: books, opportunities and order legs.

A Ray actor call costs 3-4 ms on this kind of machine (p99 7-12 ms, BENCHMARKS.md); a request over a persistent socket
between the same two processes costs ~0.2 ms each way. Ray stays the control plane: it places, names and restarts the
actors, and a caller asks a peer through Ray where its channel listens (``channel_address``). The messages themselves
(frozen dataclasses, pickled) then travel over one TCP connection per caller and peer.

A caller sees a channel call exactly like a Ray call: the handler's return value, or the exception it raised. Failures
keep the distinction an order needs:
- ``ChannelUnavailable``: nothing was sent (no connection, the peer refused us, too many calls pending). ``Channels``
  then makes the same call through Ray, so a peer whose channel cannot be reached is slower, never unreachable.
- ``ChannelLost``: the request may have reached the peer (the connection broke or the call timed out after sending).
  For an order this is an unknown outcome, resolved by client order id like any other.

Each connection starts with the run's channel token (``Deployment.channel_token``); a peer that does not present it is
dropped before a single message is read. Frames are bounded in size and the calls pending per connection in number.
"""
from __future__ import annotations

import asyncio
import hmac
import inspect
import itertools
import logging
import os
import pickle
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

HEADER = struct.Struct("!I")
MAX_FRAME_BYTES = 16 * 1024 * 1024
MAX_PENDING_CALLS = 1024  # per connection: a peer that stops answering cannot make a caller's memory grow
MAX_BUFFERED_BYTES = 64 * 1024 * 1024  # answers a caller has not read: past this it is dropped
HANDSHAKE_OK = b"ok"
MAX_TOKEN_BYTES = 1024  # what an unauthenticated peer may make us read
CONNECT_TIMEOUT_S = 2.0
RECONNECT_AFTER_S = 0.5  # after a failed connect, calls go through Ray for this long before the next attempt

Handler = Callable[..., Awaitable[Any]]


class ChannelUnavailable(Exception):
    """The call was not sent."""


class ChannelLost(Exception):
    """The call was sent, or may have been, and no answer came: its effect at the peer is unknown."""


class RemoteError(Exception):
    """A peer's handler raised an exception that could not be sent back as itself."""


def _frame(payload: bytes) -> bytes:
    return HEADER.pack(len(payload)) + payload


class _Frames:
    """Cuts a byte stream into length-prefixed frames of at most ``limit`` bytes (``ValueError`` beyond it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > self.limit:
                raise ValueError(f"frame of {size} bytes exceeds {self.limit}")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[HEADER.size:end]))
            del self._buffer[:end]
        return frames


class _Connection(asyncio.Protocol):
    """One end of a channel connection. Frames are handled inside ``data_received``, as the bytes arrive: a request
    reaches its handler, and an answer its caller, without waiting for further turns of the event loop behind whatever
    else the loop holds."""

    def __init__(self, first_frame_limit: int) -> None:
        self._frames = _Frames(first_frame_limit)
        self.transport: asyncio.Transport | None = None
        self._fd: int | None = None
        self.closed = False
        self._writable: asyncio.Future | None = None  # set while the peer reads slower than we write

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else None

    def data_received(self, data: bytes) -> None:
        try:
            for frame in self._frames.feed(data):
                if self.closed:
                    return
                self.on_frame(frame)
        except Exception as exc:  # an oversized or malformed frame: this connection is finished
            logger.warning("channel: connection dropped: %s", type(exc).__name__)
            self.close()

    def on_frame(self, frame: bytes) -> None:
        raise NotImplementedError

    def write(self, payload: bytes) -> None:
        """Sent before this returns when nothing is queued ahead of it. uvloop (the loop of Ray's async actors) keeps
        what ``transport.write`` is given until the loop's current turn ends, i.e. until the caller and every callback
        after it have run: the first leg of an opportunity would wait for the second leg's journal write."""
        data = _frame(payload)
        if self._fd is not None and not self.transport.is_closing() and self.transport.get_write_buffer_size() == 0:
            try:
                sent = os.write(self._fd, data)
            except OSError:  # full (EAGAIN) or broken: the transport sends the rest, or finds the connection lost
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        self.transport.write(data)

    def pause_writing(self) -> None:
        self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    async def writable(self) -> None:
        """Returns once the transport's buffer is below its high-water mark (at once, usually)."""
        if self._writable is not None:
            await asyncio.shield(self._writable)

    def connection_lost(self, exc: Exception | None) -> None:
        self.resume_writing()
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()


class _ServerConnection(_Connection):
    """A caller's connection to a ``ChannelServer``: the token first, then requests."""

    def __init__(self, server: "ChannelServer") -> None:
        super().__init__(MAX_TOKEN_BYTES)
        self._server = server
        self._authenticated = False
        self._handshake_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server._connections.add(self)
        self._handshake_timer = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT_S, self.close)

    def on_frame(self, frame: bytes) -> None:
        if self._authenticated:
            request_id, method, args = pickle.loads(frame)
            self._server._dispatch(self, request_id, method, args)
            return
        self._handshake_timer.cancel()
        if not hmac.compare_digest(frame, self._server._token):
            self._server.refused_connections += 1
            logger.warning("channel: refused a connection that did not present the run's token")
            self.close()
            return
        self._authenticated = True
        self._frames.limit = MAX_FRAME_BYTES
        self.write(HANDSHAKE_OK)

    def close(self) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
        self._server._connections.discard(self)
        super().close()


class ChannelServer:
    """Serves ``handlers`` (name -> function) to callers that present ``token``.

    A handler is called as its request arrives. It returns the answer, or an awaitable of it: an ``async def`` handler
    starts on the loop's next turn; a plain function that does its urgent work before returning an awaitable (or the
    answer itself) does that work at once.
    """

    def __init__(self, handlers: Mapping[str, Handler], *, token: str, host: str) -> None:
        if not token:
            raise ValueError("a channel needs a non-empty token")
        self._handlers = dict(handlers)
        self._token = token.encode()
        self._host = host
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._connections: set[_ServerConnection] = set()
        self.address: tuple[str, int] | None = None
        self.refused_connections = 0

    async def start(self) -> tuple[str, int]:
        if self.address is None:
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(lambda: _ServerConnection(self), self._host, 0)
            port = self._server.sockets[0].getsockname()[1]
            self.address = (self._host, port)
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
        # Handlers already running finish (an order leg half-sent must complete); only their answers are lost.
        self._server = None
        self.address = None

    def _dispatch(self, connection: _ServerConnection, request_id: int, method: str, args: tuple) -> None:
        handler = self._handlers.get(method)
        try:
            if handler is None:
                raise LookupError(f"channel has no method {method!r}")
            result = handler(*args)
        except Exception as exc:
            self._reply(connection, (request_id, False, exc))
            return
        if not inspect.isawaitable(result):
            self._reply(connection, (request_id, True, result))
            return
        task = asyncio.get_running_loop().create_task(self._reply_when_done(connection, request_id, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply_when_done(self, connection: _ServerConnection, request_id: int, result: Awaitable[Any]) -> None:
        try:
            reply: tuple = (request_id, True, await result)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reply = (request_id, False, exc)
        self._reply(connection, reply)

    def _reply(self, connection: _ServerConnection, reply: tuple) -> None:
        try:
            payload = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
            if not reply[1]:
                pickle.loads(payload)  # an exception that cannot be rebuilt would break the caller's connection
        except Exception:  # an unpicklable result or exception: its type and text still reach the caller
            error = reply[2] if not reply[1] else TypeError("result cannot be pickled")
            payload = pickle.dumps((reply[0], False, RemoteError(f"{type(error).__name__}: {error}")))
        if connection.closed:
            return
        connection.write(payload)
        if connection.transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            logger.warning("channel: dropped a caller that stopped reading its answers")
            connection.close()


class _ClientConnection(_Connection):
    """Our end of a connection to a peer's ``ChannelServer``: the handshake answer first, then answers."""

    def __init__(self) -> None:
        super().__init__(MAX_TOKEN_BYTES)
        loop = asyncio.get_running_loop()
        self.handshake: asyncio.Future = loop.create_future()
        self.pending: dict[int, asyncio.Future] = {}

    def on_frame(self, frame: bytes) -> None:
        if not self.handshake.done():
            self.handshake.set_result(frame)
            self._frames.limit = MAX_FRAME_BYTES
            return
        request_id, ok, value = pickle.loads(frame)
        future = self.pending.pop(request_id, None)
        if future is None or future.done():
            return  # its caller timed out or was cancelled
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionResetError("connection closed during the handshake"))
            self.handshake.exception()  # retrieved: nobody may be waiting for it any more
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ChannelLost("connection lost before the answer"))
        self.pending.clear()


class ChannelClient:
    """One connection to one peer's ``ChannelServer``; calls on it may run concurrently."""

    def __init__(self, connection: _ClientConnection) -> None:
        self._connection = connection
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, host: str, port: int, token: str, timeout_s: float = CONNECT_TIMEOUT_S) -> "ChannelClient":
        """Open and authenticate a connection; ``ChannelUnavailable`` when that fails (nothing was sent)."""
        loop = asyncio.get_running_loop()
        connection: _ClientConnection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                _, connection = await loop.create_connection(_ClientConnection, host, port)
                connection.write(token.encode())
                answer = await connection.handshake
            if answer != HANDSHAKE_OK:
                raise ChannelUnavailable(f"channel at {host}:{port} refused the handshake")
        except ChannelUnavailable:
            connection.close()
            raise
        except (OSError, TimeoutError) as exc:
            if connection is not None:
                connection.close()
            raise ChannelUnavailable(f"no channel at {host}:{port}: {type(exc).__name__}") from None
        return cls(connection)

    @property
    def closed(self) -> bool:
        return self._connection.closed

    def send(self, method: str, args: tuple) -> tuple[int, asyncio.Future]:
        """Write the call now, without waiting for the event loop's next turn; its answer arrives on the future
        (hand both to ``answer``)."""
        connection = self._connection
        if connection.closed:
            raise ChannelUnavailable("connection closed")
        if len(connection.pending) >= MAX_PENDING_CALLS:
            raise ChannelUnavailable(f"{MAX_PENDING_CALLS} calls already pending on this connection")
        request_id = next(self._ids)
        payload = pickle.dumps((request_id, method, args), protocol=pickle.HIGHEST_PROTOCOL)
        future = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = future
        connection.write(payload)  # from here on the peer may act on the call
        return request_id, future

    async def answer(self, request_id: int, future: asyncio.Future, method: str, timeout_s: float) -> Any:
        """Wait for the answer to a call ``send`` wrote."""
        deadline = asyncio.timeout(timeout_s)
        try:
            async with deadline:
                await self._connection.writable()
                return await future
        except TimeoutError:
            if deadline.expired():
                raise ChannelLost(f"no answer to {method} within {timeout_s} s") from None
            raise  # the peer's handler timed out: its own exception
        finally:
            self._connection.pending.pop(request_id, None)

    async def call(self, method: str, args: tuple, timeout_s: float) -> Any:
        request_id, future = self.send(method, args)
        return await self.answer(request_id, future, method, timeout_s)

    def close(self) -> None:
        self._connection.close()


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """How a deployment's actors reach each other directly. ``host`` is where each actor's server listens: an address,
    or ``"node"`` for the address Ray uses for the actor's node (actors spread over several machines)."""

    token: str = field(repr=False)  # a secret of the run: it never appears in a repr, a log or a report
    host: str = "127.0.0.1"


class ServesChannel:
    """Mixin for an actor that answers hot-path calls over a channel as well as through Ray.

    The class sets ``channel_settings`` and lists the methods in ``channel_methods``; callers ask ``channel_address``
    (through Ray) once per connection. The server starts on the first ask, inside the actor's event loop, so its
    handlers run on the same loop as the actor's Ray methods and share its state without locks. Where the class has a
    plain method ``<name>_now``, the channel calls that one as the request arrives: it does the urgent part at once and
    returns the answer or an awaitable of it (the Ray method ``<name>`` awaits the same).
    """

    channel_methods: tuple[str, ...] = ()
    channel_settings: ChannelSettings | None = None
    _channel_server: ChannelServer | None = None
    _channel_lock: asyncio.Lock | None = None

    async def channel_address(self) -> tuple[str, int] | None:
        """Where this actor's channel listens; None when the deployment runs without channels."""
        settings = self.channel_settings
        if settings is None:
            return None
        if self._channel_lock is None:
            self._channel_lock = asyncio.Lock()
        async with self._channel_lock:
            if self._channel_server is None:
                handlers = {name: getattr(self, f"{name}_now", None) or getattr(self, name)
                            for name in self.channel_methods}
                self._channel_server = ChannelServer(handlers, token=settings.token, host=listen_host(settings.host))
            return await self._channel_server.start()

    async def close_channel(self) -> None:
        if self._channel_server is not None:
            await self._channel_server.close()
            self._channel_server = None


def listen_host(host: str) -> str:
    """The address to listen on for a ``ChannelSettings.host``: ``"node"`` is the address Ray uses for this node."""
    if host != "node":
        return host
    import ray  # only here: the rest of this module runs without Ray

    return ray.util.get_node_ip_address()


class Channels:
    """The caller's side: one connection per peer actor, by name, replaced when it breaks.

    ``peers`` makes Ray calls by name (``actors.peers.Peers``): it finds a peer's channel and carries a call whose
    channel cannot be reached. Without settings every call goes through Ray.
    """

    def __init__(self, peers: Any, settings: ChannelSettings | None) -> None:
        self._peers = peers
        self._token = settings.token if settings is not None else None
        self._clients: dict[str, ChannelClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_at: dict[str, float] = {}
        self.direct = 0  # calls sent over a channel
        self.through_ray = 0  # calls that went through Ray because the peer's channel was unavailable

    async def call(self, name: str, method: str, *args: Any, timeout_s: float) -> Any:
        return await self.request(name, method, *args, timeout_s=timeout_s)

    def request(self, name: str, method: str, *args: Any, timeout_s: float) -> Awaitable[Any]:
        """``call``, but written at once when the connection to ``name`` is open: the message leaves before the
        caller's loop runs anything else. Await the result for the answer (it must be awaited)."""
        sent = self._send_if_open(name, method, args, timeout_s)
        return sent if sent is not None else self._connect_and_call(name, method, args, timeout_s)

    def stats(self) -> dict[str, int]:
        return {"direct": self.direct, "through_ray": self.through_ray}

    def _send_if_open(self, name: str, method: str, args: tuple, timeout_s: float) -> Awaitable[Any] | None:
        client = self._clients.get(name)
        if self._token is None or client is None or client.closed:
            return None
        try:
            request_id, future = client.send(method, args)
        except ChannelUnavailable:
            return None
        self.direct += 1
        return client.answer(request_id, future, method, timeout_s)

    async def _connect_and_call(self, name: str, method: str, args: tuple, timeout_s: float) -> Any:
        if self._token is not None:
            try:
                await self._connection(name)
            except ChannelUnavailable as exc:
                logger.debug("channel to %s unavailable (%s); calling %s through Ray", name, exc, method)
            else:
                sent = self._send_if_open(name, method, args, timeout_s)
                if sent is not None:
                    return await sent
            self.through_ray += 1
        return await self._peers.call(name, method, *args, timeout_s=timeout_s)

    async def connect(self, *names: str) -> None:
        """Open the connections to ``names`` now, so that the first hot-path call does not pay for them; a peer that
        cannot be reached is left to the first call."""
        if self._token is None:
            return
        results = await asyncio.gather(*(self._connection(name) for name in names), return_exceptions=True)
        for name, result in zip(names, results):
            if isinstance(result, ChannelUnavailable):
                logger.info("channel to %s not open yet: %s", name, result)

    async def _connection(self, name: str) -> ChannelClient:
        client = self._clients.get(name)
        if client is not None and not client.closed:
            return client
        if time.monotonic() < self._retry_at.get(name, 0.0):
            raise ChannelUnavailable("the last connection attempt failed moments ago")
        async with self._locks.setdefault(name, asyncio.Lock()):
            client = self._clients.get(name)
            if client is not None and not client.closed:
                return client
            try:
                address = await self._peers.call(name, "channel_address", timeout_s=CONNECT_TIMEOUT_S)
                if address is None:
                    raise ChannelUnavailable(f"{name} serves no channel")
                client = await ChannelClient.connect(address[0], address[1], self._token)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._retry_at[name] = time.monotonic() + RECONNECT_AFTER_S
                if isinstance(exc, ChannelUnavailable):
                    raise
                raise ChannelUnavailable(f"{name}: {type(exc).__name__}") from None
            self._clients[name] = client
            return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
