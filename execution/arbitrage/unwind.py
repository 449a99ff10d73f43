"""The unwind: planning the trade that flattens what an arbitrage's legs left (``plan_unwind``) over the venues'
books, and fetching those books (``books_for_unwind``)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from execution.arbitrage.legs import ArbitrageIO, describe
from execution.arbitrage.profit import BPS, EXACT, ONE, ArbitrageInputError, checked_decimal
from execution.arbitrage.sizing import crossing_limit, floor_to, walk_book
from execution.types import ZERO, MarketRules, OrderBook, Side

logger = logging.getLogger(__name__)


BOOK_TIMEOUT_S = 5.0  # how long a venue's book is waited for before the venue is left out


@dataclass(frozen=True, slots=True)
class UnwindPolicy:
    """How a residual is flattened. ``execute=False`` only plans. ``books`` overrides ``ArbitrageIO.order_book``."""

    execute: bool = True
    max_slippage_bps: Decimal = Decimal(50)
    books: Mapping[str, OrderBook] | None = None
    book_timeout_s: float = BOOK_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class UnwindPlan:
    """Flatten ``residual`` base: ``side`` ``amount`` on ``venue`` as an IOC at ``limit_price`` (at most
    ``max_slippage_bps`` from ``reference_price``, the venue's best price). ``dust`` is what cannot be traded (below
    the step, ``min_amount`` or ``min_notional``). ``expected_cost`` is fees plus slippage against the best price
    across venues, in quote, for ``expected_fill`` (what the book offers inside the limit)."""

    symbol: str
    residual: Decimal
    venue: str | None
    side: Side | None
    amount: Decimal
    limit_price: Decimal | None
    reference_price: Decimal | None
    expected_fill: Decimal
    expected_cost: Decimal
    dust: Decimal
    reason: str

    @property
    def executable(self) -> bool:
        return self.venue is not None and self.amount > 0


def plan_unwind(
    residual: Decimal,
    symbol: str,
    books: Mapping[str, OrderBook],
    rules: Mapping[str, MarketRules],
    *,
    max_slippage_bps: Decimal = Decimal(50),
    balances: Mapping[str, Mapping[str, Decimal]] | None = None,
) -> UnwindPlan:
    """Plan the trade that brings ``residual`` base (positive: long, sell it; negative: short, buy it) back to zero.

    Candidates are the venues in ``books``; each is sized to its step and checked against its minimums and, when
    ``balances`` are given, against the free base (to sell) or quote (to buy). The venue chosen fills the most inside
    the slippage bound and, among equals, costs least: fees plus slippage from the book, measured against the best
    price across venues.
    """
    if residual == 0:
        return UnwindPlan(symbol, residual, None, None, ZERO, None, None, ZERO, ZERO, ZERO, "flat")
    side = Side.SELL if residual > 0 else Side.BUY
    wanted = abs(residual)
    bound = checked_decimal(max_slippage_bps, "max_slippage_bps", ArbitrageInputError)
    with localcontext(EXACT):
        references = {
            venue: (book.best_bid if side is Side.SELL else book.best_ask)
            for venue, book in books.items()
            if venue in rules and (book.best_bid if side is Side.SELL else book.best_ask) is not None
        }
        if not references:
            return UnwindPlan(symbol, residual, None, side, ZERO, None, None, ZERO, ZERO, wanted, "no_book")
        best = max(references.values()) if side is Side.SELL else min(references.values())
        candidates: list[tuple[tuple[Decimal, Decimal], UnwindPlan]] = []
        smallest_reason = "below_minimum"
        for venue, reference in references.items():
            venue_rules = rules[venue]
            amount = floor_to(wanted, venue_rules.amount_step)
            raw_limit = reference * (ONE - bound / BPS) if side is Side.SELL else reference * (ONE + bound / BPS)
            # Round the bound towards the reference so slippage never exceeds it.
            limit = crossing_limit(venue_rules, side.opposite, raw_limit)
            if amount <= 0 or amount < venue_rules.min_amount or amount * limit < venue_rules.min_notional:
                continue
            if balances is not None:
                free = balances.get(venue, {})
                if side is Side.SELL and free.get(venue_rules.base, ZERO) < amount:
                    smallest_reason = "no_inventory"
                    continue
                if side is Side.BUY and free.get(venue_rules.quote, ZERO) < amount * limit * (ONE + venue_rules.taker_fee):
                    smallest_reason = "no_inventory"
                    continue
            levels = books[venue].bids if side is Side.SELL else books[venue].asks
            inside = [(p, q) for p, q in levels if (p >= limit if side is Side.SELL else p <= limit)]
            filled, notional, _ = walk_book(inside, amount)
            if filled <= 0:
                continue
            fee = notional * venue_rules.taker_fee
            slippage = (best * filled - notional) if side is Side.SELL else (notional - best * filled)
            cost = slippage + fee
            plan = UnwindPlan(
                symbol, residual, venue, side, amount, limit, reference, filled, cost, wanted - amount, "unwind"
            )
            candidates.append(((-filled, cost / filled), plan))
        if not candidates:
            return UnwindPlan(symbol, residual, None, side, ZERO, None, best, ZERO, ZERO, wanted, smallest_reason)
        return min(candidates, key=lambda item: item[0])[1]


async def books_for_unwind(
    io: ArbitrageIO, policy: UnwindPolicy, symbol: str, venues: tuple[str, ...]
) -> dict[str, OrderBook]:
    if policy.books is not None:
        return {venue: book for venue, book in policy.books.items() if venue in venues}

    async def one(venue: str) -> tuple[str, OrderBook | None]:
        try:
            return venue, await asyncio.wait_for(io.order_book(venue, symbol), policy.book_timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a venue without a book is simply not a candidate
            logger.warning("unwind: no %s book from %s: %s", symbol, venue, describe(error))
            return venue, None

    pairs = await asyncio.gather(*(one(venue) for venue in venues))
    return {venue: book for venue, book in pairs if book is not None}
