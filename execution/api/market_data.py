"""A venue's market data checked before anything trades on it: the markets ccxt loaded (from Binance's exchangeInfo)
and the account's fee table.

ccxt turns an exchangeInfo that is garbage, truncated or ``{}`` into a client with no markets and no error, and a
market without filters into one whose tick and step are None. ``checked_market_rules`` refuses both, and
``rules_with_fees`` refuses a fee table that does not parse, each with a ``MarketDataError`` that names the venue, the
symbol and what is wrong: a venue whose start hits one does not start.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from execution import money
from execution.api.precision import rules_from_market
from execution.error_handler import FatalError
from execution.types import MarketRules

logger = logging.getLogger(__name__)

MAX_FEE_RATE = Decimal("0.1")  # no spot venue charges 10 % a trade: a larger rate is a parsing error


class MarketDataError(FatalError):
    """The venue's market data failed validation (no usable market, a market without its filters, a fee table that
    does not parse). Operator: the message names the venue, the symbol and the field; check the venue's URL and API."""


def _number(value: Any) -> Decimal | None:
    try:
        return money.to_decimal(value)
    except money.InvalidInputError:
        return None


def checked_market_rules(venue: str, markets: Any, symbols: Iterable[str]) -> dict[str, MarketRules]:
    """``MarketRules`` of ``symbols`` from the markets ccxt loaded, or ``MarketDataError``: no usable market at all
    (exchangeInfo empty, truncated or not exchangeInfo), or a listed symbol whose tick, step or limits are missing or
    not positive numbers. A symbol the venue does not list is left out (the caller names it)."""
    if not isinstance(markets, Mapping) or not markets:
        raise MarketDataError(f"{venue}: the venue's exchangeInfo gave no usable market (0 markets loaded: the answer "
                              f"was empty, truncated or not exchangeInfo)", exchange=venue)
    rules: dict[str, MarketRules] = {}
    for symbol in symbols:
        market = markets.get(symbol)
        if market is None:
            continue
        if not isinstance(market, Mapping):
            raise MarketDataError(f"{venue} {symbol}: market is {type(market).__name__}, not a market", exchange=venue)
        precision = market.get("precision") or {}
        for field, value in (("tick size (PRICE_FILTER tickSize)", precision.get("price")),
                             ("step size (LOT_SIZE stepSize)", precision.get("amount"))):
            number = _number(value)
            if number is None or number <= 0:
                raise MarketDataError(f"{venue} {symbol}: {field} is {value!r}, not a positive number",
                                      exchange=venue)
        limits = market.get("limits") or {}
        for field, value in (("minimum amount", (limits.get("amount") or {}).get("min")),
                             ("minimum notional", (limits.get("cost") or {}).get("min")),
                             ("minimum price", (limits.get("price") or {}).get("min"))):
            if value is not None and (_number(value) is None or _number(value) < 0):
                raise MarketDataError(f"{venue} {symbol}: {field} is {value!r}, not a number >= 0", exchange=venue)
        if not market.get("base") or not market.get("quote"):
            raise MarketDataError(f"{venue} {symbol}: base or quote asset missing", exchange=venue)
        try:
            rules[symbol] = rules_from_market(venue, dict(market))
        except (KeyError, InvalidOperation, ValueError, TypeError) as error:
            raise MarketDataError(f"{venue} {symbol}: market does not parse ({type(error).__name__}: {error})",
                                  exchange=venue) from None
    return rules


def _fee_rate(venue: str, symbol: str, which: str, value: Any) -> Decimal:
    number = _number(value)
    if number is None or number < 0 or number > MAX_FEE_RATE:
        raise MarketDataError(f"{venue} {symbol}: {which} fee {value!r} in the venue's fee table is not a rate "
                              f"between 0 and {MAX_FEE_RATE}", exchange=venue)
    return number


def rules_with_fees(venue: str, rules: Mapping[str, MarketRules], fees: Any) -> dict[str, MarketRules]:
    """``rules`` with the account's own maker and taker rates from the venue's fee table (ccxt's
    ``fetch_trading_fees``: symbol -> {"maker", "taker"}), or ``MarketDataError`` when the table does not parse: not
    a table, an empty one (what ccxt makes of an answer it cannot read), an entry that is not one, or a rate that is
    missing (ccxt leaves a rate it could not read as None), not a number, negative or above ``MAX_FEE_RATE``. A symbol
    a non-empty table does not list keeps the market's default (with a warning)."""
    if not isinstance(fees, Mapping):
        raise MarketDataError(f"{venue}: the venue's fee table is {type(fees).__name__}, not a table by symbol",
                              exchange=venue)
    if not fees:  # ccxt turns an answer it cannot read into an empty table
        raise MarketDataError(f"{venue}: the venue's fee table is empty (its answer did not parse, or lists no "
                              f"symbol)", exchange=venue)
    updated: dict[str, MarketRules] = {}
    for symbol, market_rules in rules.items():
        entry = fees.get(symbol)
        if entry is None:
            logger.warning("%s %s: not in the venue's fee table; using the market's default rates", venue, symbol)
            updated[symbol] = market_rules
            continue
        if not isinstance(entry, Mapping):
            raise MarketDataError(f"{venue} {symbol}: fee table entry is {type(entry).__name__}, not maker/taker "
                                  f"rates", exchange=venue)
        maker, taker = entry.get("maker"), entry.get("taker")
        updated[symbol] = replace(market_rules, maker_fee=_fee_rate(venue, symbol, "maker", maker),
                                  taker_fee=_fee_rate(venue, symbol, "taker", taker))
    return updated


async def fetch_fee_table(exchange: Any, venue: str, *, timeout_s: float = 30.0,
                          symbols: Iterable[str] = ()) -> Any:
    """The account's fee table (ccxt's ``fetch_trading_fees``; for a venue whose ccxt class asks one symbol at a time,
    as OKX's does, ``fetch_trading_fee`` per symbol of ``symbols``), or None when the venue does not tell it or cannot
    be asked now (not supported, refused, unreachable: the market defaults are used, with a warning). An answer ccxt
    cannot parse (garbage, a list where a table is due, fields of the wrong type) is ``MarketDataError``."""
    wanted = list(symbols)
    if exchange.has.get("fetchTradingFees"):
        async def fetch() -> Any:
            return await exchange.fetch_trading_fees()
    elif wanted and exchange.has.get("fetchTradingFee"):
        async def fetch() -> Any:
            return {symbol: await exchange.fetch_trading_fee(symbol) for symbol in wanted}
    else:
        return None
    import ccxt  # loaded already: the exchange is a ccxt client (execution/api/__init__.py)

    try:
        async with asyncio.timeout(timeout_s):
            return await fetch()
    except asyncio.CancelledError:
        raise
    except ccxt.BadResponse as error:
        raise MarketDataError(f"{venue}: the venue's fee table does not parse ({type(error).__name__})",
                              exchange=venue) from None
    except (ccxt.BaseError, TimeoutError, OSError) as error:
        logger.warning("%s: trading fees unavailable (%s); using the market defaults", venue, type(error).__name__)
        return None
    except Exception as error:  # ccxt's parser failed on the answer (TypeError, KeyError, ValueError, ...)
        raise MarketDataError(f"{venue}: the venue's fee table does not parse ({type(error).__name__} in ccxt's "
                              f"parser)", exchange=venue) from None
