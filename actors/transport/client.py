"""The calling end of a channel: ``ChannelClient``, one authenticated connection to one peer's ``ChannelServer``.

A call's failure says whether it left:
- ``ChannelUnavailable``: nothing was sent (no connection, the peer did not prove it knows the run's key or refused
  ours, a certificate that is not the run's, too many calls pending, a method the interface does not declare).
- ``ChannelLost``: the request may have reached the peer (the connection broke, the call timed out after sending, or
  an answer did not decode into its declared type). For an order this is an unknown outcome, resolved by client order
  id like any other.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import ssl
from typing import Any

from actors.transport.connection import Connection
from actors.transport.handshake import ACCEPTED, MAX_HANDSHAKE_FRAME_BYTES, ClientHandshake, key_of
from actors.transport.settings import ChannelSettings
from actors.transport.tls import TlsSession, certificate_der, client_context
from actors.transport.wire import (
    MAX_FRAME_BYTES,
    VALUE,
    BadFrame,
    Interface,
    decode_reply_header,
    encode_request,
    error_decoder,
    error_from_data,
    reply_payload,
)

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
MAX_PENDING_CALLS = 1024  # per connection: a peer that stops answering cannot make a caller's memory grow


class ChannelUnavailable(Exception):
    """The call was not sent."""


class ChannelLost(Exception):
    """The call was sent, or may have been, and no answer came: its effect at the peer is unknown."""


class _ClientConnection(Connection):
    """Our end of a connection to a peer's ``ChannelServer``: the handshake, then answers."""

    def __init__(self, handshake: ClientHandshake, tls: TlsSession | None = None,
                 expected_certificate: bytes | None = None) -> None:
        super().__init__(MAX_HANDSHAKE_FRAME_BYTES, tls)
        self._handshake: ClientHandshake | None = handshake
        self._expected_certificate = expected_certificate  # DER: the one certificate a TLS peer may present
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()  # the server accepted us
        self.authenticated = False
        self.pending: dict[int, tuple[asyncio.Future, Any]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self.tls is None:
            self.write(self._handshake.hello())

    def tls_established(self) -> None:
        if self.tls.peer_certificate() != self._expected_certificate:
            self._fail(ChannelUnavailable("the peer presented another certificate than the run's"))
            return
        self.write(self._handshake.hello())

    def refuse(self, reason: str, detail: str) -> None:
        if not self.ready.done():  # during the handshake: the caller's connect says why
            self._fail(ChannelUnavailable(f"{reason}: {detail}"))
            return
        super().refuse(reason, detail)

    def on_frame(self, payload: bytes) -> None:
        if self.authenticated:
            self._on_reply(payload)
        elif self._handshake is not None:
            proof = self._handshake.answer(payload)
            self._handshake = None
            if proof is None:
                self._fail(ChannelUnavailable("the peer did not prove it knows the run's key"))
                return
            self.write(proof)
        elif payload == ACCEPTED:
            if self.ready.done():  # the caller's connect gave up (cancelled) while the peer accepted: nobody uses us
                self.close()
                return
            self.authenticated = True
            self._frames.limit = MAX_FRAME_BYTES
            self.ready.set_result(None)
        else:
            self._fail(ChannelUnavailable("the peer answered the handshake with something else"))

    def _on_reply(self, payload: bytes) -> None:
        request_id, status = decode_reply_header(payload)
        entry = self.pending.pop(request_id, None)
        if entry is None:
            return  # its caller timed out or was cancelled
        future, decoder = entry
        try:
            if status == VALUE:
                value, error = decoder.decode(reply_payload(payload)), None
            else:
                value, error = None, error_from_data(error_decoder.decode(reply_payload(payload)))
        except Exception:
            if not future.done():
                future.set_exception(ChannelLost("the answer did not decode into its declared type"))
            raise BadFrame("undecodable", "an answer that does not decode into its declared type") from None
        if future.done():
            return
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)

    def _fail(self, error: ChannelUnavailable) -> None:
        if not self.ready.done():
            self.ready.set_exception(error)
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        if not self.ready.done():
            self.ready.set_exception(ChannelUnavailable("the peer closed the connection during the handshake"))
        if self.ready.done() and not self.ready.cancelled():
            self.ready.exception()  # retrieved: nobody may be waiting for it any more
        for future, _ in self.pending.values():
            if not future.done():
                future.set_exception(ChannelLost("connection lost before the answer"))
        self.pending.clear()


@functools.lru_cache(maxsize=8)
def _tls_for(certificate: bytes) -> tuple[ssl.SSLContext, bytes]:
    return client_context(certificate), certificate_der(certificate)


class ChannelClient:
    """One connection to one peer's ``ChannelServer``; calls on it may run concurrently."""

    def __init__(self, connection: _ClientConnection, interface: Interface, address: tuple[str, int]) -> None:
        self._connection = connection
        self.address = address  # where the peer's channel listens, as connected to
        self._ids = itertools.count(1)
        self._methods = {name: (name.encode("ascii"), interface.result_decoder(name)) for name in interface.methods}

    @classmethod
    async def connect(cls, host: str, port: int, settings: ChannelSettings, interface: Interface,
                      timeout_s: float = CONNECT_TIMEOUT_S) -> "ChannelClient":
        """Open and authenticate a connection; ``ChannelUnavailable`` when that fails (no call was sent)."""
        loop = asyncio.get_running_loop()
        handshake = ClientHandshake(key_of(settings.token))
        tls: TlsSession | None = None
        expected: bytes | None = None
        if settings.uses_tls(host):
            if settings.tls_certificate is None:
                raise ChannelUnavailable(f"a channel at {host} runs inside TLS and there is no certificate for it")
            context, expected = _tls_for(settings.tls_certificate)
            tls = TlsSession(context, server_side=False)
        connection: _ClientConnection | None = None
        try:
            async with asyncio.timeout(timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _ClientConnection(handshake, tls, expected), host, port)
                await connection.ready
        except ChannelUnavailable as exc:
            if connection is not None:
                connection.close()
            raise ChannelUnavailable(f"channel at {host}:{port}: {exc}") from None
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            if connection is not None:
                connection.close()
            raise ChannelUnavailable(f"no channel at {host}:{port}: {type(exc).__name__}") from None
        except asyncio.CancelledError:  # the caller gave up: the half-made connection must not outlive it
            if connection is not None:
                connection.close()
            raise
        return cls(connection, interface, (host, port))

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
        declared = self._methods.get(method)
        if declared is None:
            raise ChannelUnavailable(f"{method} is not a channel method")
        request_id = next(self._ids)
        try:
            data = encode_request(request_id, declared[0], args)
        except Exception as exc:  # an argument msgpack cannot carry: a bug, but nothing was sent
            raise ChannelUnavailable(f"the arguments of {method} cannot be encoded ({type(exc).__name__})") from None
        future = asyncio.get_running_loop().create_future()
        connection.pending[request_id] = (future, declared[1])
        connection.write_frame(data)  # from here on the peer may act on the call
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
