"""Calls to peer actors by name, through Ray.

Actors find each other by name in the ``rayarb`` namespace; a name may be routed to another actor (``route``: a venue's
standby exchange actor that took over). A handle is cached; when a call finds the actor dead the
handle is dropped, so the next call looks the (possibly recreated) actor up again; a call that may be repeated
(``idempotent``) is made once more at once through the new handle when the cached one was of a dead actor (the
supervisor recreated it under its name). Every call has a timeout.
"""
from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import ray
from ray.exceptions import ActorDiedError, RayActorError

from actors.common import exchange_actor_name

NAMESPACE = "rayarb"


class Peers:
    """Named actor handles, looked up lazily and forgotten when the actor turns out to be dead."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}
        self._routes: dict[str, str] = {}
        self._warming: set[asyncio.Task] = set()

    def target(self, name: str) -> str:
        """The actor that calls to ``name`` go to."""
        return self._routes.get(name, name)

    def route(self, name: str, actor: str) -> None:
        """Calls to ``name`` go to the actor named ``actor`` from now on (``name`` itself: the default)."""
        if self.target(name) != actor:
            self._routes[name] = actor
            self.forget(name)

    def get(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            handle = ray.get_actor(self.target(name), namespace=NAMESPACE)
            self._handles[name] = handle
        return handle

    async def resolve(self, name: str, timeout_s: float) -> Any:
        """``get`` without blocking the event loop: a name lookup is a synchronous call to Ray's GCS (measured up to
        0.4 s in an actor while the cluster is busy, more when the process first imports the actor's class), so it
        runs on a worker thread. A name routed elsewhere during the lookup is looked up again: the handle found would
        lead to the actor the name left (a takeover's route arriving while a new process makes its first call)."""
        handle = self._handles.get(name)
        async with asyncio.timeout(timeout_s):
            while handle is None:
                actor = self.target(name)
                found = await asyncio.to_thread(ray.get_actor, actor, namespace=NAMESPACE)
                if self.target(name) == actor:
                    handle = self._handles[name] = found
        return handle

    def warm(self, *names: str, method: str, timeout_s: float = 30.0) -> None:
        """Call ``method`` (one that changes nothing) on each of ``names`` in the background, so that a later call
        through Ray (the fallback when a channel breaks, a takeover's first call) finds its handle made and used: a new
        process's first lookup and first call to a peer take 0.3-0.5 s (it imports the peer's class). One that fails
        is looked up again when it is called."""
        for name in names:
            task = asyncio.get_running_loop().create_task(self._warm(name, method, timeout_s))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)

    async def _warm(self, name: str, method: str, timeout_s: float) -> None:
        try:
            await self.call(name, method, timeout_s=timeout_s, idempotent=True)
        except Exception:  # not there (yet): its first call looks it up
            pass

    def forget(self, name: str) -> None:
        self._handles.pop(name, None)

    async def call(self, name: str, method: str, *args: Any, timeout_s: float, idempotent: bool = False) -> Any:
        """``method(*args)`` on the actor ``name``. ``idempotent``: repeating the call does no harm (a read, setting a
        value, applying fills by trade id), so a cached handle found dead is replaced and the call made again."""
        cached = name in self._handles
        try:
            return await self._call(name, method, args, timeout_s)
        except ActorDiedError:
            if not (idempotent and cached):
                raise
        return await self._call(name, method, args, timeout_s)

    async def _call(self, name: str, method: str, args: tuple[Any, ...], timeout_s: float) -> Any:
        try:
            handle = await self.resolve(name, timeout_s)
            return await asyncio.wait_for(getattr(handle, method).remote(*args), timeout_s)
        except (RayActorError, ValueError):  # dead, or not (yet) registered under that name
            self.forget(name)
            raise


async def venue_market_rules(peers: Peers, venues: list[str], told: Mapping[str, Any]) -> dict[str, Any]:
    """Each venue's market rules (symbol -> ``MarketRules``): as the supervisor told them (``PeerFacts.rules``), else
    asked of the venue's exchange actor."""
    asked = [v for v in venues if v not in told]
    answers = await asyncio.gather(*(
        peers.call(exchange_actor_name(v), "market_rules", timeout_s=60, idempotent=True) for v in asked))
    found = {**told, **dict(zip(asked, answers))}
    return {v: found[v] for v in venues}
