"""Market rules and rounding, through ccxt's own precision helpers.

The rest of rayarb must not import ccxt, so this module turns a ccxt market into ``MarketRules`` and exposes the
rounding rayarb needs: amounts truncated to the lot step, prices rounded to the tick (down for buys and up for sells
when a limit must never be more aggressive than asked, or to nearest for display).
"""
from __future__ import annotations

import functools
from decimal import Decimal
from types import ModuleType
from typing import Any

from execution import money
from execution.types import MarketRules, Side


@functools.cache
def _ccxt() -> ModuleType:
    """ccxt's ``decimal_to_precision`` module, imported on first use (execution/api/__init__.py)."""
    from ccxt.base import decimal_to_precision

    return decimal_to_precision


def _dec(value: Any, default: Decimal | None = None) -> Decimal | None:
    if value is None:
        return default
    return money.exact(value)


def rules_from_market(exchange: str, market: dict[str, Any]) -> MarketRules:
    """Build ``MarketRules`` from a loaded ccxt unified market (tick-size precision mode, as Binance uses)."""
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    price_limits = limits.get("price") or {}
    cost_limits = limits.get("cost") or {}
    precision = market.get("precision") or {}
    return MarketRules(
        exchange=exchange,
        symbol=market["symbol"],
        base=market["base"],
        quote=market["quote"],
        price_tick=_dec(precision.get("price")),
        amount_step=_dec(precision.get("amount")),
        min_amount=_dec(amount_limits.get("min"), Decimal(0)),
        max_amount=_dec(amount_limits.get("max")),
        min_notional=_dec(cost_limits.get("min"), Decimal(0)),
        min_price=_dec(price_limits.get("min")),
        max_price=_dec(price_limits.get("max")),
        maker_fee=_dec(market.get("maker"), Decimal(0)),
        taker_fee=_dec(market.get("taker"), Decimal(0)),
    )


def truncate_amount(rules: MarketRules, amount: Decimal) -> Decimal:
    """Amount truncated (never rounded up) to the lot step."""
    helpers = _ccxt()
    return Decimal(helpers.decimal_to_precision(str(amount), helpers.TRUNCATE, str(rules.amount_step),
                                                helpers.TICK_SIZE))


def round_price(rules: MarketRules, price: Decimal) -> Decimal:
    """Price rounded to the nearest tick."""
    helpers = _ccxt()
    return Decimal(helpers.decimal_to_precision(str(price), helpers.ROUND, str(rules.price_tick), helpers.TICK_SIZE))


def passive_price(rules: MarketRules, side: Side, price: Decimal) -> Decimal:
    """Price on the tick grid that is never worse for us than ``price``: down for a buy, up for a sell."""
    tick = rules.price_tick
    steps = price / tick
    whole = steps.to_integral_value(rounding="ROUND_FLOOR" if side is Side.BUY else "ROUND_CEILING")
    return (whole * tick).quantize(tick)


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    steps = value / increment
    return steps == steps.to_integral_value()


def is_on_tick(rules: MarketRules, price: Decimal) -> bool:
    return is_multiple(price, rules.price_tick)


def is_on_step(rules: MarketRules, amount: Decimal) -> bool:
    return is_multiple(amount, rules.amount_step)
