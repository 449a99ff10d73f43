"""Flattening what is left exposed after a crash or an unresolved leg: per symbol, the net base the journal's fills
say the account gained or lost (``RiskEngine.net_base_exposure``) is sold or bought back with one IOC order on the
venue whose book does it best (``plan_unwind``), when the amount is above the venue's minimums.

A hedge reduces exposure; it is sent also after the kill switch tripped (the switch stops new opportunities, not
the unwinding of what they left). Pure: the orders go through an ``ArbitrageIO``.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal

from execution.arbitrage.legs import ArbitrageIO
from execution.arbitrage.unwind import BOOK_TIMEOUT_S, UnwindPolicy, books_for_unwind, plan_unwind
from execution.types import MarketRules, TimeInForce

logger = logging.getLogger(__name__)


async def hedge_exposure(io: ArbitrageIO, exposure: Mapping[str, Decimal],
                         rules: Mapping[tuple[str, str], MarketRules], venues: Sequence[str], *,
                         max_slippage_bps: Decimal, balances: Mapping[str, Mapping[str, Decimal]],
                         new_client_order_id: Callable[[], str], book_timeout_s: float = BOOK_TIMEOUT_S) -> list[str]:
    """Send one hedge per symbol whose ``exposure`` (net base) is not zero and can be flattened; returns their client
    order ids. A venue without a book is not a candidate; a failed hedge is logged (reconciliation tries again).

    Every book is asked for at once, each for ``book_timeout_s`` at most (the unwind's): a venue that does
    not answer (its actor's host gone silent) costs the hedge that long once, not a call timeout per symbol and venue
    in turn (the order manager hedges under its reconciliation lock, which a restarted actor's rewiring waits for)."""
    exposed = {symbol: residual for symbol, residual in exposure.items() if residual != 0}
    candidates = {symbol: tuple(venue for venue in venues if (venue, symbol) in rules) for symbol in exposed}
    policy = UnwindPolicy(max_slippage_bps=max_slippage_bps, book_timeout_s=book_timeout_s)
    books = dict(zip(exposed, await asyncio.gather(
        *(books_for_unwind(io, policy, symbol, candidates[symbol]) for symbol in exposed))))
    hedged: list[str] = []
    for symbol, residual in exposed.items():
        symbol_rules = {venue: rules[(venue, symbol)] for venue in candidates[symbol]}
        plan = plan_unwind(residual, symbol, books[symbol], symbol_rules, max_slippage_bps=max_slippage_bps,
                           balances=balances)
        if not plan.executable:
            continue
        cid = new_client_order_id()
        try:
            await io.submit(plan.venue, symbol, plan.side, plan.amount, plan.limit_price, TimeInForce.IOC, cid)
            hedged.append(cid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("hedge of %s %s failed: %s", residual, symbol, type(exc).__name__)
    return hedged
