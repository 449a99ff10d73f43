"""Connections to any ccxt exchange, and checked order books (the seed's ``initialize_exchange_api`` and
``fetch_order_book``).

- ``initialize_exchange_api``: an async ccxt exchange for any ccxt id (real venue, its sandbox, or a local
  Binance-dialect venue URL through ``execution.api.venue.make_exchange``), with markets loaded. Missing keys and
  unknown ids are refused before any I/O with an error that names what is wrong; failures come out as rayarb's
  translated errors; keys and secrets are registered for redaction and never appear in an error text.
- ``order_book_from_ccxt``: a ccxt order book dict (REST or ``ccxt.pro`` stream) -> ``types.OrderBook`` with Decimal
  levels, the exchange timestamp, the local receive time and the nonce; sorted, not crossed, positive, not empty and
  not stale, or ``BookError``.
- ``float_book_from_ccxt``: the same checks, levels kept as ccxt's floats (``types.FloatBook``): what the exchange
  actors stream to the detector on every update.
- ``fetch_order_book``: the REST call, with a timeout, returning such a checked book.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from execution import money
from execution.api.errors import ccxt_errors
from execution.api.market_data import checked_market_rules
from execution.api.venue import VenueConfigError, make_exchange
from execution.error_handler import AuthenticationFailed
from execution.log import register_secret
from execution.types import BookError, FloatBook, OrderBook

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0


class MissingCredentialsError(AuthenticationFailed):
    """An API key or secret was not given (or is empty). Operator: set the named credential in the config/env."""


class UnknownExchangeError(VenueConfigError):
    """The exchange name is not a ccxt exchange id. Operator: use an id from ``ccxt.exchanges`` (e.g. "binance")."""


def check_credentials(exchange_name: str, **credentials: str | None) -> None:
    """Raise ``MissingCredentialsError`` naming every credential that is missing or blank (values never shown)."""
    missing = [name for name, value in credentials.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise MissingCredentialsError(f"{exchange_name}: missing {', '.join(missing)}", exchange=exchange_name)


async def initialize_exchange_api(
    exchange_name: str,
    api_key: str | None,
    secret_key: str | None,
    *,
    url: str | None = None,
    sandbox: bool = False,
    password: str | None = None,
    require_keys: bool = True,
    verify_keys: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    options: dict[str, Any] | None = None,
    symbols: Iterable[str] = (),
) -> Any:
    """A connected async ccxt exchange for ``exchange_name`` (a ccxt id), markets loaded and checked: no usable
    market (an exchangeInfo that is garbage, truncated or ``{}``), or one of ``symbols`` listed without its tick, step
    or limits, is ``MarketDataError`` naming what is wrong (``execution.api.market_data``).

    ``url`` points it at a local Binance-dialect venue; ``sandbox`` selects the venue's testnet. ``require_keys=False``
    allows a public-data-only connection. ``verify_keys`` also fetches the balance, so bad keys fail here rather than
    on the first order. Errors: ``UnknownExchangeError`` (bad id), ``MissingCredentialsError`` (names the missing
    credential), ``VenueConfigError`` (bad url), and rayarb's translated errors for connection/authentication
    failures. The exchange is closed again when initialization fails.
    """
    import ccxt.async_support as ccxt_async  # on first use (execution/api/__init__.py)

    if not isinstance(exchange_name, str) or exchange_name not in ccxt_async.exchanges:
        raise UnknownExchangeError(f"unknown exchange {exchange_name!r}: not a ccxt exchange id")
    if require_keys:
        check_credentials(exchange_name, api_key=api_key, secret_key=secret_key)
    register_secret(api_key, secret_key, password)
    exchange = make_exchange(
        exchange_name,
        url=url,
        flavour="async",
        api_key=api_key or None,
        secret=secret_key or None,
        sandbox=sandbox,
        timeout_ms=int(timeout_s * 1000),
        options=options,
    )
    if password:
        exchange.password = password
    if require_keys and exchange.requiredCredentials.get("password") and not password:  # OKX's passphrase
        await close_exchange(exchange)
        check_credentials(exchange_name, password=password)
    try:
        with ccxt_errors(exchange_name, client=exchange):
            await asyncio.wait_for(exchange.load_markets(), timeout_s)
        checked_market_rules(exchange_name, exchange.markets, symbols)  # no usable market: MarketDataError
        with ccxt_errors(exchange_name, client=exchange):
            if verify_keys:
                await asyncio.wait_for(exchange.fetch_balance(), timeout_s)
    except BaseException:
        await close_exchange(exchange)
        raise
    logger.info("%s connected%s: %d markets", exchange_name, f" to {url}" if url else "", len(exchange.markets))
    return exchange


async def close_exchange(exchange: Any) -> None:
    """Close a ccxt async exchange's sessions, never raising (it is called on error paths)."""
    try:
        await asyncio.wait_for(exchange.close(), 5.0)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # closing is best effort
        logger.warning("closing %s failed: %s", getattr(exchange, "id", "exchange"), type(error).__name__)


