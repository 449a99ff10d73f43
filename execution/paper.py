"""Paper trading: orders filled locally against a venue's live order book, never sent.

Used when rayarb trades real exchanges without ``--live``. Fills follow the venue's rules as the simulator and
Binance apply them: walk the opposite side up to the limit price, taker fee charged in the asset received (the buyer
pays in base, the seller in quote), IOC remainder expired, balances checked and kept exactly.
"""
from __future__ import annotations

import itertools
import time
from decimal import Decimal

from execution.types import ZERO, Fill, MarketRules, OrderBook, OrderSnapshot, OrderStatus, Side


class PaperInsufficientFunds(Exception):
    """The paper account does not hold enough to pay for the order."""


class PaperVenue:
    def __init__(self, exchange: str, rules: dict[str, MarketRules], balances: dict[str, Decimal]) -> None:
        self.exchange = exchange
        self.rules = rules
        self.balances: dict[str, Decimal] = dict(balances)
        self.orders: dict[str, OrderSnapshot] = {}
        self._ids = itertools.count(1)

    def fill_ioc(
        self, book: OrderBook, side: Side, amount: Decimal, limit_price: Decimal, client_order_id: str
    ) -> OrderSnapshot:
        """Fill an IOC limit order against ``book``; the unfilled remainder expires."""
        if client_order_id in self.orders:
            return self.orders[client_order_id]  # idempotent by client order id, like a venue lookup
        rules = self.rules[book.symbol]
        levels = book.asks if side is Side.BUY else book.bids
        crosses = (lambda p: p <= limit_price) if side is Side.BUY else (lambda p: p >= limit_price)
        order_id = f"paper-{next(self._ids)}"
        now_ms = int(time.time() * 1000)
        remaining = amount
        fills: list[Fill] = []
        for price, level_amount in levels:
            if remaining <= 0 or not crosses(price):
                break
            take = min(remaining, level_amount)
            fee, fee_asset = (take * rules.taker_fee, rules.base) if side is Side.BUY else (
                take * price * rules.taker_fee, rules.quote)
            fills.append(Fill(self.exchange, book.symbol, side, price, take, fee, fee_asset,
                              f"{order_id}-{len(fills) + 1}", client_order_id, order_id, now_ms))
            remaining -= take
        self._settle(rules, fills)
        filled = amount - remaining
        cost = sum((f.notional for f in fills), ZERO)
        snapshot = OrderSnapshot(
            exchange=self.exchange, symbol=book.symbol, side=side, client_order_id=client_order_id,
            exchange_order_id=order_id,
            status=OrderStatus.FILLED if remaining == 0 else OrderStatus.EXPIRED,
            amount=amount, filled=filled, price=limit_price,
            average=(cost / filled) if filled else None, fills=tuple(fills), ts_ms=now_ms,
        )
        self.orders[client_order_id] = snapshot
        return snapshot

    def _settle(self, rules: MarketRules, fills: list[Fill]) -> None:
        changes: dict[str, Decimal] = {}
        for fill in fills:
            for asset, delta in fill.balance_changes(rules.base, rules.quote).items():
                changes[asset] = changes.get(asset, ZERO) + delta
        for asset, delta in changes.items():
            if self.balances.get(asset, ZERO) + delta < 0:
                raise PaperInsufficientFunds(f"{self.exchange}: paper balance of {asset} too low")
        for asset, delta in changes.items():
            self.balances[asset] = self.balances.get(asset, ZERO) + delta
