"""Translation of ccxt's exceptions into rayarb's error tree, done once at the adapter boundary.

A venue error is classified once, by the venue's own code in its dialect's table (``BINANCE_ERRORS``, ``OKX_ERRORS``;
by the message only where one code covers several cases; OKX's per-order ``sCode`` under a top-level "1"/"2"), into rayarb's error tree, whose ``ErrorClass`` is all the rest of the system looks at.
What carries no venue code (transport failures, bare 5xx/429 answers, ccxt's own checks) is classified by ccxt's
exception class. For an order-creating call an unknown outcome becomes ``AmbiguousOrderError``: the order may exist.
ccxt's messages may carry request URLs with ``signature=...`` and echo request bodies; they are redacted both in the
translated error and in the original exception (which stays chained as ``__cause__`` for the traceback).

Use ``with ccxt_errors(exchange_id, client_order_id=..., creating_order=True, client=exchange): await ...``.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from execution.error_handler import (
    AmbiguousOrderError,
    AuthenticationFailed,
    BadRequest,
    BadSymbol,
    DuplicateClientOrderId,
    ErrorClass,
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
    TimestampOutsideWindow,
    as_ambiguous,
)
from execution.log import redact

logger = logging.getLogger(__name__)

# --- the venue's own error codes: one table -------------------------------------------------------------------------
# Each venue error is classified once, here, by its code; by its message only where one code covers several cases
# (Binance -2010 "new order rejected" is a duplicate client order id only with "Duplicate order sent."); one table per
# dialect (``VENUE_ERROR_TABLES``, keyed by ccxt id). The code is
# read from the venue's answer, which ``attach_venue_replies`` pins to the exception ccxt raises for it (ccxt keeps
# only the message when it matched one exactly). The rest of the system sees the class (``ErrorClass``) alone.

@dataclass(frozen=True, slots=True)
class VenueErrorRule:
    """Codes ``low``..``high`` (one code: both the same), optionally only when the message contains ``message``."""

    low: int
    high: int
    message: str | None
    rayarb_type: type[RayarbError]
    meaning: str

    @property
    def error_class(self) -> ErrorClass:
        return self.rayarb_type.error_class


def _rule(code: int | tuple[int, int], rayarb_type: type[RayarbError], meaning: str,
          message: str | None = None) -> VenueErrorRule:
    low, high = (code, code) if isinstance(code, int) else (min(code), max(code))
    return VenueErrorRule(low, high, message, rayarb_type, meaning)


# Binance spot (and every Binance-dialect venue). First match wins: message rules before their code's catch-all,
# single codes before ranges.
BINANCE_ERRORS: tuple[VenueErrorRule, ...] = (
    _rule(-2010, DuplicateClientOrderId, "new order rejected: the client order id is taken",
          message="Duplicate order sent."),
    _rule(-2010, InsufficientFunds, "new order rejected: insufficient balance",
          message="Account has insufficient balance"),
    _rule(-2010, InvalidOrder, "new order rejected"),
    _rule(-2011, OrderNotFound, "cancel rejected: unknown order", message="Unknown order sent."),
    _rule(-2011, ExchangeRefused, "cancel rejected"),
    _rule(-2013, OrderNotFound, "order does not exist"),
    _rule(-2026, OrderNotFound, "order archived"),
    _rule(-2014, AuthenticationFailed, "API key format invalid"),
    _rule(-2015, AuthenticationFailed, "invalid API key, IP or permissions"),
    _rule(-1002, AuthenticationFailed, "unauthorized"),
    _rule(-1022, AuthenticationFailed, "signature not valid"),
    _rule(-1099, AuthenticationFailed, "not found, unauthenticated or unauthorized"),
    _rule(-1125, AuthenticationFailed, "listen key does not exist"),
    _rule(-1021, TimestampOutsideWindow, "timestamp outside recvWindow"),
    _rule(-1003, RateLimited, "too many requests"),
    _rule(-1015, RateLimited, "too many new orders"),
    _rule(-1008, RetryableError, "server overloaded: request not processed"),
    _rule(-1034, RateLimited, "too many connections"),
    _rule(-1000, ExchangeUnavailable, "unknown error while processing: execution status unknown"),
    _rule(-1001, ExchangeUnavailable, "internal error"),
    _rule(-1006, ExchangeUnavailable, "unexpected response from the message bus: execution status unknown"),
    _rule(-1007, RequestTimedOut, "timeout waiting for the backend: execution status unknown"),
    _rule(-1013, InvalidOrder, "filter failure"),
    _rule(-1014, InvalidOrder, "unsupported order combination"),
    _rule(-1020, BadRequest, "unsupported operation"),
    _rule(-1121, BadSymbol, "invalid symbol"),
    _rule(-1111, InvalidOrder, "precision over the maximum"),
    _rule((-1199, -1100), BadRequest, "bad request parameters"),
)

# OKX v5 (and every OKX-dialect venue). A failed order arrives as top-level code "1" (a batch partly failed: "2")
# with the order's own code in ``data[0].sCode``: that code is the one classified (``_reply_from_body``).
OKX_ERRORS: tuple[VenueErrorRule, ...] = (
    _rule(51016, DuplicateClientOrderId, "duplicated clOrdId: the client order id is taken"),
    _rule(51008, InsufficientFunds, "order failed: insufficient balance"),
    _rule(51119, InsufficientFunds, "order failed: insufficient balance"),
    _rule(51020, InvalidOrder, "order amount below the minimum size"),
    _rule(51121, InvalidOrder, "order quantity not a multiple of the lot size"),
    _rule(51005, InvalidOrder, "order amount above the limit"),
    _rule(51006, InvalidOrder, "order price outside the price limit"),
    _rule(51004, InvalidOrder, "order amount exceeds the tier limit"),
    _rule(51007, InvalidOrder, "order size below one contract"),
    _rule(51000, BadRequest, "parameter error (price off the tick, bad clOrdId, bad field)"),
    _rule(51003, BadRequest, "neither ordId nor clOrdId given"),
    _rule(51001, BadSymbol, "instrument does not exist"),
    _rule(51603, OrderNotFound, "order does not exist"),
    _rule(51400, OrderNotFound, "cancel failed: the order was filled, canceled or does not exist"),
    _rule(51401, OrderNotFound, "cancel failed: the order is already canceled"),
    _rule(51402, OrderNotFound, "cancel failed: the order is already completed"),
    _rule(50011, RateLimited, "too many requests: not processed"),
    _rule(50061, RateLimited, "sub-account rate limit: not processed"),
    _rule(50102, TimestampOutsideWindow, "timestamp request expired"),
    _rule((50103, 50107), AuthenticationFailed, "OK-ACCESS-KEY/PASSPHRASE/TIMESTAMP/SIGN missing or wrong"),
    _rule((50111, 50113), AuthenticationFailed, "invalid key, timestamp or signature"),
    _rule(50114, AuthenticationFailed, "invalid authorization"),
    _rule(50004, RequestTimedOut, "endpoint request timeout: whether it was processed is unknown"),
    _rule(50026, ExchangeUnavailable, "system error: whether it was processed is unknown"),
    _rule(50013, ExchangeUnavailable, "system busy: whether it was processed is unknown"),
    _rule(50001, ExchangeUnavailable, "service temporarily unavailable"),
    _rule((50000, 50002), BadRequest, "body empty, parameter error or malformed JSON"),
    _rule(50014, BadRequest, "a required parameter is missing"),
)

VENUE_ERROR_TABLES: dict[str, tuple[VenueErrorRule, ...]] = {"binance": BINANCE_ERRORS, "okx": OKX_ERRORS}


@dataclass(frozen=True, slots=True)
class VenueReply:
    """The venue's answer behind an exception: HTTP status, and the error code and message when it sent them."""

    http_status: int | None
    code: int | None
    message: str | None
    per_order: bool = False  # the code is one order's (OKX ``sCode``): the venue answered that this order failed


