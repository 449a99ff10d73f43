"""Orders of the ``exchange:<venue>`` actor: placing one (through ccxt and the order-entry session, or filled locally
on paper), looking one up by client order id with its trades, cancelling one, and when each order's request left.

``ExchangeOrders`` is a part of ``actors.exchange.ExchangeConnection`` (its base class), kept apart because placing
orders is a job of its own: it uses the actor's venue (``venue``), ccxt client (``_rest``), paper venue (``_paper``),
books (``_books``), metrics, start event (``_until_started``), repeatable calls (``_retried``) and balance cache
(``_apply_own_fills``, ``_refresh_balances_soon``). Order creation is never retried; an answer that is lost or does not
settle is an unknown outcome (``AmbiguousOrderError``) for the order manager to look up, never a resend.
"""
from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from actors.eager import start_eagerly
from execution.api.binance_api import create_spot_order
from execution.api.dialects import answers_ids_only, settle_acknowledged_order
from execution.api.errors import translate_ccxt_error
from execution.api.orders import order_snapshot_from_ccxt
from execution.error_handler import ErrorClass, ExchangeUnavailable, RayarbError, SendDeadlinePassed, error_class
from execution.messages import SubmitOrder, SubmitOutcome
from execution.replies import reply_mismatch
from execution.types import OrderSnapshot, OrderStatus

# Inside an order's task: the wall clock of each request ccxt hands to its HTTP client, and of each the order-entry
# session hands to the kernel (the order's own comes last).
_requests_sent_at: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("requests_sent_at", default=None)
# Inside an order's task: the order being placed, whose request may not leave after its ``expires_at``.
_placing: contextvars.ContextVar[SubmitOrder | None] = contextvars.ContextVar("placing", default=None)


def note_request_time(at: float) -> None:
    times = _requests_sent_at.get()
    if times is not None:
        times.append(at)


def note_request_times(client: Any) -> None:
    """Make ``client`` (a ccxt async exchange) note when it hands each built and signed request to its HTTP client,
    for the order being placed in the current task: "request sent" of tick-to-order and of the order round trip
    (the order-entry session then notes when it hands the request to the kernel)."""
    fetch = client.fetch

    async def fetch_noting_time(*args: Any, **kwargs: Any) -> Any:
        now = time.time()
        command = _placing.get()
        if command is not None:
            refuse_if_expired(command, now)  # the last check before the request leaves: after ccxt's throttle
        note_request_time(now)
        return await fetch(*args, **kwargs)

    client.fetch = fetch_noting_time



def refuse_if_expired(command: SubmitOrder, now: float) -> None:
    """``SendDeadlinePassed`` (nothing sent) when ``command`` may no longer leave."""
    if command.expires_at is not None and now > command.expires_at:
        raise SendDeadlinePassed(f"not sent: its TTL ended {now - command.expires_at:.3f} s before it could leave",
                                 exchange=command.exchange, client_order_id=command.client_order_id)


