"""One end of a channel connection: an asyncio protocol that handles frames as the bytes arrive and writes at once.

Under TLS (``tls.TlsSession``) the connection decrypts in ``data_received`` and encrypts in ``write_frame`` itself, so
the ciphertext leaves as plain TCP's bytes do: at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl

from actors.transport.tls import TlsSession
from actors.transport.wire import BadFrame, Frames, frame

logger = logging.getLogger(__name__)


class Connection(asyncio.Protocol):
    """Frames are handled inside ``data_received``, as the bytes arrive: a request reaches its handler, and an answer
    its caller, without waiting for further turns of the event loop behind whatever else the loop holds."""

    def __init__(self, frame_limit: int, tls: TlsSession | None = None) -> None:
        self._frames = Frames(frame_limit)
        self.tls = tls
        self.transport: asyncio.Transport | None = None
        self._fd: int | None = None
        self.closed = False
        self._writable: asyncio.Future | None = None  # set while the peer reads slower than we write

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        self._fd = sock.fileno() if sock is not None else None
        if self.tls is not None:
            first = self.tls.begin()
            if first:
                self._send(first)

    def data_received(self, data: bytes) -> None:
        tls = self.tls
        if tls is not None:
            established = tls.established
            try:
                data, reply = tls.receive(data)
            except ssl.SSLError as exc:
                alert = tls.pending()
                if alert:
                    self._send(alert)
                self.refuse("tls_failed", type(exc).__name__)
                return
            if reply:
                self._send(reply)
            if not established and tls.established:
                self.tls_established()
            if tls.closed_by_peer:
                self.close()
            if not data or self.closed:
                return
        try:
            for payload in self._frames.feed(data):
                if self.closed:
                    return
                self.on_frame(payload)
        except BadFrame as exc:  # this connection is finished
            self.refuse(exc.reason, str(exc))

    def tls_established(self) -> None:
        """Called once TLS is up (under TLS only)."""

    def on_frame(self, payload: bytes) -> None:
        raise NotImplementedError

    def refuse(self, reason: str, detail: str) -> None:
        """Close because the peer sent what this end does not accept."""
        logger.warning("channel: connection closed (%s: %s)", reason, detail)
        self.close()

    def write(self, payload: bytes) -> None:
        self.write_frame(frame(payload))

    def write_frame(self, data: bytes | bytearray) -> None:
        """Sent before this returns when nothing is queued ahead of it. uvloop (the loop of Ray's async actors) keeps
        what ``transport.write`` is given until the loop's current turn ends, i.e. until the caller and every callback
        after it have run: the first leg of an opportunity would wait for the second leg's journal write."""
        if self.tls is not None:
            try:
                data = self.tls.encrypt(data)
            except ssl.SSLError as exc:  # TLS ended under us: the connection is finished
                self.refuse("tls_failed", type(exc).__name__)
                return
        self._send(data)

    def _send(self, data: bytes | bytearray) -> None:
        transport = self.transport
        if self._fd is not None and not transport.is_closing() and transport.get_write_buffer_size() == 0:
            try:
                sent = os.write(self._fd, data)
            except OSError:  # full (EAGAIN) or broken: the transport sends the rest, or finds the connection lost
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        transport.write(data)

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
