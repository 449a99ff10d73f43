"""Conflated fan-out of order books to subscribers.

A subscriber gets at most one push in flight per symbol and at most one waiting behind it: the newest book replaces
whatever was waiting. A slow subscriber therefore sees fewer, fresher books, and nothing ever queues without bound.
Transport is injected (``send``), so this runs and is tested without Ray. ``send`` is called at once, inside
``publish``, and returns what to await for the subscriber's acknowledgement: a transport that writes eagerly puts the
book on the wire before the publisher's loop turns.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Hashable

logger = logging.getLogger(__name__)

Send = Callable[[Any, Any], Awaitable[None]]  # (subscriber handle, item) -> the acknowledgement to await


class ConflatingPublisher:
    def __init__(self, send: Send, *, push_timeout_s: float = 2.0) -> None:
        self._send = send
        self._push_timeout_s = push_timeout_s
        self._subscribers: dict[str, Any] = {}
        self._keys: dict[str, frozenset | None] = {}  # subscriber -> the keys it wants (None: all)
        self._waiting: dict[tuple[str, Hashable], Any] = {}
        self._in_flight: set[tuple[str, Hashable]] = set()
        self._tasks: set[asyncio.Task] = set()
        self.pushed = 0
        self.conflated = 0
        self.failed = 0

    def subscribe(self, name: str, handle: Any, keys: frozenset | None = None) -> None:
        """Add or replace a subscriber (a restarted subscriber comes back under the same name); ``keys`` limits
        what it receives."""
        self._subscribers[name] = handle
        self._keys[name] = keys

    def unsubscribe(self, name: str) -> None:
        self._subscribers.pop(name, None)
        self._keys.pop(name, None)

    @property
    def subscribers(self) -> list[str]:
        return sorted(self._subscribers)

    def publish(self, key: Hashable, item: Any) -> None:
        for name in self._subscribers:
            wanted = self._keys.get(name)
            if wanted is not None and key not in wanted:
                continue
            slot = (name, key)
            if slot in self._in_flight:
                if slot in self._waiting:
                    self.conflated += 1
                self._waiting[slot] = item
                continue
            self._in_flight.add(slot)
            task = asyncio.get_running_loop().create_task(self._drain(slot, self._send(self._subscribers[name], item)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drain(self, slot: tuple[str, Hashable], first: Awaitable[None]) -> None:
        name = slot[0]
        acknowledgement: Awaitable[None] | None = first
        try:
            while acknowledgement is not None:
                try:
                    async with asyncio.timeout(self._push_timeout_s):  # wait_for (3.11) can drop a cancel
                        await acknowledgement
                    self.pushed += 1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a dead or slow subscriber must not stop the others
                    self.failed += 1
                    logger.debug("push to %s failed: %s", name, type(exc).__name__)
                acknowledgement = None
                handle = self._subscribers.get(name)
                if slot in self._waiting and handle is not None:
                    acknowledgement = self._send(handle, self._waiting.pop(slot))
        finally:
            self._in_flight.discard(slot)
            self._waiting.pop(slot, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
