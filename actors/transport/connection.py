"""One end of a channel connection: an asyncio protocol that handles frames as the bytes arrive and writes at once."""
from __future__ import annotations

import asyncio
import logging
import os

from actors.transport.wire import BadFrame, Frames, frame

logger = logging.getLogger(__name__)


class Connection(asyncio.Protocol):
    """Frames are handled inside ``data_received``, as the bytes arrive: a request reaches its handler, and an answer
    its caller, without waiting for further turns of the event loop behind whatever else the loop holds."""

    def __init__(self, frame_limit: int) -> None:
        self._frames = Frames(frame_limit)
        self.transport: asyncio.Transport | None = None
        self._fd: int | None = None  # plain TCP only: written to directly (never under TLS)
        self.closed = False
        self._writable: asyncio.Future | None = None  # set while the peer reads slower than we write

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        tls = transport.get_extra_info("sslcontext") is not None
        self._fd = sock.fileno() if sock is not None and not tls else None

    def use_transport(self, transport: asyncio.Transport) -> None:
        """Carry on over ``transport`` (the TLS transport a plain one was upgraded to)."""
        self.transport = transport
        self._fd = None

    def data_received(self, data: bytes) -> None:
        try:
            for payload in self._frames.feed(data):
                if self.closed:
                    return
                self.on_frame(payload)
        except BadFrame as exc:  # this connection is finished
            self.refuse(exc.reason, str(exc))

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
