"""rayarb's one error tree, and the seed's recovery function ``log_and_retry``.

Errors are translated from ccxt once, at the adapter boundary (``execution.api.errors``, where the venue's own codes
are read from one table); everything above it sees only this tree and decides by ``error_class(error)``, one of six
``ErrorClass`` values:

- ``DEFINITE_REJECTION`` — the venue (or rayarb itself) refused the request; nothing happened and repeating it unchanged
  fails again (``FatalError`` and its subclasses).
- ``RETRYABLE`` — the venue did not process the request (rate limit, timestamp outside the receive window, overload):
  nothing happened and the same call may succeed later (``RetryableError``, ``RateLimited``, ``TimestampOutsideWindow``).
- ``UNKNOWN_OUTCOME`` — the request may or may not have been processed (timeout, dropped connection, 5xx, the venue's
  own "execution status unknown"): an order is looked up by client order id, never re-sent blindly
  (``NetworkFailure`` and its subclasses, ``AmbiguousOrderError``, and any exception that is not a ``RayarbError``).
- ``DUPLICATE_ID`` — the client order id is already taken at the venue: that order EXISTS; look it up, do not resend.
- ``NOT_FOUND`` — the venue does not know the order.
- ``AUTHENTICATION`` — keys, permissions or signature refused: nothing happened; the operator must act.

``log_and_retry(exception, function, *args, policy=RetryPolicy(...), **kwargs)`` logs a failure and retries the call
(exponential backoff with full jitter, bounded attempts and total time, honouring ``retry_after``), raises fatal errors
at once, and for ambiguous order creation re-sends only when a ``resolve`` lookup proves the order never arrived.
This module does not import ccxt. Exception texts are redacted on construction (``execution.log.redact``).
"""
from __future__ import annotations

import asyncio
import enum
import functools
import inspect
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Literal

from execution.log import error_fields, redact

logger = logging.getLogger(__name__)


