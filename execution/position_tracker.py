"""Positions and PnL built from fills, exactly (``Decimal``), per venue, symbol and asset.

- ``track_position`` (the seed's function): the state and unrealized PnL of one position given its entry and mark.
- ``PositionTracker``: fed with ``types.Fill`` (a repeated ``(exchange, symbol, trade_id)`` is ignored). Keeps, per
  (venue, symbol), the position and its average cost, realized PnL and fees; per (venue, asset) the balances
  (starting balances + fills - fees) so they can be compared exactly with the venue's balances; per asset the net
  exposure across venues; and a ``report()`` DataFrame with exact money columns, exportable to CSV and Parquet.

Accounting: positions and PnL are gross of fees, fees are kept apart in the asset charged. For any fill sequence,
``realized + unrealized = sum(signed amount * (mark - price))`` (the mark-to-market change of the trades) and the
balance-based equity change at the mark is that minus the fees (base fees valued at the mark). Average cost is used;
the cost taken off a reduced position is rounded to ``COST_QUANTUM`` and the identities above still hold exactly,
because what leaves the cost basis is exactly what enters realized PnL.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import TYPE_CHECKING

from execution import money
from execution.types import ZERO, Fill, Side

if TYPE_CHECKING:
    import pandas as pd  # imported where a report is made: the tracker's process need not pay for pandas to start

logger = logging.getLogger(__name__)

EXACT = Context(prec=80)
COST_QUANTUM = Decimal("1e-30")  # rounding of the cost removed from a partly reduced position (a division)
AVG_COST_QUANTUM = Decimal("1e-18")  # display rounding of the average cost

MONEY_COLUMNS = (
    "amount", "avg_cost", "cost_basis", "realized_pnl", "unrealized_pnl", "fees_base", "fees_quote", "mark",
)


class PositionInputError(ValueError):
    """A position input is not a finite Decimal (prices: positive). Floats are refused: money is never float."""


def _decimal(value: object, what: str, *, positive: bool = False) -> Decimal:
    try:
        result = money.to_decimal(value, what, floats=False)
    except money.InvalidInputError as exc:
        raise PositionInputError(str(exc)) from None
    if positive and result <= 0:
        raise PositionInputError(f"{what} must be positive, got {result}")
    return result


@dataclass(frozen=True, slots=True)
class PositionState:
    """One position at a mark. ``amount`` is signed (negative = short); PnL in the quote asset."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    current_price: Decimal
    cost_basis: Decimal  # amount * entry_price
    market_value: Decimal  # amount * current_price
    unrealized_pnl: Decimal  # amount * (current_price - entry_price)
    unrealized_pnl_pct: Decimal | None  # unrealized / |cost_basis| * 100; None when flat

    @property
    def side(self) -> str:
        return "long" if self.amount > 0 else "short" if self.amount < 0 else "flat"


def track_position(symbol: str, amount: object, entry_price: object, current_price: object) -> PositionState:
    """The state of a position of ``amount`` base (negative for a short) entered at ``entry_price``, marked at
    ``current_price``. Raises ``PositionInputError`` for NaN, infinite, floats and non-positive prices."""
    quantity = _decimal(amount, "amount")
    entry = _decimal(entry_price, "entry_price", positive=True)
    mark = _decimal(current_price, "current_price", positive=True)
    with localcontext(EXACT):
        cost = quantity * entry
        unrealized = quantity * (mark - entry)
        percent = None if quantity == 0 else unrealized * 100 / abs(cost)
        return PositionState(symbol, quantity, entry, mark, cost, quantity * mark, unrealized, percent)


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT"`` (or ``"BTC/USDT:USDT"``) -> ``("BTC", "USDT")``."""
    pair = symbol.split(":", 1)[0]
    base, slash, quote = pair.partition("/")
    if not slash or not base or not quote:
        raise PositionInputError(f"symbol {symbol!r} is not BASE/QUOTE; pass assets= to PositionTracker")
    return base, quote


@dataclass(slots=True)
class Position:
    """The position of one venue in one symbol. ``amount`` signed base (gross of fees); ``cost_basis`` signed quote
    (``amount * avg_cost``); ``realized_pnl`` in quote, gross of fees; ``fees`` by asset charged."""

    venue: str
    symbol: str
    base: str
    quote: str
    amount: Decimal = ZERO
    cost_basis: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: dict[str, Decimal] = field(default_factory=dict)
    trades: int = 0

    @property
    def avg_cost(self) -> Decimal | None:
        if self.amount == 0:
            return None
        with localcontext(EXACT):
            return (self.cost_basis / self.amount).quantize(AVG_COST_QUANTUM)

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        with localcontext(EXACT):
            return self.amount * mark - self.cost_basis

    def apply(self, side: Side, amount: Decimal, price: Decimal) -> None:
        """Average-cost update for a trade of ``amount`` at ``price``."""
        signed = amount if side is Side.BUY else -amount
        with localcontext(EXACT):
            if self.amount == 0 or (self.amount > 0) == (signed > 0):
                self.amount += signed
                self.cost_basis += signed * price
            else:
                held = abs(self.amount)
                closing = min(amount, held)
                if closing == held:
                    removed = self.cost_basis
                else:
                    removed = (self.cost_basis * closing / held).quantize(COST_QUANTUM)
                direction = 1 if self.amount > 0 else -1
                self.realized_pnl += direction * closing * price - removed
                self.cost_basis -= removed
                self.amount -= direction * closing
                opening = amount - closing
                if opening > 0:
                    self.amount += -direction * opening
                    self.cost_basis += -direction * opening * price
            self.trades += 1


