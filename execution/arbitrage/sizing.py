"""Depth-aware sizing: from two order books, each venue's ``MarketRules`` and the inventory on each venue, the
largest amount whose volume-weighted prices still clear a minimum profit, with the two IOC limit prices
(``size_arbitrage``, ``find_opportunity``), and the grid helpers the unwind shares (``floor_to``, ``crossing_limit``,
``walk_book``)."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext

from execution.arbitrage.profit import (
    BPS,
    EXACT,
    ONE,
    ArbitrageInputError,
    Fees,
    checked_amount,
    checked_decimal,
)
from execution.money import InvalidAmountError
from execution.types import ZERO, MarketRules, OrderBook, Side


@dataclass(frozen=True, slots=True)
class Opportunity:
    """A sized arbitrage: buy ``amount`` on ``buy_exchange`` up to ``buy_limit``, sell it on ``sell_exchange`` down to
    ``sell_limit``. VWAPs are what the two books promise for ``amount``; ``expected_profit`` is in the quote asset,
    fees included (the buy fee valued at ``buy_vwap``); ``expected_quote_delta`` / ``expected_base_delta`` are the
    balance changes summed over both venues with each fee in the asset it is charged in."""

    symbol: str
    buy_exchange: str
    sell_exchange: str
    amount: Decimal
    buy_limit: Decimal
    sell_limit: Decimal
    buy_vwap: Decimal
    sell_vwap: Decimal
    buy_notional: Decimal
    sell_notional: Decimal
    expected_profit: Decimal
    profit_bps: Decimal
    expected_quote_delta: Decimal
    expected_base_delta: Decimal
    base_fee_exposure: Decimal  # base the buy fee removes (the policy keeps sell amount == buy amount)
    quote_required: Decimal  # quote the buy venue must have free for the IOC (limit * amount, plus a quote fee)
    fees: Fees


@functools.lru_cache(maxsize=1024)  # a handful of venue pairs, asked on every detection
def common_step(*steps: Decimal) -> Decimal:
    """Smallest amount that is a whole number of every step (lcm of decimal steps)."""
    from math import lcm

    exponent = min(step.normalize().as_tuple().exponent for step in steps)
    scale = Decimal(10) ** (-exponent) if exponent < 0 else ONE
    integers = [int(step * scale) for step in steps]
    if any(value <= 0 or Decimal(value) != step * scale for value, step in zip(integers, steps)):
        raise InvalidAmountError("steps", steps, "must be positive decimals")
    return (Decimal(lcm(*integers)) / scale).normalize()


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    with localcontext(EXACT):
        return ((value / step).to_integral_value(rounding="ROUND_FLOOR") * step).quantize(step) if value > 0 else ZERO


def crossing_limit(rules: MarketRules, side: Side, price: Decimal) -> Decimal:
    """A limit on the tick grid that still reaches ``price``: up for a buy, down for a sell."""
    tick = rules.price_tick
    with localcontext(EXACT):
        whole = (price / tick).to_integral_value(rounding="ROUND_CEILING" if side is Side.BUY else "ROUND_FLOOR")
        return (whole * tick).quantize(tick)


def walk_book(levels: Iterable[tuple[Decimal, Decimal]], amount: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """Take ``amount`` from ``levels`` (best first): ``(filled, notional, worst_price)``. ``filled < amount`` when the
    book is too thin."""
    filled = notional = ZERO
    worst = ZERO
    with localcontext(EXACT):
        for price, size in levels:
            if filled >= amount:
                break
            take = min(size, amount - filled)
            filled += take
            notional += take * price
            worst = price
    return filled, notional, worst


def _max_amount_at_threshold(
    asks: tuple[tuple[Decimal, Decimal], ...],
    bids: tuple[tuple[Decimal, Decimal], ...],
    fees: Fees,
    threshold: Decimal,
    cap: Decimal,
    quote_cap: Callable[[Decimal], Decimal],
) -> Decimal:
    """Largest amount (not yet on the step grid) whose VWAP profit is at least ``threshold`` x buy notional.

    Walks segments where both the ask and the bid level are fixed. Inside one, profit and notional are linear in the
    amount, so the boundary is solved directly. Marginal profit only falls as the walk goes deeper (asks rise, bids
    fall), so the feasible set is an interval from zero and the walk stops at the first segment that ends it.
    ``quote_cap(ask_price)`` is the most the buy venue's free quote allows when the limit is ``ask_price``.
    """
    amount = cost = proceeds = ZERO
    i = j = 0
    ask_left = asks[0][1] if asks else ZERO
    bid_left = bids[0][1] if bids else ZERO
    with localcontext(EXACT):
        while i < len(asks) and j < len(bids):
            ask, bid = asks[i][0], bids[j][0]
            margin = bid * (ONE - fees.sell) - ask * (ONE + fees.buy)
            if margin <= 0:
                break
            segment = min(ask_left, bid_left)
            take = min(segment, cap - amount, quote_cap(ask) - amount)
            slope = margin - threshold * ask
            if slope < 0:
                slack = proceeds * (ONE - fees.sell) - cost * (ONE + fees.buy) - threshold * cost
                take = min(take, slack / -slope)
            if take <= 0:
                break
            amount += take
            cost += take * ask
            proceeds += take * bid
            if take < segment:
                break  # a cap or the threshold ends the walk inside this segment
            ask_left -= take
            bid_left -= take
            if ask_left == 0:
                i += 1
                ask_left = asks[i][1] if i < len(asks) else ZERO
            if bid_left == 0:
                j += 1
                bid_left = bids[j][1] if j < len(bids) else ZERO
    return amount


FLOAT_SCREEN_MARGIN = 1e-9  # relative; the screen's few float operations err by ~1e-15


def misses_min_profit(best_ask: object, best_bid: object, buy_fee: Decimal, sell_fee: Decimal,
                      min_profit_bps: Decimal) -> bool:
    """True only when ``size_arbitrage`` on books with these best prices would find nothing: the first unit, bought at
    the best ask and sold at the best bid, gains the most of any unit (deeper levels pay less), and even it misses
    ``min_profit_bps`` after fees by more than float error. In floats: a crossing that cannot pay costs no Decimal
    work; any other goes on to be sized exactly."""
    bar = float(best_ask) * (1.0 + float(buy_fee) + float(min_profit_bps) / 10_000)
    return float(best_bid) * (1.0 - float(sell_fee)) < bar * (1.0 - FLOAT_SCREEN_MARGIN)


def size_arbitrage(
    buy_book: OrderBook,
    sell_book: OrderBook,
    buy_rules: MarketRules,
    sell_rules: MarketRules,
    *,
    quote_free: object,
    base_free: object,
    min_profit_bps: object = ZERO,
    max_amount: object | None = None,
    buy_fee_in_base: bool = True,
) -> Opportunity | None:
    """Size buying on ``buy_book``'s venue and selling on ``sell_book``'s: ``None`` when nothing clears the bar.

    The amount is the largest on the step grid of both venues such that
    - ``sell_vwap * (1 - f_sell) - buy_vwap * (1 + f_buy) >= min_profit_bps / 10_000 * buy_vwap`` and the profit is
      positive (taker fees from each venue's ``MarketRules``);
    - no unit loses: the last unit, bought at the worst ask and sold at the worst bid touched, still gains after fees
      (a deeper level may keep the average above the bar, but taking it would only lower the profit);
    - it fits both books' depth, ``base_free`` (base on the sell venue), ``quote_free`` (quote on the buy venue for
      ``amount * buy_limit``, the sum a venue locks for a limit buy, plus the fee when the buy fee is charged in
      quote), both venues' ``max_amount`` and ``max_amount``;
    - it is at least both venues' ``min_amount`` and each leg's ``amount * limit`` at least that venue's
      ``min_notional``.
    Limits are the worst level each leg touches, on each venue's tick grid.
    """
    if buy_book.symbol != sell_book.symbol:
        raise ArbitrageInputError("symbol", (buy_book.symbol, sell_book.symbol), "books are for different symbols")
    quote_available = checked_amount(quote_free, "quote_free")
    base_available = checked_amount(base_free, "base_free")
    threshold_bps = checked_decimal(min_profit_bps, "min_profit_bps", ArbitrageInputError)
    if threshold_bps < 0:
        raise ArbitrageInputError("min_profit_bps", min_profit_bps, "must not be negative")
    fees = Fees.of((buy_rules.taker_fee, sell_rules.taker_fee))
    if not buy_book.asks or not sell_book.bids:
        return None
    with localcontext(EXACT):
        threshold = threshold_bps / BPS
        step = common_step(buy_rules.amount_step, sell_rules.amount_step)
        caps = [base_available]
        for limit in (max_amount, buy_rules.max_amount, sell_rules.max_amount):
            if limit is not None:
                caps.append(checked_amount(limit, "max_amount"))
        cap = min(caps)
        quote_per_unit = ONE + fees.buy if not buy_fee_in_base else ONE

        def quote_cap(ask: Decimal) -> Decimal:
            return quote_available / (crossing_limit(buy_rules, Side.BUY, ask) * quote_per_unit)

        raw = _max_amount_at_threshold(buy_book.asks, sell_book.bids, fees, threshold, cap, quote_cap)
        amount = floor_to(raw, step)
        # The boundary solve divides; confirm the truncated amount exactly, stepping down if a rounding crept in.
        for _ in range(3):
            if amount <= 0:
                return None
            opportunity = _evaluate(
                buy_book, sell_book, buy_rules, sell_rules, fees, amount, threshold, buy_fee_in_base
            )
            if opportunity is not None and opportunity.quote_required <= quote_available:
                break
            amount -= step
        else:
            return None
        if amount < max(buy_rules.min_amount, sell_rules.min_amount):
            return None
        if opportunity.amount * opportunity.buy_limit < buy_rules.min_notional:
            return None
        if opportunity.amount * opportunity.sell_limit < sell_rules.min_notional:
            return None
        return opportunity


def _evaluate(
    buy_book: OrderBook,
    sell_book: OrderBook,
    buy_rules: MarketRules,
    sell_rules: MarketRules,
    fees: Fees,
    amount: Decimal,
    threshold: Decimal,
    buy_fee_in_base: bool,
) -> Opportunity | None:
    """The exact opportunity for ``amount``, or ``None`` if a book is too thin or the profit misses the bar."""
    bought, buy_notional, worst_ask = walk_book(buy_book.asks, amount)
    sold, sell_notional, worst_bid = walk_book(sell_book.bids, amount)
    if bought < amount or sold < amount:
        return None
    profit = sell_notional * (ONE - fees.sell) - buy_notional * (ONE + fees.buy)
    if profit <= 0 or profit < threshold * buy_notional:
        return None
    buy_limit = crossing_limit(buy_rules, Side.BUY, worst_ask)
    sell_limit = crossing_limit(sell_rules, Side.SELL, worst_bid)
    buy_fee = amount * fees.buy if buy_fee_in_base else buy_notional * fees.buy
    with localcontext() as display:  # VWAPs and bps are informational: 28 significant digits
        display.prec = 28
        buy_vwap, sell_vwap = buy_notional / amount, sell_notional / amount
        bps = profit * BPS / buy_notional
    quote_delta = sell_notional * (ONE - fees.sell) - buy_notional - (ZERO if buy_fee_in_base else buy_fee)
    base_delta = -buy_fee if buy_fee_in_base else ZERO
    return Opportunity(
        symbol=buy_book.symbol,
        buy_exchange=buy_book.exchange,
        sell_exchange=sell_book.exchange,
        amount=amount,
        buy_limit=buy_limit,
        sell_limit=sell_limit,
        buy_vwap=buy_vwap,
        sell_vwap=sell_vwap,
        buy_notional=buy_notional,
        sell_notional=sell_notional,
        expected_profit=profit,
        profit_bps=bps,
        expected_quote_delta=quote_delta,
        expected_base_delta=base_delta,
        base_fee_exposure=-base_delta,
        quote_required=amount * buy_limit * (ONE if buy_fee_in_base else ONE + fees.buy),
        fees=fees,
    )


def find_opportunity(
    book_a: OrderBook,
    book_b: OrderBook,
    rules: Mapping[str, MarketRules],
    balances: Mapping[str, Mapping[str, Decimal]],
    *,
    min_profit_bps: object = ZERO,
    max_amount: object | None = None,
    buy_fee_in_base: bool = True,
    max_book_age_s: float | None = None,
    now: float | None = None,
) -> Opportunity | None:
    """Buy on the venue with the lower best ask, sell on the other, sized by ``size_arbitrage``.

    ``rules`` and ``balances`` are keyed by venue name (``OrderBook.exchange``); balances by asset (free amounts).
    With ``max_book_age_s`` a stale book raises ``BookError`` rather than being traded on.
    """
    if max_book_age_s is not None:
        book_a.check_fresh(max_book_age_s, now)
        book_b.check_fresh(max_book_age_s, now)
    if book_a.best_ask is None or book_b.best_ask is None:
        return None
    buy_book, sell_book = (book_a, book_b) if book_a.best_ask <= book_b.best_ask else (book_b, book_a)
    buy_rules, sell_rules = rules[buy_book.exchange], rules[sell_book.exchange]
    quote_free = balances.get(buy_book.exchange, {}).get(buy_rules.quote, ZERO)
    base_free = balances.get(sell_book.exchange, {}).get(sell_rules.base, ZERO)
    return size_arbitrage(
        buy_book,
        sell_book,
        buy_rules,
        sell_rules,
        quote_free=quote_free,
        base_free=base_free,
        min_profit_bps=min_profit_bps,
        max_amount=max_amount,
        buy_fee_in_base=buy_fee_in_base,
    )