def venue_rule(dialect: str, code: int, message: str | None) -> VenueErrorRule | None:
    """The table's rule for a venue error code (and message), or None when the table does not list the code."""
    for rule in VENUE_ERROR_TABLES.get(dialect, ()):
        if rule.low <= code <= rule.high and (rule.message is None or (message is not None and rule.message in message)):
            return rule
    return None


def _int_code(raw: Any) -> int | None:
    try:
        return int(raw) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        return None


# OKX's envelope: top-level code "1" (the operation failed) or "2" (a batch partly failed) says only that; the order's
# own code and message are ``data[i].sCode`` / ``sMsg``, the first one other than "0" (ccxt reads them in that order).
_PER_ITEM_CODES = frozenset({1, 2})


def _reply_from_body(http_status: int | None, body: Any) -> VenueReply:
    code = message = None
    parsed = body
    if isinstance(body, (str, bytes)):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    if isinstance(parsed, Mapping):
        code = _int_code(parsed.get("code"))
        raw_message = parsed.get("msg")
        message = raw_message if isinstance(raw_message, str) else None
        data = parsed.get("data")
        if code in _PER_ITEM_CODES and isinstance(data, list):
            for item in data:
                item_code = _int_code(item.get("sCode")) if isinstance(item, Mapping) else None
                if item_code not in (None, 0):
                    item_message = item.get("sMsg")
                    return VenueReply(http_status, item_code, item_message if isinstance(item_message, str) else None,
                                      per_order=True)
    return VenueReply(http_status, code, message)


