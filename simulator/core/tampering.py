"""What a venue's records show that no order of the client caused, free of any dialect: a fill of an order nobody
placed (``Faults.phantom_fill_next``) and a balance that moves without a fill (``POST /_sim/balance_adjust``).

A phantom fill is a ``Trade`` between a made-up client order (order id ``PHANTOM_ID_BASE + k``, client order id
``phantomK``) and a made-up market-maker order, at the symbol's reference price, for ten lots. It goes into the
account's trade history only (``trades_by_symbol``, which myTrades / fills answer from) and, where the dialect has a
private order stream, into the account's order updates; it is not in the venue's own trade list (``/_sim/trades``),
it moves no balance, and its order is not among the account's orders (``GET order`` does not find it): the venue's
records lie, its books and balances do not.

A balance adjustment moves the account's free balance by ``delta`` and is recorded in ``Engine.adjustments`` so that
``Engine.total_assets`` (the conservation check) stays constant net of it.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from simulator.core.book import BUY, FILLED, GTC, LIMIT, SELL, ZERO, Account, Order, Trade, _Q8, fmt
from simulator.core.engine import Engine

PHANTOM_ID_BASE = 900_000_000
_ASSET = re.compile(r"[A-Z0-9]{1,20}")
_DELTA = re.compile(r"-?[0-9]{1,20}(\.[0-9]{1,18})?")


class BalanceAdjustError(ValueError):
    """A ``balance_adjust`` body names an unknown account, a bad asset or delta, or would leave a negative balance."""


def phantom_fill(engine: Engine, account: Account, symbol: str) -> Trade:
    """Add one fill of an order nobody placed to ``account``'s trade history on ``symbol`` (see the module text)."""
    book = engine.books[symbol]
    spec = book.spec
    engine.phantom_fills += 1
    number = engine.phantom_fills
    now = engine.now_ms()
    price = engine.reference_price(book)
    qty = spec.step_size * 10 if spec.step_size * 10 >= spec.min_qty else spec.min_qty
    order = Order(PHANTOM_ID_BASE + number, f"phantom{number}", symbol, BUY, LIMIT, GTC, price, qty, ZERO, account, now)
    maker = Order(PHANTOM_ID_BASE + number, f"phantom{number}m", symbol, SELL, LIMIT, GTC, price, qty, ZERO,
                  engine.market_maker, now)
    commission = (qty * engine.taker_fee).quantize(_Q8, ROUND_HALF_UP)
    trade = Trade(PHANTOM_ID_BASE + number, symbol, price, qty, price * qty, now, order, maker, False, commission, ZERO,
                  spec.base, spec.quote)
    order.executed_qty, order.cum_quote, order.status = qty, price * qty, FILLED
    assert order.fills is not None
    order.fills.append((trade, True))
    account.trades_by_symbol.setdefault(symbol, []).append((trade, True))
    if engine.track_order_updates:
        engine._note_update(order, trade, FILLED)
    return trade


def adjust_balance(engine: Engine, body: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Apply ``{"account", "asset", "delta"}`` (delta a decimal string) to the account's free balance; returns the
    account's balances after. ``BalanceAdjustError`` naming the field when anything is wrong, before any change."""
    unknown = sorted(set(body) - {"account", "asset", "delta"})
    if unknown:
        raise BalanceAdjustError(f"unknown field {unknown[0]!r}; known: account, asset, delta")
    name, asset, raw = body.get("account"), body.get("asset"), body.get("delta")
    account = engine.account_by_name(name) if isinstance(name, str) else None
    if account is None or account.is_market_maker:
        known = ", ".join(a.name for a in engine.accounts if not a.is_market_maker)
        raise BalanceAdjustError(f"account: no client account {name!r} (known: {known})")
    if not isinstance(asset, str) or not _ASSET.fullmatch(asset):
        raise BalanceAdjustError(f"asset: must be 1-20 capital letters or digits, got {asset!r}")
    if not isinstance(raw, str) or not _DELTA.fullmatch(raw):
        raise BalanceAdjustError(f"delta: must be a decimal string such as \"-1.5\", got {raw!r}")
    try:
        delta = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise BalanceAdjustError(f"delta: not a number: {raw!r}") from None
    balance = account.balance(asset)
    if balance.free + delta < 0:
        raise BalanceAdjustError(f"delta: {raw} would leave {asset} free at {fmt(balance.free + delta)} (below 0)")
    balance.free += delta
    engine.adjustments[asset] = engine.adjustments.get(asset, ZERO) + delta
    return {a: {"free": fmt(b.free), "locked": fmt(b.locked)} for a, b in sorted(account.balances.items())}