class ExchangeOrders:
    """Placing, looking up and cancelling orders at the venue; mixed into ``ExchangeConnection``."""

    async def submit_order(self, command: SubmitOrder) -> SubmitOutcome:
        """Place one order. Errors come back as rayarb errors: a definite refusal, or an ambiguous outcome."""
        await self._until_started(5.0)  # nothing was sent if this raises
        return await self.submit_order_now(command)

    def submit_order_now(self, command: SubmitOrder) -> Awaitable[SubmitOutcome]:
        """``submit_order`` as the channel receives it: the request is built, signed and written before this returns
        (not on the loop's next turn, behind the book messages it may hold); await the result for the answer."""
        if not self._started.is_set():
            return self.submit_order(command)
        try:
            refuse_if_expired(command, time.time())
        except SendDeadlinePassed as refused:
            return _raise(refused)
        if self._paper is not None:
            return self._fill_on_paper(command)
        return start_eagerly(self._place(command))

    async def _fill_on_paper(self, command: SubmitOrder) -> SubmitOutcome:
        sent_at = time.time()
        book = self._books.get(command.symbol)
        if book is None:
            raise ExchangeUnavailable(f"{self.venue.name} {command.symbol}: no book to paper-trade against",
                                      exchange=self.venue.name, client_order_id=command.client_order_id)
        snapshot = self._paper.fill_ioc(book.exact(), command.side, command.amount, command.price,
                                        command.client_order_id)
        return SubmitOutcome(snapshot, sent_at, time.time(), sent_at)

    async def _place(self, command: SubmitOrder) -> SubmitOutcome:
        started_at = time.time()
        requests_sent_at: list[float] = []
        _requests_sent_at.set(requests_sent_at)  # this task's own context: other orders' requests are not seen
        _placing.set(command)
        try:
            raw = await create_spot_order(self._rest, command.symbol, command.order_type, command.side, command.amount,
                                          command.price, command.time_in_force, command.client_order_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.metrics.count_exchange_error(self.venue.name, exc)
            error = translate_ccxt_error(exc, exchange=self.venue.name, client_order_id=command.client_order_id,
                                         creating_order=True)
            self.resync_clock_if_refused(error)
            raise error from None
        acked_at = time.time()
        sent_at = requests_sent_at[-1] if requests_sent_at else started_at
        _requests_sent_at.set(None)  # the lookups below are not the order's request
        _placing.set(None)
        self.metrics.observe_order_ack(self.venue.name, command.order_type, acked_at - sent_at)
        if answers_ids_only(raw):  # acknowledged with ids only (OKX): the outcome and fills come from a lookup
            try:  # a lookup that fails leaves the outcome unknown (AmbiguousOrderError): looked up later, never resent
                snapshot = await settle_acknowledged_order(self._rest, self.venue.name, command.symbol,
                                                           command.client_order_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.metrics.count_exchange_error(self.venue.name, exc.__cause__ or exc)
                self._refresh_balances_soon()
                raise
        else:
            snapshot = order_snapshot_from_ccxt(self.venue.name, raw, client_order_id=command.client_order_id)
        believable = reply_mismatch(snapshot, client_order_id=command.client_order_id, exchange=self.venue.name,
                                    symbol=command.symbol, side=command.side, amount=command.amount,
                                    price=command.price, order_type=command.order_type) is None
        if believable and snapshot.status in (OrderStatus.FILLED, OrderStatus.EXPIRED, OrderStatus.CANCELED):
            self._apply_own_fills(snapshot)  # done, nothing left locked: its fills say exactly what changed
        else:  # resting, or an answer that does not match the order (the order manager settles it by lookup)
            self._refresh_balances_soon()  # ask the venue
        return SubmitOutcome(snapshot, sent_at, acked_at, started_at)

    async def lookup_order(self, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        """The order as the venue knows it, with its trades, by client order id; None when the venue never saw it."""
        await self._until_started()
        if self._paper is not None:
            return self._paper.orders.get(client_order_id)

        async def fetch() -> tuple[dict, list | None]:
            raw = await self._rest.fetch_order(None, symbol, {"clientOrderId": client_order_id})
            if raw.get("id") and Decimal(str(raw.get("filled") or 0)) > 0:
                # GET /order carries no fills: take them from the order's trades.
                return raw, await self._rest.fetch_order_trades(raw["id"], symbol)
            return raw, None

        try:
            raw, trades = await self._retried(fetch, client_order_id)
        except RayarbError as error:
            if error_class(error) is ErrorClass.NOT_FOUND:
                return None
            raise
        return order_snapshot_from_ccxt(self.venue.name, raw, client_order_id=client_order_id, trades=trades)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderSnapshot:
        await self._until_started()

        async def cancel() -> dict:  # by client order id: a repeat after a lost answer finds the order gone (-2011)
            return await self._rest.cancel_order(None, symbol, {"clientOrderId": client_order_id})

        raw = await self._retried(cancel, client_order_id)
        if answers_ids_only(raw):  # a cancel answered with ids only (OKX): the order as the venue now has it
            return await settle_acknowledged_order(self._rest, self.venue.name, symbol, client_order_id)
        return order_snapshot_from_ccxt(self.venue.name, raw, client_order_id=client_order_id)


async def _raise(error: BaseException) -> Any:
    raise error