def _levels(exchange_name: str, symbol: str, side: str, raw: Any, number: Callable[[Any], Any] = money.exact,
            depth: int | None = None) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        raise BookError(f"{exchange_name} {symbol}: {side} is not a list of levels")
    levels = []
    for entry in raw if depth is None else raw[:depth]:
        if not isinstance(entry, (list, tuple)) or len(entry) < 2:
            raise BookError(f"{exchange_name} {symbol}: {side} level {entry!r} is not [price, amount]")
        try:
            price, amount = number(entry[0]), number(entry[1])
        except (InvalidOperation, ValueError, TypeError) as exc:
            raise BookError(f"{exchange_name} {symbol}: {side} level {entry!r} is not numeric") from exc
        levels.append((price, amount))
    return tuple(levels)


def _book_header(exchange_name: str, ccxt_book: Any, symbol: str | None) -> tuple[str, int | None, int | None]:
    """(symbol, venue timestamp in ms, nonce) of a ccxt order book dict."""
    if not isinstance(ccxt_book, Mapping):
        raise BookError(f"{exchange_name}: order book is {type(ccxt_book).__name__}, not a dict")
    book_symbol = ccxt_book.get("symbol") or symbol
    if not book_symbol:
        raise BookError(f"{exchange_name}: order book has no symbol")
    timestamp, nonce = ccxt_book.get("timestamp"), ccxt_book.get("nonce")
    return book_symbol, None if timestamp is None else int(timestamp), None if nonce is None else int(nonce)


def float_book_from_ccxt(exchange_name: str, ccxt_book: Mapping[str, Any], *, symbol: str | None = None,
                         received_at: float | None = None, depth: int | None = None) -> FloatBook:
    """The top ``depth`` levels of a ccxt order book dict as a checked ``FloatBook`` (the stream's hot path: no
    Decimal until a trade needs one); ``BookError`` as ``order_book_from_ccxt``."""
    book_symbol, timestamp, nonce = _book_header(exchange_name, ccxt_book, symbol)
    book = FloatBook(exchange_name, book_symbol,
                     _levels(exchange_name, book_symbol, "bids", ccxt_book.get("bids"), float, depth),
                     _levels(exchange_name, book_symbol, "asks", ccxt_book.get("asks"), float, depth),
                     timestamp, time.time() if received_at is None else received_at, nonce)
    _require_both_sides(book)
    return book


def _require_both_sides(book: OrderBook | FloatBook) -> None:
    if not book.bids or not book.asks:
        empty = " and ".join(side for side, levels in (("bids", book.bids), ("asks", book.asks)) if not levels)
        raise BookError(f"{book.exchange} {book.symbol}: {empty} empty")


def order_book_from_ccxt(
    exchange_name: str,
    ccxt_book: Mapping[str, Any],
    *,
    symbol: str | None = None,
    received_at: float | None = None,
    max_age_s: float | None = None,
    require_both_sides: bool = True,
    now: float | None = None,
) -> OrderBook:
    """A checked ``OrderBook`` from a ccxt order book dict.

    Raises ``BookError`` when a level is not numeric, NaN, infinite or not positive, a side is unsorted, the book is
    crossed, a side is empty (unless ``require_both_sides=False``), or, with ``max_age_s``, when the venue's timestamp
    or the local receive time is older than ``max_age_s`` seconds.
    """
    book_symbol, timestamp, nonce = _book_header(exchange_name, ccxt_book, symbol)
    book = OrderBook(
        exchange=exchange_name,
        symbol=book_symbol,
        bids=_levels(exchange_name, book_symbol, "bids", ccxt_book.get("bids")),
        asks=_levels(exchange_name, book_symbol, "asks", ccxt_book.get("asks")),
        exchange_ts_ms=timestamp,
        received_at=time.time() if received_at is None else received_at,
        nonce=nonce,
    )
    if require_both_sides:
        _require_both_sides(book)
    if max_age_s is not None:
        check_book_fresh(book, max_age_s, now)
    return book


def check_book_fresh(book: OrderBook, max_age_s: float, now: float | None = None) -> None:
    """``BookError`` when the book was received, or stamped by the venue, more than ``max_age_s`` seconds ago."""
    current = time.time() if now is None else now
    book.check_fresh(max_age_s, current)
    if book.exchange_ts_ms is not None:
        age = current - book.exchange_ts_ms / 1000
        if age > max_age_s:
            raise BookError(f"{book.exchange} {book.symbol}: venue timestamp is stale ({age:.3f} s > {max_age_s} s)")


async def fetch_order_book(
    exchange: Any,
    symbol: str,
    *,
    limit: int | None = 20,
    max_age_s: float = 5.0,
    venue: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    require_both_sides: bool = True,
) -> OrderBook:
    """Fetch ``symbol``'s book from ``exchange`` (REST) as a checked ``OrderBook`` (see ``order_book_from_ccxt``).

    ``venue`` names the venue in the book (defaults to the ccxt id). Transport and venue errors are rayarb's
    translated errors; a malformed or stale book is ``BookError``.
    """
    name = venue or exchange.id
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"{name} {symbol}: limit must be a positive number of levels or None, got {limit!r}")
    with ccxt_errors(name, client=exchange):
        raw = await asyncio.wait_for(exchange.fetch_order_book(symbol, limit), timeout_s)
    received_at = time.time()
    return order_book_from_ccxt(
        name, raw, symbol=symbol, received_at=received_at, max_age_s=max_age_s, require_both_sides=require_both_sides,
    )
