"""``execute_arbitrage``: both legs sent concurrently as IOC limit orders through an injected ``ArbitrageIO`` (so a
Ray actor and a unit test run the same code), ambiguous leg errors resolved by client order id (never resent), the
outcome classified, the residual measured and, when needed, an unwind planned and executed.
``start_arbitrage`` is the same in two halves (both legs written before it returns)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, localcontext
from typing import Any

from execution.arbitrage.legs import (
    ArbitrageIO,
    LegIntent,
    LegPurpose,
    LegResult,
    is_definite_rejection,
    make_client_order_id,
    send_leg,
    start_submit,
)
from execution.arbitrage.outcome import (
    ArbitrageResult,
    Outcome,
    add_flows,
    classify,
    fills_of,
    gross_base,
    realised_profit,
)
from execution.arbitrage.profit import EXACT, ArbitrageInputError, checked_amount, checked_price
from execution.arbitrage.sizing import Opportunity
from execution.arbitrage.unwind import UnwindPlan, UnwindPolicy, books_for_unwind, plan_unwind
from execution.types import ZERO, MarketRules, OrderSnapshot, Side, TimeInForce

logger = logging.getLogger(__name__)


async def execute_arbitrage(
    buy_exchange: str,
    sell_exchange: str,
    symbol: str,
    amount: object,
    *,
    buy_price: object,
    sell_price: object,
    io: ArbitrageIO,
    rules: Mapping[str, MarketRules],
    client_order_ids: tuple[str, str] | None = None,
    before_submit: Callable[[LegIntent], Awaitable[None]] | None = None,
    unwind: UnwindPolicy | None = UnwindPolicy(),
    balances: Mapping[str, Mapping[str, Decimal]] | None = None,
    buy_fee_in_base: bool = True,
    leg_timeout_s: float = 10.0,
    lookup_attempts: int = 5,
    lookup_interval_s: float = 0.2,
    is_rejection: Callable[[BaseException], bool] = is_definite_rejection,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> ArbitrageResult:
    """Buy ``amount`` on ``buy_exchange`` at most at ``buy_price`` and sell it on ``sell_exchange`` at least at
    ``sell_price``: two IOC limit orders sent concurrently through ``io``.

    Client order ids are made (or taken from ``client_order_ids`` = (buy, sell)) before anything is sent and handed
    to ``before_submit`` (journal them there). A definite rejection is a missed leg; any other error is settled by
    looking the order up by client order id, never by resending. When the legs leave a residual, an unwind is planned
    with ``plan_unwind`` over both venues and, if ``unwind.execute``, sent as an IOC through ``io`` (never when a leg
    is unresolved: the exposure is unknown until reconciliation). ``rules`` is keyed by venue name.
    """
    intents = _leg_intents(buy_exchange, sell_exchange, symbol, amount, buy_price, sell_price, rules, client_order_ids)
    if before_submit is not None:
        for intent in intents:
            await before_submit(intent)
    return await _carry_out(io, intents, rules, [start_submit(io, intent) for intent in intents], unwind=unwind,
                            balances=balances, buy_fee_in_base=buy_fee_in_base, before_submit=before_submit, send=dict(
                                timeout_s=leg_timeout_s, lookup_attempts=lookup_attempts,
                                lookup_interval_s=lookup_interval_s, is_rejection=is_rejection, sleep=sleep))


def start_arbitrage(
    buy_exchange: str,
    sell_exchange: str,
    symbol: str,
    amount: object,
    *,
    buy_price: object,
    sell_price: object,
    io: ArbitrageIO,
    rules: Mapping[str, MarketRules],
    client_order_ids: tuple[str, str] | None = None,
    unwind: UnwindPolicy | None = UnwindPolicy(),
    balances: Mapping[str, Mapping[str, Decimal]] | None = None,
    buy_fee_in_base: bool = True,
    leg_timeout_s: float = 10.0,
    lookup_attempts: int = 5,
    lookup_interval_s: float = 0.2,
    is_rejection: Callable[[BaseException], bool] = is_definite_rejection,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Awaitable[ArbitrageResult]:
    """``execute_arbitrage`` (without ``before_submit``) in two halves: the inputs are checked, and both legs handed to
    ``io`` (written, when it has ``start_submit``), before this returns; await the result for the rest. Bad input
    raises ``ArbitrageInputError`` at once, with nothing sent."""
    intents = _leg_intents(buy_exchange, sell_exchange, symbol, amount, buy_price, sell_price, rules, client_order_ids)
    return _carry_out(io, intents, rules, [start_submit(io, intent) for intent in intents], unwind=unwind,
                      balances=balances, buy_fee_in_base=buy_fee_in_base, before_submit=None, send=dict(
                          timeout_s=leg_timeout_s, lookup_attempts=lookup_attempts,
                          lookup_interval_s=lookup_interval_s, is_rejection=is_rejection, sleep=sleep))


def _leg_intents(buy_exchange: str, sell_exchange: str, symbol: str, amount: object, buy_price: object,
                 sell_price: object, rules: Mapping[str, MarketRules],
                 client_order_ids: tuple[str, str] | None) -> tuple[LegIntent, LegIntent]:
    quantity = checked_amount(amount, "amount", allow_zero=False)
    buy_limit = checked_price(buy_price, "buy price")
    sell_limit = checked_price(sell_price, "sell price")
    if buy_exchange == sell_exchange:
        raise ArbitrageInputError("sell_exchange", sell_exchange, "buy and sell venue are the same")
    for venue in (buy_exchange, sell_exchange):
        if venue not in rules:
            raise ArbitrageInputError("rules", venue, "no market rules for this venue")
    buy_id, sell_id = client_order_ids or (make_client_order_id(), make_client_order_id())
    return (
        LegIntent(buy_exchange, symbol, Side.BUY, quantity, buy_limit, TimeInForce.IOC, buy_id, LegPurpose.BUY_LEG),
        LegIntent(sell_exchange, symbol, Side.SELL, quantity, sell_limit, TimeInForce.IOC, sell_id, LegPurpose.SELL_LEG),
    )


async def _carry_out(io: ArbitrageIO, intents: tuple[LegIntent, LegIntent], rules: Mapping[str, MarketRules],
                     submissions: list[Awaitable[OrderSnapshot]], *, unwind: UnwindPolicy | None,
                     balances: Mapping[str, Mapping[str, Decimal]] | None, buy_fee_in_base: bool,
                     before_submit: Callable[[LegIntent], Awaitable[None]] | None,
                     send: dict[str, Any]) -> ArbitrageResult:
    """The legs' answers (both on the wire already), the outcome, and the unwind of any residual."""
    buy_intent, sell_intent = intents
    buy_exchange, sell_exchange, symbol = buy_intent.venue, sell_intent.venue, buy_intent.symbol
    buy_limit, sell_limit = buy_intent.price, sell_intent.price
    buy_id, sell_id = buy_intent.client_order_id, sell_intent.client_order_id
    buy_rules, sell_rules = rules[buy_exchange], rules[sell_exchange]
    base, quote = buy_rules.base, buy_rules.quote
    buy_leg, sell_leg = await asyncio.gather(*(send_leg(io, intent, submission, **send)
                                               for intent, submission in zip(intents, submissions)))
    outcome = classify(buy_leg, sell_leg)

    buy_fills, buy_exact = fills_of(buy_leg, buy_rules, buy_fee_in_base)
    sell_fills, sell_exact = fills_of(sell_leg, sell_rules, buy_fee_in_base)
    profit, fees_exact = realised_profit(buy_fills, sell_fills, base, quote)
    flows: dict[tuple[str, str], Decimal] = {}
    fees: dict[tuple[str, str], Decimal] = {}
    add_flows(flows, fees, buy_fills + sell_fills, base, quote)
    with localcontext(EXACT):
        residual_by_venue = {venue: gross_base(buy_fills + sell_fills, venue) for venue in (buy_exchange, sell_exchange)}
        residual = sum(residual_by_venue.values(), ZERO)
        base_fees = sum((fee for (_, asset), fee in fees.items() if asset == base), ZERO)
    logger.info(
        "arbitrage %s buy %s@%s %s sell %s@%s %s: %s, realised %s %s, residual %s %s",
        symbol, buy_exchange, buy_limit, buy_id, sell_exchange, sell_limit, sell_id, outcome.value, profit, quote,
        residual, base,
    )

    plan: UnwindPlan | None = None
    unwind_leg: LegResult | None = None
    flows_after = dict(flows)
    residual_after = residual
    if residual != 0 and unwind is not None:
        books = await books_for_unwind(io, unwind, symbol, (buy_exchange, sell_exchange))
        plan = plan_unwind(residual, symbol, books, rules, max_slippage_bps=unwind.max_slippage_bps, balances=balances)
        if plan.reason == "no_book" or not plan.executable:
            logger.warning("arbitrage %s residual %s %s not unwound: %s (dust %s)", symbol, residual, base,
                           plan.reason, plan.dust)
        elif outcome is Outcome.UNRESOLVED:
            logger.error("arbitrage %s residual %s %s not unwound: a leg is unresolved", symbol, residual, base)
        elif unwind.execute:
            unwind_intent = LegIntent(
                plan.venue, symbol, plan.side, plan.amount, plan.limit_price, TimeInForce.IOC,
                make_client_order_id("unw"), LegPurpose.UNWIND,
            )
            if before_submit is not None:
                await before_submit(unwind_intent)
            unwind_leg = await send_leg(io, unwind_intent, start_submit(io, unwind_intent), **send)
            unwind_fills, unwind_exact = fills_of(unwind_leg, rules[plan.venue], buy_fee_in_base)
            buy_exact = buy_exact and unwind_exact
            add_flows(flows_after, {}, unwind_fills, base, quote)
            with localcontext(EXACT):
                residual_after += gross_base(unwind_fills, plan.venue)
    return ArbitrageResult(
        symbol=symbol,
        base=base,
        quote=quote,
        buy=buy_leg,
        sell=sell_leg,
        outcome=outcome,
        realised_profit=profit,
        fees=fees,
        flows=flows,
        residual=residual,
        residual_by_venue=residual_by_venue,
        base_fees=base_fees,
        unwind_plan=plan,
        unwind=unwind_leg,
        flows_after_unwind=flows_after,
        residual_after_unwind=residual_after,
        exact=buy_exact and sell_exact and fees_exact,
    )


async def execute_opportunity(opportunity: Opportunity, *, io: ArbitrageIO, rules: Mapping[str, MarketRules],
                              **options: object) -> ArbitrageResult:
    """``execute_arbitrage`` for a sized ``Opportunity`` (its amount and limit prices)."""
    return await execute_arbitrage(
        opportunity.buy_exchange, opportunity.sell_exchange, opportunity.symbol, opportunity.amount,
        buy_price=opportunity.buy_limit, sell_price=opportunity.sell_limit, io=io, rules=rules, **options,
    )
