"""What an arbitrage came to: the outcome of its two legs (``classify``), the fills (inferred where a venue
reported a fill without trades), balance flows per venue and asset, the residual, and the realised profit
(``ArbitrageResult``)."""
from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from execution.arbitrage.legs import LegResult
from execution.arbitrage.profit import EXACT, ONE
from execution.arbitrage.unwind import UnwindPlan
from execution.types import ZERO, Fill, MarketRules, Side

logger = logging.getLogger(__name__)


class Outcome(str, enum.Enum):
    """How the two legs ended."""

    BOTH_FILLED = "both_filled"  # both legs filled completely
    BOTH_MISSED = "both_missed"  # neither leg filled anything
    ONE_LEGGED = "one_legged"  # one leg filled (fully or partly), the other nothing
    PARTIAL = "partial"  # both filled something, at least one not all of it
    UNRESOLVED = "unresolved"  # a leg's fate is unknown after lookups: reconcile by client order id


@dataclass(frozen=True, slots=True)
class ArbitrageResult:
    """Everything ``execute_arbitrage`` learned. Money in the quote asset, exact.

    - ``realised_profit``: on the matched amount ``min(bought, sold)``, sell proceeds minus buy cost (fills taken in
      the order each venue reported them) minus every fee paid on the two legs, each valued in quote at its fill's
      price. The unmatched remainder is ``residual``, not profit.
    - ``flows``: balance change per (venue, asset) from the legs' fills, net of fees (the unwind's are in
      ``flows_after_unwind``).
    - ``residual``: base bought minus base sold across venues by the legs, gross of fees (what the unwind flattens);
      ``residual_by_venue`` is that per venue; ``base_fees`` are the fees charged in base (the carried exposure, see
      the module docstring), so the net base change across venues is ``residual - base_fees``.
    - ``exact``: False when a fill had to be inferred (a filled order without trades) or a fee was charged in an
      asset other than base or quote (left out of ``realised_profit``).
    """

    symbol: str
    base: str
    quote: str
    buy: LegResult
    sell: LegResult
    outcome: Outcome
    realised_profit: Decimal
    fees: Mapping[tuple[str, str], Decimal]
    flows: Mapping[tuple[str, str], Decimal]
    residual: Decimal
    residual_by_venue: Mapping[str, Decimal]
    base_fees: Decimal = ZERO
    unwind_plan: UnwindPlan | None = None
    unwind: LegResult | None = None
    flows_after_unwind: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    residual_after_unwind: Decimal = ZERO
    exact: bool = True

    @property
    def legs(self) -> tuple[LegResult, LegResult]:
        return self.buy, self.sell


def classify(buy: LegResult, sell: LegResult) -> Outcome:
    """The outcome of two legs (see ``Outcome``)."""
    def settled(leg: LegResult) -> bool:
        # A leg known to have filled completely needs no terminal state to be classified.
        return leg.resolved or (leg.snapshot is not None and leg.filled == leg.intent.amount)

    if not (settled(buy) and settled(sell)):
        return Outcome.UNRESOLVED
    bought, sold = buy.filled, sell.filled
    if bought == buy.intent.amount and sold == sell.intent.amount:
        return Outcome.BOTH_FILLED
    if bought == 0 and sold == 0:
        return Outcome.BOTH_MISSED
    if bought == 0 or sold == 0:
        return Outcome.ONE_LEGGED
    return Outcome.PARTIAL


def fills_of(leg: LegResult, rules: MarketRules, buy_fee_in_base: bool) -> tuple[list[Fill], bool]:
    """The leg's fills; when a venue reported a fill without trades, one inferred fill (and ``exact`` False)."""
    snapshot = leg.snapshot
    if snapshot is None or snapshot.filled == 0:
        return [], True
    fills = list(snapshot.fills)
    reported = sum((fill.amount for fill in fills), ZERO)
    if reported == snapshot.filled:
        return fills, True
    missing = snapshot.filled - reported
    price = snapshot.average or snapshot.price or leg.intent.price
    with localcontext(EXACT):
        if snapshot.side is Side.BUY and buy_fee_in_base:
            fee, asset = missing * rules.taker_fee, rules.base
        else:
            fee, asset = missing * price * rules.taker_fee, rules.quote
    inferred = Fill(
        exchange=snapshot.exchange,
        symbol=snapshot.symbol,
        side=snapshot.side,
        price=price,
        amount=missing,
        fee=fee,
        fee_asset=asset,
        trade_id=f"inferred:{snapshot.client_order_id}",
        client_order_id=snapshot.client_order_id,
        exchange_order_id=snapshot.exchange_order_id,
        ts_ms=snapshot.ts_ms or 0,
    )
    logger.warning(
        "fill inferred for %s %s: venue reported filled %s but trades for %s",
        snapshot.exchange, snapshot.client_order_id, snapshot.filled, reported,
    )
    return fills + [inferred], False


def add_flows(flows: dict[tuple[str, str], Decimal], fees: dict[tuple[str, str], Decimal], fills: Iterable[Fill],
               base: str, quote: str) -> None:
    with localcontext(EXACT):
        for fill in fills:
            sign = ONE if fill.side is Side.BUY else -ONE
            flows[(fill.exchange, base)] = flows.get((fill.exchange, base), ZERO) + sign * fill.amount
            flows[(fill.exchange, quote)] = flows.get((fill.exchange, quote), ZERO) - sign * fill.amount * fill.price
            if fill.fee:
                flows[(fill.exchange, fill.fee_asset)] = flows.get((fill.exchange, fill.fee_asset), ZERO) - fill.fee
                fees[(fill.exchange, fill.fee_asset)] = fees.get((fill.exchange, fill.fee_asset), ZERO) + fill.fee


def gross_base(fills: Iterable[Fill], venue: str) -> Decimal:
    """Base bought minus base sold on ``venue`` by ``fills``, gross of fees."""
    return sum((fill.amount if fill.side is Side.BUY else -fill.amount for fill in fills if fill.exchange == venue),
               ZERO)


def _matched_notional(fills: list[Fill], amount: Decimal) -> Decimal:
    """Notional of the first ``amount`` units of ``fills`` in reported order."""
    taken = notional = ZERO
    with localcontext(EXACT):
        for fill in fills:
            if taken >= amount:
                break
            take = min(fill.amount, amount - taken)
            taken += take
            notional += take * fill.price
    return notional


def realised_profit(buy_fills: list[Fill], sell_fills: list[Fill], base: str, quote: str) -> tuple[Decimal, bool]:
    """``(profit, exact)`` as defined on ``ArbitrageResult.realised_profit``."""
    with localcontext(EXACT):
        bought = sum((fill.amount for fill in buy_fills), ZERO)
        sold = sum((fill.amount for fill in sell_fills), ZERO)
        matched = min(bought, sold)
        profit = _matched_notional(sell_fills, matched) - _matched_notional(buy_fills, matched)
        exact = True
        for fill in buy_fills + sell_fills:
            if fill.fee_asset == quote:
                profit -= fill.fee
            elif fill.fee_asset == base:
                profit -= fill.fee * fill.price
            elif fill.fee:
                exact = False
        return profit, exact
