"""One leg of an arbitrage: the order about to be sent (``LegIntent``, its client order id made before any I/O),
what became of it (``LegResult``), the I/O it goes through (``ArbitrageIO``), and settling it: sent at once, a
definite rejection believed, anything ambiguous looked up by client order id until terminal, never resent."""
from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from execution.eager import start_now
from execution.error_handler import ORDER_REFUSED, ErrorClass, error_class
from execution.orders.lifecycle import TERMINAL
from execution.types import ZERO, OrderBook, OrderSnapshot, OrderStatus, Side, TimeInForce

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = TERMINAL  # the order lifecycle's terminal statuses, by the name the arbitrage code has used


class LegPurpose(str, enum.Enum):
    BUY_LEG = "buy_leg"
    SELL_LEG = "sell_leg"
    UNWIND = "unwind"


@dataclass(frozen=True, slots=True)
class LegIntent:
    """An order about to be sent, with its client order id made before any I/O (journal it, then send it)."""

    venue: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    time_in_force: TimeInForce
    client_order_id: str
    purpose: LegPurpose


@dataclass(frozen=True, slots=True)
class LegResult:
    """What became of one order. ``snapshot`` is ``None`` only when the order could not be found after an ambiguous
    error (the outcome is then ``UNRESOLVED``). ``error`` is the error met on submit (type and message, no secrets)."""

    intent: LegIntent
    snapshot: OrderSnapshot | None
    error: str | None = None
    resolved_by_lookup: bool = False

    @property
    def filled(self) -> Decimal:
        return self.snapshot.filled if self.snapshot is not None else ZERO

    @property
    def resolved(self) -> bool:
        return self.snapshot is not None and self.snapshot.status in TERMINAL_STATUSES