def _rebuild_error(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> BaseException:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ErrorClass(enum.Enum):
    """What a failed call means for what the venue did; the one thing code above ``execution.api`` decides by."""

    DEFINITE_REJECTION = "definite_rejection"  # refused; nothing happened; repeating it unchanged fails again
    RETRYABLE = "retryable"  # not processed (rate limit, clock window, overload): nothing happened; try again later
    UNKNOWN_OUTCOME = "unknown_outcome"  # may have been processed: look the order up by client order id
    DUPLICATE_ID = "duplicate_id"  # the client order id is taken: the order exists; look it up, never resend
    NOT_FOUND = "not_found"  # the venue does not know the order
    AUTHENTICATION = "authentication"  # keys, permissions or signature refused: nothing happened; operator


class RayarbError(Exception):
    """Base of every error rayarb raises on purpose. The message is redacted; ids travel as attributes.
    ``error_class`` says what the failure means (``ErrorClass``); a subclass sets its own."""

    error_class: ErrorClass = ErrorClass.UNKNOWN_OUTCOME

    def __init__(self, message: str = "", *, exchange: str | None = None, client_order_id: str | None = None,
                 exchange_order_id: str | None = None, source: str | None = None) -> None:
        super().__init__(redact(str(message)))
        self.exchange = exchange
        self.client_order_id = client_order_id
        self.exchange_order_id = exchange_order_id
        self.source = source  # the original exception's type, e.g. "ccxt.RequestTimeout"

    def __reduce__(self) -> Any:
        # Subclasses take different constructor arguments; pickling (Ray, multiprocessing) restores the state as is.
        return _rebuild_error, (type(self), self.args, dict(self.__dict__))


# --- retryable: the same call may succeed later ----------------------------------------------------------------

class RetryableError(RayarbError):
    """The call may succeed if repeated later. ``retry_after`` (seconds) is the venue's own wait, when it gave one.
    Raised as such (and by ``RateLimited`` / ``TimestampOutsideWindow``): the venue did not process the request,
    nothing happened (``ErrorClass.RETRYABLE``); ``NetworkFailure`` and its subclasses: the outcome is unknown.

    Operator: nothing to do unless it persists; check connectivity and the venue's status page.
    """

    error_class = ErrorClass.RETRYABLE

    def __init__(self, message: str = "", *, retry_after: float | None = None, **ids: Any) -> None:
        super().__init__(message, **ids)
        self.retry_after = retry_after


class NetworkFailure(RetryableError):
    """The request or its answer was lost in transit (connection reset, DNS, TLS, unreadable reply): whether the venue
    processed it is unknown (``ErrorClass.UNKNOWN_OUTCOME``); a read may be repeated, an order is looked up."""

    error_class = ErrorClass.UNKNOWN_OUTCOME


class RequestTimedOut(NetworkFailure):
    """No answer within the timeout. For an order-creating call this is ambiguous, never a rejection."""


class ExchangeUnavailable(NetworkFailure):
    """The venue answered 5xx (or its own "execution status unknown"), is in maintenance, or refused the connection."""


class RateLimited(RetryableError):
    """The venue throttled us (HTTP 429/418, Binance -1003/-1015): the request was not processed.
    Operator: lower the request rate if it recurs."""


class TimestampOutsideWindow(RetryableError):
    """The venue refused the request's timestamp (Binance -1021, outside recvWindow): not processed. Operator: check
    the machine's clock if it recurs."""


# --- fatal: repeating the same request fails again -------------------------------------------------------------

class FatalError(RayarbError):
    """The request was refused and will be refused again unless its input changes. Never retried automatically."""

    error_class = ErrorClass.DEFINITE_REJECTION


class AuthenticationFailed(FatalError):
    """Keys missing, wrong, expired or without trading permission, or a bad signature/timestamp window.

    Operator: check the API key, its permissions and IP whitelist, and the machine's clock.
    """

    error_class = ErrorClass.AUTHENTICATION


class InsufficientFunds(FatalError):
    """The venue says the account cannot pay for the order. Operator: rebalance or reduce the trade size."""


class InvalidOrder(FatalError):
    """The venue refused the order's parameters (lot size, tick, notional, type). Fix the order, not the network."""


class DuplicateClientOrderId(InvalidOrder):
    """The venue already has an order with this client order id: the order EXISTS; adopt it by lookup."""

    error_class = ErrorClass.DUPLICATE_ID


class OrderNotFound(FatalError):
    """The venue does not know the order (by client or exchange order id). One miss is not proof; count misses."""

    error_class = ErrorClass.NOT_FOUND


class BadSymbol(FatalError):
    """The venue does not list the symbol. Operator: check the configured symbols against the venue's markets."""


class BadRequest(FatalError):
    """The request is malformed or unsupported by the venue (missing argument, bad parameter, unsupported call)."""


class SendDeadlinePassed(FatalError):
    """rayarb did not send the order: its TTL passed before the request could leave (a restart or a queue held it).
    Nothing happened at the venue; a leg that old is priced on a stale book, so it is not sent late."""


class ExchangeRefused(FatalError):
    """The venue refused the request for a reason without a more specific class (its code is in the message)."""


# --- ambiguous: the order may exist ----------------------------------------------------------------------------

class AmbiguousOrderError(RayarbError):
    """An order-creating call failed after its request may have reached the venue: the order may exist.

    Never re-send blindly: look the client order id up; re-send with the SAME client order id only when the lookup
    proves the order never arrived. ``cause_type`` names the failure (e.g. "RequestTimedOut").
    """

    error_class = ErrorClass.UNKNOWN_OUTCOME

    def __init__(self, message: str = "", *, cause_type: str | None = None, retry_after: float | None = None,
                 **ids: Any) -> None:
        super().__init__(message, **ids)
        self.cause_type = cause_type
        self.retry_after = retry_after


def error_class(error: BaseException) -> ErrorClass:
    """What ``error`` means (see ``ErrorClass``). Anything that is not a ``RayarbError`` (a timeout, a lost
    connection, a dead peer, a bug) is ``UNKNOWN_OUTCOME``: an order it interrupted may exist."""
    if isinstance(error, RayarbError):
        return error.error_class
    return ErrorClass.UNKNOWN_OUTCOME


# The classes that prove an order-creating request did nothing at the venue: the order is rejected at once, never
# looked up. (DUPLICATE_ID: the order exists; NOT_FOUND on a create proves nothing; UNKNOWN_OUTCOME: it may exist.)
ORDER_REFUSED: frozenset[ErrorClass] = frozenset({ErrorClass.DEFINITE_REJECTION, ErrorClass.RETRYABLE,
                                                  ErrorClass.AUTHENTICATION})


Outcome = Literal["retryable", "fatal", "ambiguous"]


def classify(error: BaseException) -> Outcome:
    """What ``log_and_retry`` does with an error: retry it, raise it, or settle an order by lookup. A read that failed
    with a retryable or unknown outcome is repeated; built-in timeouts and connection errors too; a bug is fatal."""
    if isinstance(error, AmbiguousOrderError):
        return "ambiguous"
    if isinstance(error, RayarbError):
        kind = error.error_class
        return "retryable" if kind in (ErrorClass.RETRYABLE, ErrorClass.UNKNOWN_OUTCOME) else "fatal"
    if isinstance(error, (TimeoutError, ConnectionError)):
        return "retryable"
    return "fatal"


def as_ambiguous(error: BaseException, client_order_id: str | None = None) -> AmbiguousOrderError:
    """The ambiguous form of a retryable failure of an order-creating call."""
    if isinstance(error, AmbiguousOrderError):
        return error
    return AmbiguousOrderError(
        f"order creation outcome unknown after {type(error).__name__}: {error}",
        cause_type=type(error).__name__,
        retry_after=getattr(error, "retry_after", None),
        exchange=getattr(error, "exchange", None),
        client_order_id=client_order_id or getattr(error, "client_order_id", None),
        source=getattr(error, "source", None),
    )


# --- retry policy and log_and_retry ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How ``log_and_retry`` waits. Attempts count every call, the one that already failed included.

    delay(n) = uniform(0, min(max_delay_s, base_delay_s * 2**(n-1))) ("full jitter"), raised to ``retry_after`` when
    the venue gave one; the retries stop when ``max_attempts`` calls were made or the next wait would pass
    ``max_elapsed_s``. An ambiguous order is looked up ``not_found_confirmations`` times, ``confirmation_delay_s``
    apart, before "not found" is believed.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.1
    max_delay_s: float = 5.0
    max_elapsed_s: float = 30.0
    not_found_confirmations: int = 3
    confirmation_delay_s: float = 0.5
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.not_found_confirmations < 1:
            raise ValueError("max_attempts and not_found_confirmations must be at least 1")
        if min(self.base_delay_s, self.max_delay_s, self.max_elapsed_s, self.confirmation_delay_s) < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before call number ``attempt + 1`` (``attempt`` >= 1 calls made so far)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        delay = self.rng.uniform(0.0, ceiling)
        if retry_after is not None and retry_after > delay:
            delay = float(retry_after)
        return delay


DEFAULT_POLICY = RetryPolicy()

# Keyword arguments of log_and_retry/call_with_retry; they are not passed on to ``function``.
RESERVED_KWARGS = ("policy", "resolve", "creates_order", "translate", "sleep", "clock")


def _is_async(function: Callable[..., Any]) -> bool:
    if inspect.iscoroutinefunction(function):
        return True
    call = getattr(function, "__call__", None)
    return call is not None and inspect.iscoroutinefunction(call)


def _name(function: Callable[..., Any]) -> str:
    if isinstance(function, functools.partial):
        function = function.func
    return getattr(function, "__qualname__", None) or repr(function)


class _Budget:
    """Attempts and elapsed time of one retry sequence."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self.clock = clock
        self.started = clock()
        self.calls = 1  # the failure log_and_retry was given

    def next_delay(self, error: BaseException) -> float | None:
        """The wait before the next call, or None when the budget is spent."""
        if self.calls >= self.policy.max_attempts:
            return None
        delay = self.policy.backoff(self.calls, getattr(error, "retry_after", None))
        if self.clock() - self.started + delay > self.policy.max_elapsed_s:
            return None
        self.calls += 1
        return delay

    def exhausted(self, error: BaseException) -> BaseException:
        error.add_note(f"rayarb: gave up after {self.calls} attempt(s) in {self.clock() - self.started:.3f} s")
        return error


def _prepare(error: BaseException, translate: Callable[[BaseException], BaseException] | None,
             creates_order: bool) -> BaseException:
    if translate is not None and not isinstance(error, RayarbError):
        original, error = error, translate(error)
        if error is not original and error.__cause__ is None:
            error.__cause__ = original  # the venue's own exception stays readable (and countable) behind it
    if creates_order and classify(error) == "retryable":
        return as_ambiguous(error)
    return error


def _log_failure(error: BaseException, outcome: Outcome, function: Callable[..., Any], calls: int,
                 policy: RetryPolicy) -> None:
    if outcome != "fatal":
        level = logging.WARNING
    elif error_class(error) in (ErrorClass.NOT_FOUND, ErrorClass.DUPLICATE_ID):
        level = logging.INFO  # an answer, not a failure: the caller decides what it means
    else:
        level = logging.ERROR
    logger.log(level, "%s failed (%s, call %d of at most %d): %s: %s", _name(function), outcome, calls,
               policy.max_attempts, type(error).__name__, error, extra=error_fields(error))


def _unresolved(error: BaseException, reason: str) -> AmbiguousOrderError:
    ambiguous = as_ambiguous(error)
    ambiguous.add_note(f"rayarb: not re-sent: {reason}; reconcile by client order id")
    return ambiguous


def log_and_retry(exception: BaseException, function: Callable[..., Any], *args: Any,
                  policy: RetryPolicy = DEFAULT_POLICY,
                  resolve: Callable[[], Any] | None = None,
                  creates_order: bool = False,
                  translate: Callable[[BaseException], BaseException] | None = None,
                  sleep: Callable[[float], Any] | None = None,
                  clock: Callable[[], float] = time.monotonic,
                  **kwargs: Any) -> Any:
    """Log ``exception`` (raised by a first call of ``function(*args, **kwargs)``) and retry the call.

    - fatal errors (and anything not known to be transient) are logged and raised at once;
    - retryable errors are retried per ``policy``; the last one is raised when the budget is spent;
    - an ambiguous outcome (``AmbiguousOrderError``, or any retryable error when ``creates_order=True``) is never
      retried blindly: ``resolve()`` (sync or async) looks the client order id up, returning the order when found or
      None / raising ``OrderNotFound`` when not. Found -> its result is returned (adopted). Not found
      ``policy.not_found_confirmations`` times in a row -> the call is re-sent (the caller's args keep the SAME client
      order id). No ``resolve``, or a failing lookup -> ``AmbiguousOrderError`` is raised for reconciliation.

    ``translate`` maps raw exceptions (e.g. ccxt's) into this tree; ``sleep`` and ``clock`` are injectable. When
    ``function`` is a coroutine function the result is an awaitable (default sleep ``asyncio.sleep``), otherwise the
    call happens now (default sleep ``time.sleep``).
    """
    if not isinstance(exception, BaseException):
        raise TypeError(f"log_and_retry: exception must be the exception the first call raised, got "
                        f"{type(exception).__name__}")
    if not callable(function):
        raise TypeError(f"log_and_retry: function must be the callable to retry, got {type(function).__name__}")
    if _is_async(function):
        return _retry_async(exception, function, args, kwargs, policy, resolve, creates_order, translate,
                            sleep or asyncio.sleep, clock)
    return _retry_sync(exception, function, args, kwargs, policy, resolve, creates_order, translate,
                       sleep or time.sleep, clock)


def call_with_retry(function: Callable[..., Any], *args: Any, policy: RetryPolicy = DEFAULT_POLICY,
                    resolve: Callable[[], Any] | None = None, creates_order: bool = False,
                    translate: Callable[[BaseException], BaseException] | None = None,
                    sleep: Callable[[float], Any] | None = None, clock: Callable[[], float] = time.monotonic,
                    **kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)``; on failure hand over to ``log_and_retry`` with the same options."""
    options = dict(policy=policy, resolve=resolve, creates_order=creates_order, translate=translate, sleep=sleep,
                   clock=clock)
    if _is_async(function):
        async def first_call() -> Any:
            try:
                return await function(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                return await log_and_retry(error, function, *args, **options, **kwargs)
        return first_call()
    try:
        return function(*args, **kwargs)
    except Exception as error:
        return log_and_retry(error, function, *args, **options, **kwargs)


def _retry_sync(exception: BaseException, function: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                policy: RetryPolicy, resolve: Callable[[], Any] | None, creates_order: bool,
                translate: Callable[[BaseException], BaseException] | None, sleep: Callable[[float], Any],
                clock: Callable[[], float]) -> Any:
    budget = _Budget(policy, clock)
    error = _prepare(exception, translate, creates_order)
    while True:
        outcome = classify(error)
        _log_failure(error, outcome, function, budget.calls, policy)
        if outcome == "fatal":
            raise error
        if outcome == "ambiguous":
            if resolve is None:
                raise _unresolved(error, "no resolve lookup was given")
            for lookup in range(policy.not_found_confirmations):
                if lookup:
                    sleep(policy.confirmation_delay_s)
                try:
                    found = resolve()
                except OrderNotFound:
                    found = None
                except Exception as lookup_error:
                    raise _unresolved(error, f"lookup failed ({type(lookup_error).__name__})") from lookup_error
                if found is not None:
                    logger.info("%s: order found by lookup after ambiguous failure; adopted", _name(function),
                                extra=error_fields(error))
                    return found
        delay = budget.next_delay(error)
        if delay is None:
            raise (_unresolved(error, "retry budget spent") if outcome == "ambiguous" else budget.exhausted(error))
        sleep(delay)
        try:
            return function(*args, **kwargs)
        except Exception as retry_error:
            error = _prepare(retry_error, translate, creates_order)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def _retry_async(exception: BaseException, function: Callable[..., Awaitable[Any]], args: tuple[Any, ...],
                       kwargs: dict[str, Any], policy: RetryPolicy, resolve: Callable[[], Any] | None,
                       creates_order: bool, translate: Callable[[BaseException], BaseException] | None,
                       sleep: Callable[[float], Any], clock: Callable[[], float]) -> Any:
    budget = _Budget(policy, clock)
    error = _prepare(exception, translate, creates_order)
    while True:
        outcome = classify(error)
        _log_failure(error, outcome, function, budget.calls, policy)
        if outcome == "fatal":
            raise error
        if outcome == "ambiguous":
            if resolve is None:
                raise _unresolved(error, "no resolve lookup was given")
            for lookup in range(policy.not_found_confirmations):
                if lookup:
                    await _maybe_await(sleep(policy.confirmation_delay_s))
                try:
                    found = await _maybe_await(resolve())
                except asyncio.CancelledError:
                    raise
                except OrderNotFound:
                    found = None
                except Exception as lookup_error:
                    raise _unresolved(error, f"lookup failed ({type(lookup_error).__name__})") from lookup_error
                if found is not None:
                    logger.info("%s: order found by lookup after ambiguous failure; adopted", _name(function),
                                extra=error_fields(error))
                    return found
        delay = budget.next_delay(error)
        if delay is None:
            raise (_unresolved(error, "retry budget spent") if outcome == "ambiguous" else budget.exhausted(error))
        await _maybe_await(sleep(delay))
        try:
            return await function(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as retry_error:
            error = _prepare(retry_error, translate, creates_order)

