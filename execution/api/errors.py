"""Translation of ccxt's exceptions into rayarb's error tree, done once at the adapter boundary.

ccxt's two families become three here: ``NetworkError``/``OperationFailed`` -> ``RetryableError`` (or, for an
order-creating call, ``AmbiguousOrderError``: the order may exist), ``ExchangeError`` -> ``FatalError`` subclasses.
ccxt's messages may carry request URLs with ``signature=...`` and echo request bodies; they are redacted both in the
translated error and in the original exception (which stays chained as ``__cause__`` for the traceback).

Use ``with ccxt_errors(exchange_id, client_order_id=..., creating_order=True, client=exchange): await ...``.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import ccxt

from execution.error_handler import (
    AmbiguousOrderError,
    AuthenticationFailed,
    BadRequest,
    BadSymbol,
    DuplicateClientOrderId,
    ExchangeRefused,
    ExchangeUnavailable,
    FatalError,
    InsufficientFunds,
    InvalidOrder,
    NetworkFailure,
    OrderNotFound,
    RateLimited,
    RayarbError,
    RequestTimedOut,
    RetryableError,
    as_ambiguous,
)
from execution.log import redact

logger = logging.getLogger(__name__)

# Most specific first: ccxt's classes inherit from each other (OrderNotFound is an InvalidOrder, BadSymbol a
# BadRequest, OnMaintenance an ExchangeNotAvailable, ...). RateLimitExceeded and DDoSProtection are siblings.
_TABLE: tuple[tuple[type[BaseException], type[RayarbError]], ...] = (
    (ccxt.OrderNotFound, OrderNotFound),
    (ccxt.DuplicateOrderId, DuplicateClientOrderId),
    (ccxt.InsufficientFunds, InsufficientFunds),
    (ccxt.AuthenticationError, AuthenticationFailed),
    (ccxt.BadSymbol, BadSymbol),
    (ccxt.InvalidOrder, InvalidOrder),
    (ccxt.BadRequest, BadRequest),
    (ccxt.ArgumentsRequired, BadRequest),
    (ccxt.NotSupported, BadRequest),
    (ccxt.ExchangeError, ExchangeRefused),
    (ccxt.RateLimitExceeded, RateLimited),
    (ccxt.DDoSProtection, RateLimited),
    (ccxt.RequestTimeout, RequestTimedOut),
    (ccxt.ExchangeNotAvailable, ExchangeUnavailable),
    (ccxt.NetworkError, NetworkFailure),  # InvalidNonce/ChecksumError included: retry after resync
    (ccxt.OperationFailed, RetryableError),  # BadResponse, CancelPending
    (TimeoutError, RequestTimedOut),  # asyncio.wait_for around a ccxt call
    (ConnectionError, NetworkFailure),
)

# Binance answers a re-used newClientOrderId with -2010 "Duplicate order sent.", which ccxt maps to InvalidOrder.
_DUPLICATE_MARKERS = ("Duplicate order sent", "-2010")


def retry_after_from_headers(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (Binance sends it with 429/418), when present and numeric."""
    if not headers:
        return None
    for key, value in headers.items():
        if str(key).lower() == "retry-after":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if seconds >= 0 else None
    return None


def _redact_in_place(error: BaseException) -> None:
    error.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in error.args)


def translate_ccxt_error(error: BaseException, *, exchange: str | None = None, client_order_id: str | None = None,
                         creating_order: bool = False, headers: Mapping[str, Any] | None = None) -> RayarbError:
    """The rayarb error for ``error`` raised by a ccxt call (already-translated errors are returned as they are).

    ``creating_order``: the call was create_order; a retryable failure then becomes ``AmbiguousOrderError`` and so does
    anything unexpected, because the request may have reached the venue. ``headers``: the last response headers, for
    ``Retry-After``.
    """
    if isinstance(error, RayarbError):
        return as_ambiguous(error, client_order_id) if creating_order and isinstance(error, RetryableError) else error
    _redact_in_place(error)
    text = str(error)
    target: type[RayarbError] | None = None
    for source, rayarb_class in _TABLE:
        if isinstance(error, source):
            target = rayarb_class
            break
    if target is InvalidOrder and any(marker in text for marker in _DUPLICATE_MARKERS):
        target = DuplicateClientOrderId
    ids = dict(exchange=exchange, client_order_id=client_order_id, source=f"{type(error).__module__.split('.')[0]}."
                                                                              f"{type(error).__name__}")
    message = f"{type(error).__name__}: {text}"
    if target is None:
        if creating_order:
            return AmbiguousOrderError(f"unexpected {message}", cause_type=type(error).__name__, **ids)
        return FatalError(f"unexpected {message}", **ids)
    if issubclass(target, RetryableError):
        retry_after = retry_after_from_headers(headers) if target is RateLimited else None
        translated: RayarbError = target(message, retry_after=retry_after, **ids)
        return as_ambiguous(translated, client_order_id) if creating_order else translated
    return target(message, **ids)


@contextmanager
def ccxt_errors(exchange: str | None = None, *, client_order_id: str | None = None, creating_order: bool = False,
                client: Any = None) -> Iterator[None]:
    """Translate whatever ccxt raises inside the block. ``client`` (the ccxt exchange) supplies response headers.

    Works around ``await`` too (``with ccxt_errors(...): await ex.create_order(...)``); ``CancelledError`` passes.
    """
    try:
        yield
    except RayarbError as error:
        if creating_order and isinstance(error, RetryableError):
            raise as_ambiguous(error, client_order_id) from error
        raise
    except Exception as error:
        headers = getattr(client, "last_response_headers", None) if client is not None else None
        translated = translate_ccxt_error(error, exchange=exchange, client_order_id=client_order_id,
                                          creating_order=creating_order, headers=headers)
        raise translated from error
