"""Reconciliation: asking the venue about orders by client order id and settling what is uncertain. A "not found"
is counted, not believed (quarantined as lost after ``lost_order_limit`` misses, still fillable); only a lost order
never acknowledged and younger than its TTL is resubmitted, with the same client order id; older ones expire.
``reconcile`` resolves every non-terminal journaled order after a restart.

``Reconciliation`` is the part of ``OrderManager`` that does this (a mixin over the manager's state)."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from execution.error_handler import FatalError
from execution.log import error_fields, order_fields
from execution.messages import OrderDenied, OrderExpired, OrderSubmitted, QueryOrder
from execution.orders.lifecycle import S, Order
from execution.replies import UntrustedReply
from execution.types import OrderSnapshot, OrderStatus

logger = logging.getLogger(__name__)

NOT_FOUND_REASON = "not found at the venue by client order id"


class ResubmitRefused(FatalError):
    """An UNKNOWN order may not be re-sent: not proven absent, partly known at the venue, or past its TTL."""


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What ``reconcile`` did: each order's status after it, and which ones are still open questions."""

    statuses: dict[str, OrderStatus] = field(default_factory=dict)
    unresolved: tuple[str, ...] = ()  # the lookup failed: try again later
    lost: tuple[str, ...] = ()  # not found lost_order_limit times in a row: quarantined, may be resubmitted in TTL


class Reconciliation:
    """``OrderManager``'s lookups, resubmission, expiry and reconciliation (see the module docstring). Uses the
    manager's state (``exchange``, ``_adapter``, ``_open``, ``_journal``, ``_clock``, ``query_timeout_s``,
    ``lost_order_limit``, ``resubmit_ttl_s``) and its ways of changing an order (``check_order_status``,
    ``apply_snapshot``, ``_apply``, ``_mark_unknown``, ``_track``, ``_held``, ``_start_submit``, ``_send``)."""

    async def refresh(self, order_id: str) -> Order:
        """Query the venue by client order id and apply its answer. Not found: counted (quarantine after
        ``lost_order_limit`` misses), never believed at once. Query errors propagate; the order is unchanged. An answer
        that does not match the order raises ``UntrustedReply`` (the order is then UNKNOWN)."""
        order = self.check_order_status(order_id)
        query = QueryOrder(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                           exchange_order_id=order.exchange_order_id)
        snapshot = await asyncio.wait_for(self._adapter.query_order(query), self.query_timeout_s)
        self._apply_lookup(order, snapshot)
        return order

    def _apply_lookup(self, order: Order, snapshot: OrderSnapshot | None) -> None:
        """Apply a lookup's answer (``UntrustedReply`` when it does not match the order)."""
        if snapshot is not None:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        elif not order.is_terminal:
            self._mark_unknown(order, NOT_FOUND_REASON, not_found=True)
            if order.not_found_count >= self.lost_order_limit:
                logger.warning("order not found %d times: quarantined as lost (still fillable)",
                               order.not_found_count, extra=order_fields(order))

    def is_lost(self, order: Order) -> bool:
        return order.status is S.UNKNOWN and order.not_found_count >= self.lost_order_limit

    async def resubmit(self, order_id: str) -> Order:
        """Re-send a lost order with the SAME client order id: only when UNKNOWN, not found ``lost_order_limit`` times
        in a row, never acknowledged or filled, and within ``resubmit_ttl_s`` of its creation. Past the TTL the order
        is EXPIRED instead and ``ResubmitRefused`` is raised."""
        order = self.check_order_status(order_id)
        if not self.is_lost(order):
            raise ResubmitRefused(f"order {order.client_order_id} is {order.status.value} with "
                                  f"{order.not_found_count} not-found lookups; only a lost UNKNOWN order is re-sent",
                                  exchange=self.exchange, client_order_id=order.client_order_id)
        if order.exchange_order_id is not None or order.known_filled > 0:
            raise ResubmitRefused(f"order {order.client_order_id} was seen at the venue; it is not re-sent",
                                  exchange=self.exchange, client_order_id=order.client_order_id)
        now = self._clock()
        if now - order.created_at > self.resubmit_ttl_s:
            self._expire(order, now)
            raise ResubmitRefused(f"order {order.client_order_id} is past its resubmission TTL "
                                  f"({self.resubmit_ttl_s} s); expired", exchange=self.exchange,
                                  client_order_id=order.client_order_id)
        self._apply(order, OrderSubmitted(client_order_id=order.client_order_id, exchange=self.exchange,
                                          symbol=order.symbol, opportunity_id=order.opportunity_id, ts_event=now,
                                          ts_init=now))
        await self._send(order, self._start_submit(order))
        return order

    def _expire(self, order: Order, now: float) -> None:
        self._apply(order, OrderExpired(client_order_id=order.client_order_id, exchange=self.exchange,
                                        symbol=order.symbol, opportunity_id=order.opportunity_id, ts_event=now,
                                        ts_init=now, reason="resubmission TTL passed while not found"))

    def expire_overdue(self) -> list[Order]:
        """EXPIRE every lost order past its resubmission TTL (it stays fillable: a late fill is still applied)."""
        now = self._clock()
        expired = []
        for order in list(self._open.values()):
            if self.is_lost(order) and now - order.created_at > self.resubmit_ttl_s:
                self._expire(order, now)
                expired.append(order)
        return expired

    async def reconcile(self, lookup: Callable[[QueryOrder], Awaitable[OrderSnapshot | None]] | None = None
                        ) -> ReconcileReport:
        """Resolve every non-terminal journaled order of this venue by client order id (start-up and recovery are
        the same path). ``lookup`` defaults to the adapter's ``query_order``. Orders only INITIALIZED were never sent
        (SUBMITTED is journaled before sending) and become DENIED. One failing lookup does not stop the others."""
        lookup = lookup or self._adapter.query_order
        statuses: dict[str, OrderStatus] = {}
        unresolved: list[str] = []
        lost: list[str] = []
        for row in self._journal.non_terminal_orders(self.exchange):
            order = self._held(row.client_order_id)
            if order is None:
                order = self._track(Order.restore(row, self._journal.fills(client_order_id=row.client_order_id)))
            if order.status is S.INITIALIZED:
                self._apply(order, OrderDenied(client_order_id=order.client_order_id, exchange=self.exchange,
                                               symbol=order.symbol, opportunity_id=order.opportunity_id,
                                               reason="journaled but never sent before a restart"))
            elif not order.is_terminal:
                query = QueryOrder(client_order_id=order.client_order_id, exchange=self.exchange,
                                   symbol=order.symbol, exchange_order_id=order.exchange_order_id)
                try:
                    snapshot = await asyncio.wait_for(lookup(query), self.query_timeout_s)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning("reconcile lookup failed: %s: %s", type(error).__name__, error,
                                   extra=order_fields(order, **error_fields(error)))
                    unresolved.append(order.client_order_id)
                else:
                    try:
                        self._apply_lookup(order, snapshot)
                    except UntrustedReply:
                        unresolved.append(order.client_order_id)
                    if self.is_lost(order):
                        lost.append(order.client_order_id)
            statuses[order.client_order_id] = order.status
        logger.info("reconciled %d orders at %s: %d unresolved, %d lost", len(statuses), self.exchange,
                    len(unresolved), len(lost), extra={"exchange": self.exchange})
        return ReconcileReport(statuses=statuses, unresolved=tuple(unresolved), lost=tuple(lost))