_CODE_IN_TEXT = re.compile(r'\{[^{}]*"code"\s*:\s*(-?\d+)[^{}]*\}')


def venue_reply_of(error: BaseException) -> VenueReply | None:
    """The venue's answer behind ``error``: pinned by ``attach_venue_replies``, else read from a JSON error body in
    the exception's text (ccxt puts the body there, after the exchange id), else None."""
    reply = getattr(error, "venue_reply", None)
    if isinstance(reply, VenueReply):
        return reply
    text = str(error)
    start = text.find("{")
    if start >= 0:
        try:
            body, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            body = None
        if isinstance(body, Mapping) and "code" in body:
            return _reply_from_body(None, body)
    match = _CODE_IN_TEXT.search(text)
    if match is None:
        return None
    return _reply_from_body(None, match.group(0))


def attach_venue_replies(exchange: Any) -> None:
    """Make every exception ``exchange`` (a ccxt client) raises for a venue's answer carry that answer as
    ``venue_reply`` (HTTP status, code, message): ccxt keeps only the message when it matched one exactly, and the
    table classifies by code."""
    for name in ("handle_errors", "handle_http_status_code"):
        original = getattr(exchange, name)

        def pinned(code: Any, reason: Any, url: Any, method: Any, *rest: Any, _original: Any = original) -> Any:
            try:
                return _original(code, reason, url, method, *rest)
            except Exception as error:
                if getattr(error, "venue_reply", None) is None:
                    body = rest[1] if len(rest) >= 2 else (rest[0] if rest else None)
                    try:
                        status = int(code)
                    except (TypeError, ValueError):
                        status = None
                    error.venue_reply = _reply_from_body(status, body)  # type: ignore[attr-defined]
                raise

        setattr(exchange, name, pinned)


# --- ccxt's classes: for what carries no venue code (transport failures, local checks, other venues) ---------------
# Most specific first: ccxt's classes inherit from each other (OrderNotFound is an InvalidOrder, BadSymbol a
# BadRequest, OnMaintenance an ExchangeNotAvailable, ...). RateLimitExceeded and DDoSProtection are siblings.
@functools.cache
def _by_class() -> tuple[tuple[type[BaseException], type[RayarbError]], ...]:
    import ccxt  # on first use (execution/api/__init__.py)

    return (
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
        (ccxt.InvalidNonce, TimestampOutsideWindow),
        (ccxt.RequestTimeout, RequestTimedOut),
        (ccxt.ExchangeNotAvailable, ExchangeUnavailable),
        (ccxt.NetworkError, NetworkFailure),  # ChecksumError included: retry after resync
        (ccxt.OperationFailed, NetworkFailure),  # BadResponse (an unreadable answer), CancelPending
        (TimeoutError, RequestTimedOut),  # asyncio.wait_for around a ccxt call
        (ConnectionError, NetworkFailure),
    )


def _dialect(error: BaseException) -> str | None:
    """The venue dialect whose code table applies: ccxt starts every message with its exchange id."""
    first = str(error).split(" ", 1)[0]
    return first if first in VENUE_ERROR_TABLES else None


