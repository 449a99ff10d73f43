"""How the order manager's domain objects reach the exchange actors: ``VenueAdapter`` is one venue's
``execution.order_manager.ExchangeAdapter`` (orders over the exchange actor's channel, lookups and cancels as calls),
``ActorIO`` one opportunity's ``execution.arbitrage_executor.ArbitrageIO`` (every order through its venue's
``OrderManager``, so journaled before it is sent).

Both act for an ``actors.order_manager.OrderManagerActor`` (``owner``) and use its channels and peers, its
``managers``, its ``latency`` recorder and its ``last_snapshot`` of each order (the venue's answer, which the domain's
``Order`` does not keep).
"""
from __future__ import annotations

import os
import signal
from collections.abc import Awaitable
from decimal import Decimal
from typing import TYPE_CHECKING

from actors.common import exchange_actor_name
from execution.error_handler import AmbiguousOrderError, InvalidOrder
from execution.messages import CancelOrder, QueryOrder, SubmitOrder, SubmitOutcome
from execution.order_manager import Order
from execution.types import OrderBook, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from actors.order_manager import OrderManagerActor

LEG_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 15.0


class VenueAdapter:
    """``ExchangeAdapter`` for one venue's ``OrderManager``: calls the venue's exchange actor."""

    def __init__(self, owner: OrderManagerActor, venue: str) -> None:
        self._owner = owner
        self._venue = venue
        self._actor = exchange_actor_name(venue)

    def start_submit_order(self, command: SubmitOrder) -> Awaitable[OrderSnapshot]:
        """Written to the exchange actor's channel before this returns (see ``OrderManager.start_order``)."""
        if self._owner.crash_before_send:  # journaled, not sent: the chaos crash point (arm_crash_before_send)
            os.kill(os.getpid(), signal.SIGKILL)
        answer = self._owner.channels.request(self._actor, "submit_order", command, timeout_s=LEG_TIMEOUT_S)
        return self._record(command, answer)

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot:
        return await self.start_submit_order(command)

    async def _record(self, command: SubmitOrder, answer: Awaitable[SubmitOutcome]) -> OrderSnapshot:
        outcome = await answer
        self._owner.latency.order_answered(command.client_order_id, outcome.sent_at, outcome.acked_at,
                                           outcome.started_at)
        self._owner.last_snapshot[command.client_order_id] = outcome.snapshot
        return outcome.snapshot

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None:
        snapshot = await self._owner.peers.call(self._actor, "lookup_order", command.symbol, command.client_order_id,
                                                timeout_s=CALL_TIMEOUT_S, idempotent=True)
        if snapshot is not None:
            self._owner.last_snapshot[command.client_order_id] = snapshot
        return snapshot

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot:
        return await self._owner.peers.call(self._actor, "cancel_order", command.symbol, command.client_order_id,
                                            timeout_s=CALL_TIMEOUT_S)


class ActorIO:
    """``ArbitrageIO`` for one opportunity: every order goes through its venue's ``OrderManager`` (journal first)."""

    def __init__(self, owner: OrderManagerActor, opportunity_id: str) -> None:
        self._owner = owner
        self._opportunity_id = opportunity_id

    def start_submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> Awaitable[OrderSnapshot]:
        """Journaled and written to the exchange actor before this returns; await the result for the answer."""
        pending = self._owner.managers[venue].start_order(
            symbol, side, amount, price, OrderType.LIMIT, time_in_force=time_in_force, client_order_id=client_order_id,
            opportunity_id=self._opportunity_id)
        return self._answer(venue, client_order_id, pending)

    async def submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> OrderSnapshot:
        return await self.start_submit(venue, symbol, side, amount, price, time_in_force, client_order_id)

    async def _answer(self, venue: str, client_order_id: str, pending: Awaitable[Order]) -> OrderSnapshot:
        order = await pending
        if order.status is OrderStatus.UNKNOWN:
            raise AmbiguousOrderError(f"outcome of {client_order_id} at {venue} unknown: {order.reason}",
                                      exchange=venue, client_order_id=client_order_id)
        if order.status is OrderStatus.REJECTED:
            raise InvalidOrder(f"{venue} rejected {client_order_id}: {order.reason}", exchange=venue,
                               client_order_id=client_order_id)
        return self._owner.last_snapshot[client_order_id]

    async def lookup(self, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        manager = self._owner.managers[venue]
        self._owner.last_snapshot.pop(client_order_id, None)
        await manager.refresh(client_order_id)
        return self._owner.last_snapshot.get(client_order_id)

    async def order_book(self, venue: str, symbol: str) -> OrderBook:
        book = await self._owner.channels.call(exchange_actor_name(venue), "latest_book", symbol,
                                               timeout_s=CALL_TIMEOUT_S)
        if book is None:
            raise LookupError(f"no {symbol} book at {venue}")
        return book
