"""``OrderManager``: orders at one venue. ``create_order(symbol, side, amount, price, order_type)`` (the seed's
signature) validates the order (``validation``), refusing with an ``OrderDenied`` event and nothing sent; journals it
(INITIALIZED -> SUBMITTED) BEFORE sending it through the injected ``ExchangeAdapter``. A definite refusal by the
venue makes it REJECTED; a timeout, network or 5xx error makes it UNKNOWN, never re-sent blindly, resolved by looking
its client order id up (``reconcile``). ``check_order_status(order_id)`` answers from local state.

Creating, applying what the venue says and cancelling share the manager's state here; its validation and
reconciliation are their own modules (mixins over that state)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections import ChainMap, OrderedDict
from decimal import Decimal
from typing import Any, Awaitable, Callable, Mapping, Protocol

from execution.eager import start_now
from execution.error_handler import ORDER_REFUSED, ErrorClass, FatalError, RayarbError, error_class
from execution.journal import Journal, JournalError
from execution.log import error_fields, order_fields
from execution.messages import (
    CancelOrder,
    FillApplied,
    OrderAccepted,
    OrderCancelRejected,
    OrderDenied,
    OrderEvent,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderUpdated,
    QueryOrder,
    SubmitOrder,
)
from execution.orders.ids import ClientOrderIdFactory, is_valid_client_order_id
from execution.orders.lifecycle import TRANSITIONS, VENUE_STATUSES, S, IllegalTransition, Order
from execution.orders.reconcile import Reconciliation
from execution.orders.validation import DuplicateClientOrderIdError, OrderValidation, OrderValidationError
from execution.replies import ReplyMismatch, ReplyNotApplied, UntrustedReply, reply_mismatch
from execution.types import Fill, MarketRules, OrderSnapshot, OrderStatus, OrderType, TimeInForce

logger = logging.getLogger(__name__)

class OrderNotTracked(RayarbError, KeyError):
    """No order with this client or exchange order id is known locally."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class NotCancellable(FatalError):
    """The order's status does not allow a cancel request."""


class ExchangeAdapter(Protocol):
    """What ``OrderManager`` needs from a venue connection (``execution.api`` implements it over ccxt).

    Every method raises the ``execution.error_handler`` tree, never ccxt's exceptions.
    ``query_order`` returns None when the venue does not know the client order id.
    """

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot: ...

    # Optionally ``start_submit_order(command) -> Awaitable[OrderSnapshot]`` (a plain method): write the request now
    # and return the awaitable answer, so that ``start_order`` returns with the order on its way.

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None: ...

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot: ...


Balances = Mapping[str, Decimal] | Callable[[], Mapping[str, Decimal]]
FINISHED_ORDERS_KEPT = 10_000  # terminal orders held in memory per venue (a late fill or a lookup finds the rest)


