"""What every rayarb actor shares: actor names, the description of one deployment, and calls to peers by name.

Actors find each other by name in the ``rayarb`` namespace. A handle is cached; when a call finds the actor dead the
handle is dropped, so the next call looks the (possibly recreated) actor up again. Every call has a timeout.
"""
from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayActorError

from actors.exchange import VenueSpec
from orchestration.config import RiskConfig, StrategyConfig, SupervisorConfig

NAMESPACE = "rayarb"
DETECTOR = "detector"
ORDER_MANAGER = "order_manager"
POSITION_TRACKER = "position_tracker"
SUPERVISOR = "supervisor"
EXCHANGE_PREFIX = "exchange:"
HEAD_RESOURCE = "rayarb_head"  # custom resource of the node that holds the journal (see ray_cluster.yaml)


def exchange_actor_name(venue: str) -> str:
    return EXCHANGE_PREFIX + venue


@dataclass(frozen=True, slots=True)
class Deployment:
    """One run of rayarb: what to connect to, what to trade, and the limits. Handed to every actor."""

    run_id: str
    venues: tuple[VenueSpec, ...]
    symbols: tuple[str, ...]
    strategy: StrategyConfig
    risk: RiskConfig
    supervisor: SupervisorConfig
    journal_path: str
    pin_stateful_to_head: bool = False  # place the order manager / tracker on the node with HEAD_RESOURCE
    paper_balances: tuple[tuple[str, Decimal], ...] = ()  # per venue, when venues are paper-traded

    @property
    def venue_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.venues)

    @property
    def actor_names(self) -> tuple[str, ...]:
        return tuple(exchange_actor_name(v) for v in self.venue_names) + (POSITION_TRACKER, ORDER_MANAGER, DETECTOR)


def new_incarnation() -> str:
    """Identifies one process lifetime of an actor; the supervisor rewires an actor whose incarnation changed."""
    return uuid.uuid4().hex[:12]


class Peers:
    """Named actor handles, looked up lazily and forgotten when the actor turns out to be dead."""

    def __init__(self) -> None:
        self._handles: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        handle = self._handles.get(name)
        if handle is None:
            handle = ray.get_actor(name, namespace=NAMESPACE)
            self._handles[name] = handle
        return handle

    def forget(self, name: str) -> None:
        self._handles.pop(name, None)

    async def call(self, name: str, method: str, *args: Any, timeout_s: float) -> Any:
        try:
            handle = self.get(name)
            return await asyncio.wait_for(getattr(handle, method).remote(*args), timeout_s)
        except (RayActorError, ValueError):  # dead, or not (yet) registered under that name
            self.forget(name)
            raise