def _by_code(error: BaseException) -> type[RayarbError] | None:
    dialect = _dialect(error)
    reply = venue_reply_of(error) if dialect is not None else None
    if reply is None or reply.code is None:
        return None
    rule = venue_rule(dialect, reply.code, reply.message)
    if rule is not None:
        return rule.rayarb_type
    if reply.per_order or (reply.http_status is not None and 400 <= reply.http_status < 500):
        return ExchangeRefused  # an unlisted code on a 4xx, or an order's own failure code: the venue refused it
    return ExchangeUnavailable  # an unlisted code without a 4xx: whether it was processed is unknown


# A 5xx is the venue's own failure: its execution status is unknown (Binance's API docs: never treat a 5XX as a failed
# operation), whatever code the body carries. Only codes that say "not processed" (RETRYABLE: -1008 overload) or
# "the order exists" (DUPLICATE_ID) are believed on one; a rejection, a not-found or a refusal becomes an unknown
# outcome, looked up by client order id.
_BELIEVED_ON_5XX = frozenset({ErrorClass.RETRYABLE, ErrorClass.UNKNOWN_OUTCOME, ErrorClass.DUPLICATE_ID})


def _server_failed(error: BaseException) -> bool:
    reply = venue_reply_of(error)
    return reply is not None and reply.http_status is not None and reply.http_status >= 500


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


def _one_line(text: str, limit: int = 300) -> str:
    """ccxt's message with the venue's body on one line and cut short: an HTML error page (a proxy's 502) is many
    lines of markup, and an error is read in a log line or a one-line report."""
    squeezed = " ".join(text.split())
    return squeezed if len(squeezed) <= limit else squeezed[:limit] + f"... ({len(squeezed) - limit} more characters)"


def translate_ccxt_error(error: BaseException, *, exchange: str | None = None, client_order_id: str | None = None,
                         creating_order: bool = False, headers: Mapping[str, Any] | None = None) -> RayarbError:
    """The rayarb error for ``error`` raised by a ccxt call (already-translated errors are returned as they are).

    The venue's error code decides, through the venue's table (``BINANCE_ERRORS``); without a code (a transport
    failure, a bare 5xx or 429, a check ccxt made before sending) ccxt's exception class does. ``creating_order``: the
    call was create_order; an unknown outcome then becomes ``AmbiguousOrderError`` (the order may exist: look it up),
    and so does anything unexpected; a retryable failure stays retryable (the venue did not process it).
    ``headers``: the last response headers, for ``Retry-After``.
    """
    if isinstance(error, RayarbError):
        if creating_order and error.error_class is ErrorClass.UNKNOWN_OUTCOME:
            return as_ambiguous(error, client_order_id)
        return error
    _redact_in_place(error)
    text = _one_line(str(error))
    target = _by_code(error)
    if target is None:
        for source, rayarb_class in _by_class():
            if isinstance(error, source):
                target = rayarb_class
                break
    if target is not None and _server_failed(error) and target.error_class not in _BELIEVED_ON_5XX:
        target = ExchangeUnavailable
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
    else:
        translated = target(message, **ids)
    if creating_order and translated.error_class is ErrorClass.UNKNOWN_OUTCOME:
        return as_ambiguous(translated, client_order_id)
    return translated


@contextmanager
def ccxt_errors(exchange: str | None = None, *, client_order_id: str | None = None, creating_order: bool = False,
                client: Any = None) -> Iterator[None]:
    """Translate whatever ccxt raises inside the block. ``client`` (the ccxt exchange) supplies response headers.

    Works around ``await`` too (``with ccxt_errors(...): await ex.create_order(...)``); ``CancelledError`` passes.
    """
    try:
        yield
    except RayarbError as error:
        if creating_order and error.error_class is ErrorClass.UNKNOWN_OUTCOME:
            raise as_ambiguous(error, client_order_id) from error
        raise
    except Exception as error:
        headers = getattr(client, "last_response_headers", None) if client is not None else None
        translated = translate_ccxt_error(error, exchange=exchange, client_order_id=client_order_id,
                                          creating_order=creating_order, headers=headers)
        raise translated from error