class OrderManager(OrderValidation, Reconciliation):
    """Orders at one venue (``exchange``), sent through ``adapter`` and journaled in ``journal``.

    ``rules`` maps symbol -> ``MarketRules``; ``balances`` (a mapping or a callable returning one) gives the free
    balance per asset at this venue, kept current by the caller (position tracker). ``on_event`` receives every event
    this manager makes (OrderDenied, OrderSubmitted, ..., FillApplied) — the actor forwards them.
    """

    def __init__(self, exchange: str, adapter: ExchangeAdapter, rules: Mapping[str, MarketRules], *,
                 balances: Balances, journal: Journal, id_factory: ClientOrderIdFactory | None = None,
                 on_event: Callable[[Any], None] | None = None, clock: Callable[[], float] = time.time,
                 submit_timeout_s: float = 10.0, query_timeout_s: float = 5.0, lost_order_limit: int = 3,
                 resubmit_ttl_s: float = 30.0) -> None:
        self.exchange = exchange
        self._adapter = adapter
        self._rules = dict(rules)
        self._balances = balances
        self._journal = journal
        self._ids = id_factory or ClientOrderIdFactory()
        self._on_event = on_event
        self._clock = clock
        self.submit_timeout_s = submit_timeout_s
        self.query_timeout_s = query_timeout_s
        self.lost_order_limit = lost_order_limit
        self.resubmit_ttl_s = resubmit_ttl_s
        # Orders not yet terminal, and the latest terminal ones: older ones are read back from the journal when asked
        # for, so memory and the cost of each new order's checks do not grow with the run's history.
        self._open: dict[str, Order] = {}
        self._held_events: list[Any] | None = None  # events of an apply_snapshot, until its commit is done
        self._finished: OrderedDict[str, Order] = OrderedDict()
        self._by_exchange_id: dict[str, str] = {}  # of the orders held in memory
        # answers not applied because they did not match their order, by field (execution.replies.FIELDS); the actor
        # exports them as a metric
        self.reply_mismatches: dict[str, int] = {}

    @property
    def orders(self) -> Mapping[str, Order]:
        """The orders held in memory: every open one and the latest ``FINISHED_ORDERS_KEPT`` terminal ones."""
        return ChainMap(self._open, self._finished)

    def open_orders(self) -> list[Order]:
        return list(self._open.values())

    def _held(self, client_order_id: str) -> Order | None:
        order = self._open.get(client_order_id)
        return order if order is not None else self._finished.get(client_order_id)

    def check_order_status(self, order_id: str) -> Order:
        """The order with this client order id or exchange order id, as known locally (memory, then the journal)."""
        order = self._held(order_id)
        if order is None and order_id in self._by_exchange_id:
            order = self._held(self._by_exchange_id[order_id])
        if order is None:
            row = self._journal.get(order_id)
            if row is not None and row.exchange == self.exchange:
                order = self._track(Order.restore(row, self._journal.fills(client_order_id=order_id)))
        if order is None:
            raise OrderNotTracked(f"no order {order_id!r} at {self.exchange}", exchange=self.exchange,
                                  client_order_id=order_id)
        return order

    def rules(self, symbol: str) -> MarketRules:
        return self._rules[symbol]

    def update_rules(self, rules: Mapping[str, MarketRules]) -> None:
        self._rules.update(rules)

    async def create_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT,
                           *, time_in_force: Any = TimeInForce.GTC, client_order_id: str | None = None,
                           opportunity_id: str | None = None) -> Order:
        """Validate, journal, send; return the order in the status the venue's answer left it.

        Raises the specific ``OrderValidationError`` (after an ``OrderDenied`` event; nothing sent or journaled).
        Otherwise returns the order: ACCEPTED / PARTIALLY_FILLED / FILLED / EXPIRED / CANCELED as the venue answered,
        REJECTED on a definite refusal (``order.reason`` says why), UNKNOWN when the outcome cannot be known yet (use
        ``refresh`` / ``reconcile``; never send it again yourself).
        """
        return await self.start_order(symbol, side, amount, price, order_type, time_in_force=time_in_force,
                                      client_order_id=client_order_id, opportunity_id=opportunity_id)

    def start_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT, *,
                    time_in_force: Any = TimeInForce.GTC, client_order_id: str | None = None,
                    opportunity_id: str | None = None) -> Awaitable[Order]:
        """``create_order`` in two halves: validate, journal and hand the request to the adapter now (with an adapter
        that has ``start_submit_order`` the request has been written when this returns), then await the result for
        the order as the venue's answer left it. A validation error is raised at once."""
        now = self._clock()
        try:
            valid = self.validate_order(symbol, side, amount, price, order_type, time_in_force, client_order_id,
                                        look_in_journal=False)
            cid = client_order_id or self._ids.next()
            initialized = OrderInitialized(client_order_id=cid, exchange=self.exchange, symbol=valid.symbol,
                                           opportunity_id=opportunity_id, ts_event=now, ts_init=now, side=valid.side,
                                           order_type=valid.order_type, amount=valid.amount, price=valid.price,
                                           time_in_force=valid.time_in_force)
            order = Order(initialized)
            # Write-ahead: INITIALIZED and SUBMITTED are durable before a byte goes to the venue.
            try:
                self._journal.record_submitted_order(order.journal_row(), ts_event=now, ts_init=now)
            except JournalError:  # the id is journaled already (an order no longer in memory): nothing written
                raise DuplicateClientOrderIdError("client_order_id", cid, "already used") from None
        except OrderValidationError as error:
            denied_id = client_order_id if is_valid_client_order_id(client_order_id) else self._ids.next()
            denied = OrderDenied(client_order_id=denied_id, exchange=self.exchange,
                                 symbol=symbol if isinstance(symbol, str) else repr(symbol),
                                 opportunity_id=opportunity_id, ts_event=now, ts_init=now, reason=str(error),
                                 field=error.field)
            logger.warning("order denied: %s", error, extra=order_fields(denied, field=error.field))
            self._emit(denied)
            raise
        submitted = OrderSubmitted(client_order_id=cid, exchange=self.exchange, symbol=valid.symbol,
                                   opportunity_id=opportunity_id, ts_event=now, ts_init=now)
        order.apply(submitted)
        self._track(order)
        self._emit(initialized)
        self._emit(submitted)
        submission = self._start_submit(order)
        # a journal with an intent log holds the order ahead of SQLite: written there once the request is out
        asyncio.get_running_loop().call_soon(self._journal.flush)
        return self._settle(order, submission)

    async def _settle(self, order: Order, submission: Awaitable[OrderSnapshot]) -> Order:
        await self._send(order, submission)
        return order

    def _start_submit(self, order: Order) -> Awaitable[OrderSnapshot]:
        command = order.submit_command(self._clock(), ttl_s=self.resubmit_ttl_s)
        return start_now(self._adapter, "start_submit_order", "submit_order", command)

    async def _send(self, order: Order, submission: Awaitable[OrderSnapshot]) -> None:
        try:
            async with asyncio.timeout(self.submit_timeout_s):
                snapshot = await submission
        except asyncio.CancelledError:
            self._mark_unknown(order, "send cancelled after the request may have left")
            raise
        except Exception as error:
            kind = error_class(error)
            if kind in ORDER_REFUSED:  # nothing happened at the venue: the order does not exist
                logger.warning("order rejected by %s (%s): %s", self.exchange, kind.value, error,
                               extra=order_fields(order, **error_fields(error)))
                self._apply(order, OrderRejected(client_order_id=order.client_order_id, exchange=self.exchange,
                                                 symbol=order.symbol, opportunity_id=order.opportunity_id,
                                                 reason=f"{kind.value}: {type(error).__name__}: {error}"))
            elif kind is ErrorClass.DUPLICATE_ID:  # the id is taken: that order exists; looked up, never resent
                self._mark_unknown(order, f"venue already has this client order id: {error}")
            else:  # unknown outcome (timeout, network, 5xx, "not found" on create, an adapter bug): it may exist
                logger.warning("order outcome unknown at %s: %s: %s", self.exchange, type(error).__name__, error,
                               extra=order_fields(order, **error_fields(error)))
                self._mark_unknown(order, f"{type(error).__name__}: {error}")
            return
        try:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        except UntrustedReply:
            pass  # the order is UNKNOWN: looked up by its client order id

    def _mark_unknown(self, order: Order, reason: str, *, not_found: bool = False) -> None:
        event = OrderStatusUnknown(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                                   opportunity_id=order.opportunity_id, reason=reason, not_found=not_found)
        self._apply(order, event)

    def _track(self, order: Order) -> Order:
        cid = order.client_order_id
        if order.exchange_order_id is not None:
            self._by_exchange_id[order.exchange_order_id] = cid
        if not order.is_terminal:  # new, or back from a terminal status by a late fill
            self._finished.pop(cid, None)
            self._open[cid] = order
            return order
        self._open.pop(cid, None)
        self._finished[cid] = order
        self._finished.move_to_end(cid)
        while len(self._finished) > FINISHED_ORDERS_KEPT:
            _, oldest = self._finished.popitem(last=False)
            self._by_exchange_id.pop(oldest.exchange_order_id, None)
        return order

    def _emit(self, event: Any) -> None:
        if self._on_event is None:
            return
        if self._held_events is not None:  # inside apply_snapshot: sent once its one commit is done
            self._held_events.append(event)
            return
        try:
            self._on_event(event)
        except Exception:  # a subscriber's bug must not undo an order's bookkeeping
            logger.exception("on_event subscriber failed", extra=order_fields(event))

    def _apply(self, order: Order, event: OrderEvent) -> bool:
        """Apply ``event`` to ``order`` and journal the result in one commit; emit the event (and FillApplied)."""
        before = order.status
        with self._journal.transaction():
            changed = order.apply(event)
            if not changed:
                return False
            is_new_fill = isinstance(event, OrderFilled) and self._journal.record_fill(event.fill)
            self._journal.record_transition(
                order.client_order_id, before, order.status, event=type(event).__name__, ts_event=event.ts_event,
                ts_init=event.ts_init, exchange_order_id=order.exchange_order_id, filled=order.known_filled,
                reason=getattr(event, "reason", None) or None, not_found_count=order.not_found_count)
        self._track(order)  # its exchange order id may be new, and it may have become terminal
        if before is not order.status and logger.isEnabledFor(logging.INFO):  # its fields cost even when not logged
            logger.info("order %s -> %s", before.value, order.status.value, extra=order_fields(order))
        self._emit(event)
        if is_new_fill:
            self._emit(FillApplied(fill=event.fill, order_status=order.status, opportunity_id=order.opportunity_id,
                                   ts_event=event.ts_event))
        return True

    def _apply_logged(self, order: Order, event: OrderEvent) -> bool:
        try:
            return self._apply(order, event)
        except (IllegalTransition, ValueError) as error:
            logger.error("venue report not applied: %s", error, extra=order_fields(order))
            return False

    def apply_fill(self, fill: Fill) -> FillApplied | None:
        """A fill from the venue's stream or trade history. Journaled once; a repeated trade id returns None."""
        order = self.check_order_status(fill.client_order_id)
        event = OrderFilled.from_fill(fill, opportunity_id=order.opportunity_id)
        if not self._apply(order, event):
            return None
        return FillApplied(fill=fill, order_status=order.status, opportunity_id=order.opportunity_id,
                           ts_event=event.ts_event)

    def apply_snapshot(self, snapshot: OrderSnapshot, *, answers: str | None = None) -> Order:
        """Bring the local order in line with what the venue says about it (an answer to submit, query or cancel):
        every transition and fill it brings in one journal commit (not one each: the order manager's loop is busy for
        less of the time a new opportunity may arrive), and their events sent once that commit is done.

        ``answers``: the client order id of the order whose request this answers (default: the one the answer names).
        An answer that does not match that order (``execution.replies.reply_mismatch``: another client order id,
        symbol, side, amount or price, fills beyond its amount) is not applied: the order becomes UNKNOWN (to be looked
        up by its client order id), the mismatch is logged and counted in ``reply_mismatches``, and
        ``UntrustedReply`` is raised."""
        order = self.check_order_status(answers if answers is not None else snapshot.client_order_id)
        mismatch = reply_mismatch(snapshot, client_order_id=order.client_order_id, exchange=self.exchange,
                                  symbol=order.symbol, side=order.side, amount=order.amount, price=order.price,
                                  order_type=order.order_type, exchange_order_id=order.exchange_order_id,
                                  applied_trade_ids=order.trade_ids, applied_filled=order.filled)
        if mismatch is not None:
            self._distrust(order, mismatch)
        if self._held_events is not None:
            return self._apply_snapshot(order, snapshot)
        self._held_events = []
        try:
            with self._journal.transaction():
                order = self._apply_snapshot(order, snapshot)
            events = self._held_events
        finally:
            self._held_events = None
        for event in events:
            self._emit(event)
        return order

    def _distrust(self, order: Order, mismatch: ReplyMismatch) -> None:
        """Count and log an answer that does not match ``order``, leave the order UNKNOWN, raise ``UntrustedReply``."""
        self.reply_mismatches[mismatch.field] = self.reply_mismatches.get(mismatch.field, 0) + 1
        logger.error("venue reply not applied: %s", mismatch, extra=order_fields(order, field=mismatch.field))
        if order.status is not S.UNKNOWN and (order.status, S.UNKNOWN) in TRANSITIONS:
            self._mark_unknown(order, f"untrusted reply: {mismatch}")
        self._emit(ReplyNotApplied(exchange=self.exchange, client_order_id=order.client_order_id,
                                   field=mismatch.field, ts_event=self._clock()))
        raise UntrustedReply(mismatch, exchange=self.exchange, client_order_id=order.client_order_id)

    def _apply_snapshot(self, order: Order, snapshot: OrderSnapshot) -> Order:
        common = dict(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                      exchange_order_id=snapshot.exchange_order_id, opportunity_id=order.opportunity_id)
        ts_event = snapshot.ts_ms / 1000.0 if snapshot.ts_ms is not None else self._clock()
        if snapshot.status is S.REJECTED:
            self._apply_logged(order, OrderRejected(**common, ts_event=ts_event, reason="venue reports rejected"))
            return order
        if order.status in (S.SUBMITTED, S.UNKNOWN) and snapshot.status in VENUE_STATUSES:
            self._apply_logged(order, OrderAccepted(**common, ts_event=ts_event))
        for fill in snapshot.fills:
            self._apply_logged(order, OrderFilled.from_fill(fill, opportunity_id=order.opportunity_id))
        if snapshot.status in VENUE_STATUSES:
            self._apply_logged(order, OrderUpdated(**common, ts_event=ts_event, status=snapshot.status,
                                                   filled=snapshot.filled))
        return order

    async def cancel_order(self, order_id: str) -> Order:
        """Ask the venue to cancel; the order is PENDING_CANCEL until the venue's answer. A refused cancel restores
        ACCEPTED / PARTIALLY_FILLED; a lost answer leaves PENDING_CANCEL for ``refresh``."""
        order = self.check_order_status(order_id)
        if not order.is_cancellable:
            raise NotCancellable(f"order {order.client_order_id} is {order.status.value}", exchange=self.exchange,
                                 client_order_id=order.client_order_id)
        self._apply(order, OrderPendingCancel(client_order_id=order.client_order_id, exchange=self.exchange,
                                              symbol=order.symbol, exchange_order_id=order.exchange_order_id,
                                              opportunity_id=order.opportunity_id))
        command = CancelOrder(client_order_id=order.client_order_id, exchange=self.exchange, symbol=order.symbol,
                              exchange_order_id=order.exchange_order_id, opportunity_id=order.opportunity_id)
        try:
            snapshot = await asyncio.wait_for(self._adapter.cancel_order(command), self.query_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            kind = error_class(error)
            if kind is ErrorClass.UNKNOWN_OUTCOME:
                logger.warning("cancel outcome unknown: %s: %s", type(error).__name__, error,
                               extra=order_fields(order, **error_fields(error)))
                return order
            # the cancel did not happen (refused, throttled, or the venue does not know the order): refresh settles it
            self._apply(order, OrderCancelRejected(client_order_id=order.client_order_id, exchange=self.exchange,
                                                   symbol=order.symbol, opportunity_id=order.opportunity_id,
                                                   reason=f"{kind.value}: {type(error).__name__}: {error}"))
            return order
        try:
            self.apply_snapshot(snapshot, answers=order.client_order_id)
        except UntrustedReply:
            pass  # the order is UNKNOWN: looked up by its client order id
        return order
