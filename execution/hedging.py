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
from execution.arbitrage.unwind import plan_unwind
from execution.types import MarketRules, OrderBook, TimeInForce

logger = logging.getLogger(__name__)


async def hedge_exposure(io: ArbitrageIO, exposure: Mapping[str, Decimal],
                         rules: Mapping[tuple[str, str], MarketRules], venues: Sequence[str], *,
                         max_slippage_bps: Decimal, balances: Mapping[str, Mapping[str, Decimal]],
                         new_client_order_id: Callable[[], str]) -> list[str]:
    """Send one hedge per symbol whose ``exposure`` (net base) is not zero and can be flattened; returns their client
    order ids. A venue without a book is not a candidate; a failed hedge is logged (reconciliation tries again)."""
    hedged: list[str] = []
    for symbol, residual in exposure.items():
        if residual == 0:
            continue
        candidates = [venue for venue in venues if (venue, symbol) in rules]
        books: dict[str, OrderBook] = {}
        for venue in candidates:
            try:
                books[venue] = await io.order_book(venue, symbol)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
        plan = plan_unwind(residual, symbol, books, {venue: rules[(venue, symbol)] for venue in candidates},
                           max_slippage_bps=max_slippage_bps, balances=balances)
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
