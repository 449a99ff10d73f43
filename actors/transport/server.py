"""The serving end of channels: ``ChannelServer`` and the actor mixin ``ServesChannel``.

A connection is first a handshake (``handshake``; inside TLS when the server listens beyond loopback): at most
``MAX_HANDSHAKING`` connections may be handshaking at once (one more is closed at once) and each has
``HANDSHAKE_TIMEOUT_S`` from its TCP accept to finish, TLS included. Then each frame is a request: its method must be
one the server serves and its arguments must decode into that method's declared types (``wire``). Anything else closes
the connection and is counted by reason (``refused``, and the ``on_refused`` callback: the actor's
``rayarb_channel_refused_total``).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from actors.transport.connection import Connection
from actors.transport.handshake import ACCEPTED, MAX_HANDSHAKE_FRAME_BYTES, ServerHandshake, key_of
from actors.transport.methods import HOT_PATH
from actors.transport.settings import ChannelSettings, listen_host
from actors.transport.tls import TlsSession, server_context
from actors.transport.wire import (
    MAX_FRAME_BYTES,
    BadFrame,
    Interface,
    decode_request,
    encode_error,
    encode_reply,
)

logger = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 2.0  # from the TCP accept to the handshake's end (TLS included)
MAX_HANDSHAKING = 64  # connections handshaking at once per server; the next is closed at once
MAX_BUFFERED_BYTES = 64 * 1024 * 1024  # answers a caller has not read: past this it is dropped

Handler = Callable[..., Any]


class _ServerConnection(Connection):
    """A caller's connection: the handshake, then requests."""

    def __init__(self, server: "ChannelServer") -> None:
        super().__init__(MAX_HANDSHAKE_FRAME_BYTES)
        self._server = server
        self._handshake: ServerHandshake | None = ServerHandshake(server._key)
        self._challenged = False
        self.authenticated = False
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        server = self._server
        if not server._admit(self):
            self.closed = True
            transport.abort()
            return
        self._timer = asyncio.get_running_loop().call_later(server.handshake_timeout_s, self._expire)
        if server._tls is not None:  # made for admitted connections only: a flood refused at once costs no TLS state
            self.tls = TlsSession(server._tls, server_side=True)
        super().connection_made(transport)

    def _expire(self) -> None:
        if not self.authenticated and not self.closed:
            self.refuse("handshake_timeout", f"no handshake within {self._server.handshake_timeout_s} s")

    def on_frame(self, payload: bytes) -> None:
        if self.authenticated:
            self._server._dispatch(self, payload)
        elif not self._challenged:
            challenge = self._handshake.challenge(payload)
            if challenge is None:
                self.refuse("handshake_failed", "not this protocol's hello")
                return
            self._challenged = True
            self.write(challenge)
        elif self._handshake.verify(payload):
            self.authenticated = True
            self._handshake = None
            self._frames.limit = MAX_FRAME_BYTES
            self._server._authenticated(self)
            self.write(ACCEPTED)
        else:
            self.refuse("handshake_failed", "the caller did not prove it knows the run's key")

    def refuse(self, reason: str, detail: str) -> None:
        self._server._refused(reason, detail)
        self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._server._forget(self)
        super().close()