class ArbitrageIO(Protocol):
    """The I/O ``execute_arbitrage`` needs, by venue name. A Ray actor wraps its exchange actors in one of these; the
    ccxt one is ``execution.api.binance_api.CcxtArbitrageIO``; tests use a fake.

    ``submit`` raises on failure: an error that is a definite rejection (see ``is_definite_rejection``) means the
    order does not exist; any other error means it may exist. ``lookup`` returns ``None`` when the venue does not
    know the client order id. (Binance needs the symbol to look an order up by client order id, hence ``symbol``.)

    Optionally ``start_submit`` (same arguments, a plain method): begin ``submit`` now, so that the request has been
    written when it returns, and return the awaitable answer. With it both legs leave before either is waited for;
    without it each leg is sent by its own task.
    """

    async def submit(
        self,
        venue: str,
        symbol: str,
        side: Side,
        amount: Decimal,
        price: Decimal,
        time_in_force: TimeInForce,
        client_order_id: str,
    ) -> OrderSnapshot: ...

    async def lookup(self, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot | None: ...

    async def order_book(self, venue: str, symbol: str) -> OrderBook: ...


def is_definite_rejection(error: BaseException) -> bool:
    """True when ``error`` proves the venue refused the order (it does not exist); False when it may exist.

    By the error's class (``execution.error_handler.ORDER_REFUSED``): a definite rejection, an authentication failure
    or a retryable refusal (rate limit, timestamp window: the venue did not process it). A duplicate client order id
    (the order exists) and "not found" are looked up, and count as a rejection only if the venue does not know the
    id. Timeouts, network errors, 5xx and anything unknown are ambiguous: looked up, and unresolved if never found.
    """
    # A duplicate client order id means the order exists; "not found" on create proves nothing either.
    return error_class(error) in ORDER_REFUSED


def make_client_order_id(prefix: str = "arb") -> str:
    """A fresh client order id every dialect accepts (``execution.api.dialects.PORTABLE_CLIENT_ORDER_ID``: letters and
    digits, at most 32; OKX refuses a dash): ``prefix`` (letters and digits) and 24 random hex digits."""
    if not prefix.isalnum() or len(prefix) > 8:
        raise ValueError(f"client order id prefix must be 1-8 letters or digits, got {prefix!r}")
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _rejected(intent: LegIntent) -> OrderSnapshot:
    return OrderSnapshot(
        exchange=intent.venue, symbol=intent.symbol, side=intent.side, client_order_id=intent.client_order_id,
        exchange_order_id=None, status=OrderStatus.REJECTED, amount=intent.amount, filled=ZERO, price=intent.price,
        average=None,
    )


def start_submit(io: ArbitrageIO, intent: LegIntent) -> Awaitable[OrderSnapshot]:
    """The leg's ``submit``, begun at once when ``io`` has ``start_submit``; an error it raises comes out of the
    returned awaitable, where ``send_leg`` classifies it like any other."""
    return start_now(io, "start_submit", "submit", intent.venue, intent.symbol, intent.side, intent.amount,
                     intent.price, intent.time_in_force, intent.client_order_id)


async def send_leg(
    io: ArbitrageIO,
    intent: LegIntent,
    submission: Awaitable[OrderSnapshot],
    *,
    timeout_s: float,
    lookup_attempts: int,
    lookup_interval_s: float,
    is_rejection: Callable[[BaseException], bool],
    sleep: Callable[[float], Awaitable[None]],
) -> LegResult:
    """Settle one order's ``submission``; never raises (but for cancellation). Ambiguous errors are settled by lookup,
    never by resending."""
    ids = f"{intent.venue} {intent.purpose.value} {intent.client_order_id}"
    try:
        async with asyncio.timeout(timeout_s):
            snapshot = await submission
    except asyncio.CancelledError:
        raise
    except Exception as error:  # classified below: a definite rejection, or ambiguous
        description = describe(error)
        if is_rejection(error):
            logger.info("%s rejected: %s", ids, description)
            return LegResult(intent, _rejected(intent), description)
        logger.warning("%s outcome ambiguous (%s): looking it up by client order id", ids, description)
        found = await _lookup_until_terminal(
            io, intent, None, timeout_s=timeout_s, attempts=lookup_attempts, interval_s=lookup_interval_s, sleep=sleep
        )
        if found is None and error_class(error) in (ErrorClass.DUPLICATE_ID, ErrorClass.NOT_FOUND):
            # The venue answered (e.g. "duplicate") yet does not know the id: this request created no order.
            logger.info("%s refused and unknown to the venue: rejected", ids)
            found = _rejected(intent)
        return LegResult(intent, found, description, resolved_by_lookup=True)
    if snapshot.status not in TERMINAL_STATUSES:
        logger.info("%s answered %s: waiting for its terminal state", ids, snapshot.status.value)
        found = await _lookup_until_terminal(
            io, intent, snapshot, timeout_s=timeout_s, attempts=lookup_attempts, interval_s=lookup_interval_s,
            sleep=sleep,
        )
        return LegResult(intent, found, None, resolved_by_lookup=True)
    return LegResult(intent, snapshot)


async def _lookup_until_terminal(
    io: ArbitrageIO,
    intent: LegIntent,
    last: OrderSnapshot | None,
    *,
    timeout_s: float,
    attempts: int,
    interval_s: float,
    sleep: Callable[[float], Awaitable[None]],
) -> OrderSnapshot | None:
    """Look the order up until it is terminal or ``attempts`` are spent; a "not found" is counted, not believed."""
    ids = f"{intent.venue} {intent.purpose.value} {intent.client_order_id}"
    for attempt in range(1, attempts + 1):
        try:
            found = await asyncio.wait_for(io.lookup(intent.venue, intent.symbol, intent.client_order_id), timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a failed lookup is one more attempt spent
            logger.warning("%s lookup %d/%d failed: %s", ids, attempt, attempts, describe(error))
            found = None
        if found is not None:
            last = found
            if found.status in TERMINAL_STATUSES:
                return found
        if attempt < attempts:
            await sleep(interval_s)
    if last is None:
        logger.error("%s not found after %d lookups: left for reconciliation", ids, attempts)
    return last