class PositionTracker:
    """Positions, PnL, fees, balances and exposure from a stream of fills. Not thread-safe (one actor owns it)."""

    def __init__(
        self,
        starting_balances: Mapping[str, Mapping[str, object]] | None = None,
        *,
        assets: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        """``starting_balances``: venue -> asset -> amount (total, as the venue reports it). ``assets``: symbol ->
        (base, quote) for symbols that are not written ``BASE/QUOTE``."""
        self._start: dict[str, dict[str, Decimal]] = {
            venue: {asset: _decimal(amount, f"starting balance {venue} {asset}") for asset, amount in balances.items()}
            for venue, balances in (starting_balances or {}).items()
        }
        self._assets = dict(assets or {})
        self._positions: dict[tuple[str, str], Position] = {}
        self._changes: dict[str, dict[str, Decimal]] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self._marks: dict[tuple[str | None, str], Decimal] = {}
        self.duplicates = 0

    # --- feeding -------------------------------------------------------------------------------------------------

    def assets_of(self, symbol: str) -> tuple[str, str]:
        return self._assets.get(symbol) or split_symbol(symbol)

    def apply(self, fill: Fill) -> bool:
        """Apply one fill; False (and nothing changes) when its (exchange, symbol, trade_id) was applied before."""
        key = (fill.exchange, fill.symbol, fill.trade_id)
        if key in self._seen:
            self.duplicates += 1
            logger.debug("fill %s %s %s already applied: ignored", *key)
            return False
        base, quote = self.assets_of(fill.symbol)
        position = self._positions.get((fill.exchange, fill.symbol))
        if position is None:
            position = self._positions[(fill.exchange, fill.symbol)] = Position(fill.exchange, fill.symbol, base, quote)
        position.apply(fill.side, fill.amount, fill.price)
        changes = self._changes.setdefault(fill.exchange, {})
        with localcontext(EXACT):
            for asset, delta in fill.balance_changes(base, quote).items():
                changes[asset] = changes.get(asset, ZERO) + delta
            if fill.fee:
                position.fees[fill.fee_asset] = position.fees.get(fill.fee_asset, ZERO) + fill.fee
        self._seen.add(key)
        logger.debug("fill %s %s %s applied: position %s", fill.exchange, fill.symbol, fill.trade_id, position.amount)
        return True

    def apply_all(self, fills: Iterable[Fill]) -> int:
        """Apply fills in order; returns how many were new."""
        return sum(1 for fill in fills if self.apply(fill))

    def set_mark(self, symbol: str, price: object, venue: str | None = None) -> None:
        """Mark ``symbol`` at ``price`` for every venue, or for ``venue`` only (a venue mark wins over a global one)."""
        self._marks[(venue, symbol)] = _decimal(price, f"mark of {symbol}", positive=True)

    def mark_of(self, venue: str, symbol: str, marks: Mapping[object, Decimal] | None = None) -> Decimal | None:
        if marks is not None:
            for key in ((venue, symbol), symbol):
                if key in marks:
                    return _decimal(marks[key], f"mark of {symbol}", positive=True)
        return self._marks.get((venue, symbol), self._marks.get((None, symbol)))

    # --- views ---------------------------------------------------------------------------------------------------

    def position(self, venue: str, symbol: str) -> Position | None:
        return self._positions.get((venue, symbol))

    @property
    def positions(self) -> dict[tuple[str, str], Position]:
        return dict(self._positions)

    def realized_pnl(self) -> dict[tuple[str, str], Decimal]:
        """Realized PnL (gross of fees) per (venue, quote asset)."""
        result: dict[tuple[str, str], Decimal] = {}
        with localcontext(EXACT):
            for position in self._positions.values():
                key = (position.venue, position.quote)
                result[key] = result.get(key, ZERO) + position.realized_pnl
        return result

    def unrealized_pnl(self, marks: Mapping[object, Decimal] | None = None) -> dict[tuple[str, str], Decimal]:
        """Unrealized PnL per (venue, symbol) for the positions that have a mark."""
        result = {}
        for (venue, symbol), position in self._positions.items():
            mark = self.mark_of(venue, symbol, marks)
            if mark is not None:
                result[(venue, symbol)] = position.unrealized_pnl(mark)
        return result

    def fees(self) -> dict[tuple[str, str], Decimal]:
        """Fees paid per (venue, asset charged)."""
        result: dict[tuple[str, str], Decimal] = {}
        with localcontext(EXACT):
            for position in self._positions.values():
                for asset, fee in position.fees.items():
                    result[(position.venue, asset)] = result.get((position.venue, asset), ZERO) + fee
        return result

    def balance_changes(self) -> dict[str, dict[str, Decimal]]:
        """Per venue and asset: what the fills did to the balance (trades minus fees)."""
        return {venue: dict(changes) for venue, changes in self._changes.items()}

    def balances(self) -> dict[str, dict[str, Decimal]]:
        """Per venue and asset: starting balance + fills - fees. Compare with the venue's total balances."""
        result = {venue: dict(assets) for venue, assets in self._start.items()}
        with localcontext(EXACT):
            for venue, changes in self._changes.items():
                target = result.setdefault(venue, {})
                for asset, change in changes.items():
                    target[asset] = target.get(asset, ZERO) + change
        return result

    def exposure(self) -> dict[str, Decimal]:
        """Net change per asset summed across venues (fills minus fees): what a rebalance or unwind must bring back."""
        result: dict[str, Decimal] = {}
        with localcontext(EXACT):
            for changes in self._changes.values():
                for asset, change in changes.items():
                    result[asset] = result.get(asset, ZERO) + change
        return result

    def balance_differences(self, venue_balances: Mapping[str, Mapping[str, object]]) -> dict[tuple[str, str], Decimal]:
        """``venue - tracked`` per (venue, asset) where they differ, over the venues given; empty when all agree."""
        tracked = self.balances()
        differences = {}
        with localcontext(EXACT):
            for venue, assets in venue_balances.items():
                mine = tracked.get(venue, {})
                for asset in set(assets) | set(mine):
                    theirs = _decimal(assets.get(asset, ZERO), f"{venue} {asset} balance")
                    if theirs != mine.get(asset, ZERO):
                        differences[(venue, asset)] = theirs - mine.get(asset, ZERO)
        return differences

    # --- report --------------------------------------------------------------------------------------------------

    @staticmethod
    def describe_difference(venue: str, asset: str, difference: Decimal) -> str:
        """One line for a balance that moved without a fill (``difference`` = venue - tracked)."""
        moved = "more" if difference > 0 else "less"
        return (f"{venue} {asset}: the venue holds {abs(difference)} {moved} than rayarb's fills explain (a balance "
                f"moved without a fill: a deposit, a withdrawal, a correction or a fill rayarb never saw)")

    def report(self, marks: Mapping[object, Decimal] | None = None) -> pd.DataFrame:
        """One row per (venue, symbol): amount, avg_cost, cost_basis, realized_pnl, unrealized_pnl, fees_base,
        fees_quote, fees_other (``ASSET:amount`` list), mark, trades. Money columns hold ``Decimal`` objects (never
        float); unrealized_pnl and mark are None without a mark. ``marks``: symbol or (venue, symbol) -> price."""
        rows = []
        for (venue, symbol), position in sorted(self._positions.items()):
            mark = self.mark_of(venue, symbol, marks)
            other = {asset: fee for asset, fee in position.fees.items() if asset not in (position.base, position.quote)}
            rows.append({
                "venue": venue,
                "symbol": symbol,
                "base": position.base,
                "quote": position.quote,
                "amount": position.amount,
                "avg_cost": position.avg_cost,
                "cost_basis": position.cost_basis,
                "realized_pnl": position.realized_pnl,
                "unrealized_pnl": None if mark is None else position.unrealized_pnl(mark),
                "fees_base": position.fees.get(position.base, ZERO),
                "fees_quote": position.fees.get(position.quote, ZERO),
                "fees_other": ";".join(f"{asset}:{fee}" for asset, fee in sorted(other.items())),
                "mark": mark,
                "trades": position.trades,
            })
        import pandas as pd

        columns = ["venue", "symbol", "base", "quote", "amount", "avg_cost", "cost_basis", "realized_pnl",
                   "unrealized_pnl", "fees_base", "fees_quote", "fees_other", "mark", "trades"]
        frame = pd.DataFrame(rows, columns=columns)
        for column in MONEY_COLUMNS:
            frame[column] = frame[column].astype(object)
        return frame

    def to_csv(self, path: str | Path, marks: Mapping[object, Decimal] | None = None) -> Path:
        """Write ``report()`` as CSV; Decimals are written as their exact text."""
        target = Path(path)
        self.report(marks).to_csv(target, index=False)
        return target

    def to_parquet(self, path: str | Path, marks: Mapping[object, Decimal] | None = None) -> Path:
        """Write ``report()`` as Parquet with money columns as exact decimal strings (read back with
        ``read_report``)."""
        target = Path(path)
        frame = self.report(marks)
        for column in MONEY_COLUMNS:
            frame[column] = frame[column].map(lambda value: None if value is None else str(value))
        frame.to_parquet(target, index=False)
        return target


def read_report(path: str | Path) -> pd.DataFrame:
    """Read a report written by ``to_csv`` or ``to_parquet`` with money columns back as ``Decimal``."""
    import pandas as pd

    target = Path(path)
    if target.suffix == ".parquet":
        frame = pd.read_parquet(target)
    else:
        frame = pd.read_csv(target, dtype={column: str for column in MONEY_COLUMNS}, keep_default_na=False)
    for column in MONEY_COLUMNS:
        frame[column] = frame[column].map(lambda value: None if value in (None, "") else money.exact(value))
    return frame