class ChannelServer:
    """Serves ``handlers`` (name -> function) under ``interface``'s declared types to callers that prove they hold
    ``settings.token``.

    A handler is called as its request arrives. It returns the answer, or an awaitable of it: an ``async def`` handler
    starts on the loop's next turn; a plain function that does its urgent work before returning an awaitable (or the
    answer itself) does that work at once.
    """

    def __init__(self, handlers: Mapping[str, Handler], interface: Interface, settings: ChannelSettings, *,
                 host: str | None = None, on_refused: Callable[[str], None] | None = None,
                 max_handshaking: int = MAX_HANDSHAKING, handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S) -> None:
        self._key = key_of(settings.token)
        undeclared = sorted(name for name in handlers if name not in interface)
        if undeclared:
            raise ValueError(f"channel methods without declared types: {', '.join(undeclared)}")
        self._methods: dict[bytes, tuple[str, Handler, Any]] = {
            name.encode("ascii"): (name, handler, interface.args_decoder(name.encode("ascii")))
            for name, handler in handlers.items()}
        self._settings = settings
        self._host = listen_host(settings.host) if host is None else host
        self._tls = None
        self._on_refused = on_refused
        self.max_handshaking = max_handshaking
        self.handshake_timeout_s = handshake_timeout_s
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._handshaking: set[_ServerConnection] = set()
        self._connections: set[_ServerConnection] = set()
        self.address: tuple[str, int] | None = None
        self.refused: Counter[str] = Counter()
        self.most_handshaking = 0  # the largest number of connections handshaking at once

    @property
    def uses_tls(self) -> bool:
        return self._settings.uses_tls(self._host)

    async def start(self) -> tuple[str, int]:
        if self.address is None:
            if self.uses_tls:
                if not self._settings.has_tls:
                    raise ValueError(f"a channel listening on {self._host} needs the run's TLS certificate and key "
                                     "(actors.transport.new_channel_settings makes them)")
                self._tls = server_context(self._settings.tls_certificate, self._settings.tls_key)
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

    @property
    def handshaking(self) -> int:
        return len(self._handshaking)

    # ----- connections -----
    def _admit(self, connection: _ServerConnection) -> bool:
        if len(self._handshaking) >= self.max_handshaking:
            self._refused("handshakes_full", f"{self.max_handshaking} connections handshaking already")
            return False
        self._handshaking.add(connection)
        self._connections.add(connection)
        self.most_handshaking = max(self.most_handshaking, len(self._handshaking))
        return True

    def _authenticated(self, connection: _ServerConnection) -> None:
        self._handshaking.discard(connection)
        if connection._timer is not None:
            connection._timer.cancel()
            connection._timer = None

    def _forget(self, connection: _ServerConnection) -> None:
        self._handshaking.discard(connection)
        self._connections.discard(connection)

    def _refused(self, reason: str, detail: str) -> None:
        self.refused[reason] += 1
        count = self.refused[reason]
        if count & (count - 1) == 0:  # the 1st, 2nd, 4th, 8th...: a flood cannot flood the log
            logger.warning("channel %s: refused a connection (%s: %s; %d so far)", self.address, reason, detail, count)
        if self._on_refused is not None:
            try:
                self._on_refused(reason)
            except Exception:  # counting must never break the channel
                logger.exception("channel: refusal not counted")

    # ----- requests -----
    def _dispatch(self, connection: _ServerConnection, payload: bytes) -> None:
        try:
            request_id, _, (name, handler, _), args = decode_request(payload, self._methods)
        except BadFrame as exc:
            connection.refuse(exc.reason, str(exc))
            return
        try:
            result = handler(*args)
        except Exception as exc:
            self._reply(connection, encode_error(request_id, exc))
            return
        if not inspect.isawaitable(result):
            self._reply_value(connection, request_id, name, result)
            return
        task = asyncio.get_running_loop().create_task(self._reply_when_done(connection, request_id, name, result))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply_when_done(self, connection: _ServerConnection, request_id: int, name: str,
                               result: Awaitable[Any]) -> None:
        try:
            value = await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._reply(connection, encode_error(request_id, exc))
            return
        self._reply_value(connection, request_id, name, value)

    def _reply_value(self, connection: _ServerConnection, request_id: int, name: str, value: Any) -> None:
        try:
            data = encode_reply(request_id, value)
        except Exception:  # a value msgpack cannot carry: its type still reaches the caller
            error = TypeError(f"the result of {name} cannot be encoded: {type(value).__name__}")
            data = encode_error(request_id, error)
        self._reply(connection, data)

    def _reply(self, connection: _ServerConnection, data: bytearray) -> None:
        if connection.closed:
            return
        connection.write_frame(data)
        if connection.transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            logger.warning("channel: dropped a caller that stopped reading its answers")
            connection.close()


class ServesChannel:
    """Mixin for an actor that answers hot-path calls over a channel as well as through Ray.

    The class sets ``channel_settings`` and lists the methods in ``channel_methods`` (each declared in
    ``channel_interface``, by default ``methods.HOT_PATH``); callers ask ``channel_address`` (through Ray) once per
    connection. The server starts on the first ask, inside the actor's event loop, so its handlers run on the same loop
    as the actor's Ray methods and share its state without locks. Where the class has a plain method ``<name>_now``,
    the channel calls that one as the request arrives: it does the urgent part at once and returns the answer or an
    awaitable of it (the Ray method ``<name>`` awaits the same). Refused connections are counted in the actor's
    ``metrics`` (``count_channel_refused``) when it has them.
    """

    channel_methods: tuple[str, ...] = ()
    channel_interface: Interface = HOT_PATH
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
                handlers = {name: _untraced(self, f"{name}_now") or _untraced(self, name)
                            for name in self.channel_methods}
                self._channel_server = ChannelServer(handlers, self.channel_interface, settings,
                                                     on_refused=self._count_channel_refused)
            return await self._channel_server.start()

    def _count_channel_refused(self, reason: str) -> None:
        count = getattr(getattr(self, "metrics", None), "count_channel_refused", None)
        if count is not None:
            count(reason)

    async def close_channel(self) -> None:
        if self._channel_server is not None:
            await self._channel_server.close()
            self._channel_server = None


def _untraced(actor: object, name: str) -> Handler | None:
    """``actor``'s method ``name`` without the tracing wrapper Ray puts around every actor method (it packs and checks
    a trace context a channel never carries: a microsecond on every request), or None."""
    method = getattr(type(actor), name, None)
    if getattr(method, "__ray_tracing_wrapped__", False):
        return method.__wrapped__.__get__(actor)
    return getattr(actor, name, None)
