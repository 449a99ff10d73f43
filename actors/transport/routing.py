"""The caller's side of channels: ``Channels``, one connection per peer actor by name, replaced when it breaks."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import Any

from actors.transport.client import CONNECT_TIMEOUT_S, ChannelClient, ChannelUnavailable
from actors.transport.methods import HOT_PATH
from actors.transport.settings import ChannelSettings
from actors.transport.wire import Interface

logger = logging.getLogger(__name__)

RECONNECT_AFTER_S = 0.5  # after a failed connect, calls go through Ray for this long before the next attempt


class Channels:
    """One connection per peer actor, by name, replaced when it breaks.

    ``peers`` makes Ray calls by name (``actors.peers.Peers``): it finds a peer's channel and carries a call whose
    channel cannot be reached. Without settings every call goes through Ray.
    """

    def __init__(self, peers: Any, settings: ChannelSettings | None, interface: Interface = HOT_PATH) -> None:
        self._peers = peers
        self._settings = settings
        self._interface = interface
        self._clients: dict[str, ChannelClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._retry_at: dict[str, float] = {}
        self._rerouted: dict[str, int] = {}  # name -> how many times it was routed elsewhere (``drop``)
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
        if self._settings is None or client is None or client.closed:
            return None
        try:
            request_id, future = client.send(method, args)
        except ChannelUnavailable:
            return None
        self.direct += 1
        return client.answer(request_id, future, method, timeout_s)

    async def _connect_and_call(self, name: str, method: str, args: tuple, timeout_s: float) -> Any:
        if self._settings is not None:
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

    async def connect(self, *names: str, told: Mapping[str, tuple[str, tuple[str, int]]] | None = None) -> None:
        """Open the connections to ``names`` now, so that the first hot-path call does not pay for them; a peer that
        cannot be reached is left to the first call. ``told``: name -> (the actor it led to, where that actor's
        channel listens) as the caller was told, so no Ray call asks it; used only while the name still leads to that
        actor, and asked through Ray after all when nothing listens there any more."""
        if self._settings is None:
            return
        told = told or {}
        results = await asyncio.gather(*(self._connection(name, told.get(name)) for name in names),
                                       return_exceptions=True)
        for name, result in zip(names, results):
            if isinstance(result, ChannelUnavailable):
                logger.info("channel to %s not open yet: %s", name, result)

    async def _connection(self, name: str, told: tuple[str, tuple[str, int]] | None = None) -> ChannelClient:
        client = self._clients.get(name)
        if client is not None and not client.closed:
            return client
        if time.monotonic() < self._retry_at.get(name, 0.0):
            raise ChannelUnavailable("the last connection attempt failed moments ago")
        async with self._locks.setdefault(name, asyncio.Lock()):
            client = self._clients.get(name)
            if client is not None and not client.closed:
                return client
            rerouted = self._rerouted.get(name, 0)
            try:
                client = await self._open_told(name, told)
                if client is None:
                    address = await self._peers.call(name, "channel_address", timeout_s=CONNECT_TIMEOUT_S,
                                                     idempotent=True)
                    if address is None:
                        raise ChannelUnavailable(f"{name} serves no channel")
                    client = await ChannelClient.connect(address[0], address[1], self._settings, self._interface)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._retry_at[name] = time.monotonic() + RECONNECT_AFTER_S
                if isinstance(exc, ChannelUnavailable):
                    raise
                raise ChannelUnavailable(f"{name}: {type(exc).__name__}") from None
            if self._rerouted.get(name, 0) != rerouted:  # it may lead to the actor the name left meanwhile
                client.close()
                raise ChannelUnavailable(f"{name} was routed elsewhere while its channel opened")
            self._clients[name] = client
            return client

    async def _open_told(self, name: str, told: tuple[str, tuple[str, int]] | None) -> ChannelClient | None:
        """A connection to where the caller was told ``name``'s channel listens, if it was told so for the actor
        ``name`` leads to now; None otherwise, or when nothing listens there any more (a restart moved it)."""
        if told is None or told[0] != self._peers.target(name):
            return None
        try:
            return await ChannelClient.connect(told[1][0], told[1][1], self._settings, self._interface)
        except ChannelUnavailable:
            return None

    def drop(self, name: str) -> None:
        """Close the connection to ``name`` (it now leads to another actor): the next call opens one anew, and one
        opening now is not kept."""
        self._rerouted[name] = self._rerouted.get(name, 0) + 1
        client = self._clients.pop(name, None)
        if client is not None:
            client.close()
        self._retry_at.pop(name, None)

    def renew(self, name: str, address: tuple[str, int]) -> None:
        """``name`` has a new process, whose channel listens at ``address``: a connection to anywhere else is closed
        (to the old process, which may neither answer nor close it: a node that stopped answering), and the next call
        opens one there. A connection already there is kept, with the calls on it."""
        client = self._clients.get(name)
        if client is not None and client.address != address:
            del self._clients[name]
            client.close()
        self._retry_at.pop(name, None)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


class RenewsChannels:
    """The actor method behind ``Channels.renew``, for an actor whose ``channels`` call its peers."""

    channels: Channels

    async def renew_channel(self, name: str, address: tuple[str, int]) -> None:
        """The supervisor's word that ``name``'s new process listens at ``address`` (see ``Channels.renew``)."""
        self.channels.renew(name, (address[0], address[1]))
