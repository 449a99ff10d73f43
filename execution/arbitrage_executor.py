"""Cross-exchange arbitrage: the profit maths, depth-aware sizing, and the two-legged execution with its unwind.

Responsibilities, in the order a trade needs them:

1. ``calculate_profit`` and friends: exact (``Decimal``) profit of buying on one venue and selling on another, fees
   included. Rates are taker rates, one per side.
2. ``size_arbitrage`` / ``find_opportunity``: from two order books, each venue's ``MarketRules`` and the inventory on
   each venue, the largest amount whose volume-weighted prices still clear a minimum profit, with the two IOC limit
   prices and the expected profit.
3. ``execute_arbitrage``: both legs sent concurrently as IOC limit orders through an injected ``ArbitrageIO`` (so a
   Ray actor and a unit test run the same code), ambiguous leg errors resolved by client order id (never resent), the
   outcome classified, the residual exposure measured and, when needed, an unwind planned and executed.

Fee policy (Binance-like venues charge a buyer's commission in the base asset): the sell leg sells exactly the amount
the buy leg buys, and the buyer's fee is carried as a known short of ``amount * buy_fee`` base per trade. It is
reported (``Opportunity.base_fee_exposure``, ``ArbitrageResult.base_fees``) and priced into every profit figure at
the buy price, so ``profit = amount * (sell * (1 - f_sell) - buy * (1 + f_buy))`` holds whichever asset the buy fee
is charged in. The unwind after a trade flattens what the legs bought minus what they sold (gross of fees), never the
fee carry, so after the unwind every outcome leaves the same known exposure: minus the base fees paid. The carry
accumulates over trades; flatten it from the position tracker's exposure (``plan_unwind(tracker.exposure()[base],
...)``) once it grows past the venue's minimum order.

No I/O happens here except through ``ArbitrageIO``; nothing here imports ccxt or ray.
"""
from __future__ import annotations

import asyncio
import enum
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from typing import Any, Protocol

from execution.error_handler import ORDER_REFUSED, ErrorClass, error_class, start_now
from execution.types import (
    ZERO,
    Fill,
    MarketRules,
    OrderBook,
    OrderSnapshot,
    OrderStatus,
    Side,
    TimeInForce,
)

logger = logging.getLogger(__name__)

ONE = Decimal(1)
BPS = Decimal(10_000)
# Every product and sum of venue-sized decimals stays exact at this precision (prices and amounts have < 20 digits).
EXACT = Context(prec=80)


class ArbitrageInputError(ValueError):
    """An argument to the arbitrage maths is not a finite, non-negative Decimal where one is required."""


class InvalidPriceError(ArbitrageInputError):
    """A price is missing, NaN, infinite, zero or negative, or given as a float. Pass a positive Decimal (or str)."""


class InvalidFeeError(ArbitrageInputError):
    """A fee rate is NaN, infinite, negative, 1 or more, or given as a float. Pass a rate like Decimal("0.001")."""


class InvalidAmountError(ArbitrageInputError):
    """An amount is NaN, infinite, negative (or zero where a trade needs one), or given as a float."""


def _to_decimal(value: object, what: str, error: type[ArbitrageInputError]) -> Decimal:
    if isinstance(value, bool) or isinstance(value, float):
        raise error(f"{what} must be a Decimal, int or str, not {type(value).__name__} ({value!r}): money is never float")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, str)):
        try:
            result = Decimal(value)
        except ArithmeticError as exc:  # decimal.InvalidOperation
            raise error(f"{what} {value!r} is not a number") from exc
    else:
        raise error(f"{what} must be a Decimal, int or str, not {type(value).__name__}")
    if not result.is_finite():
        raise error(f"{what} must be finite, got {result}")
    return result


def _price(value: object, what: str) -> Decimal:
    price = _to_decimal(value, what, InvalidPriceError)
    if price <= 0:
        raise InvalidPriceError(f"{what} must be positive, got {price}")
    return price


def _amount(value: object, what: str, *, allow_zero: bool = True) -> Decimal:
    amount = _to_decimal(value, what, InvalidAmountError)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmountError(f"{what} must be {'non-negative' if allow_zero else 'positive'}, got {amount}")
    return amount


def _fee(value: object, what: str) -> Decimal:
    rate = _to_decimal(value, what, InvalidFeeError)
    if rate < 0 or rate >= 1:
        raise InvalidFeeError(f"{what} must be a rate in [0, 1), got {rate}")
    return rate


@dataclass(frozen=True, slots=True)
class Fees:
    """Taker fee rates of the two legs: ``buy`` on the buying venue, ``sell`` on the selling venue."""

    buy: Decimal
    sell: Decimal

    @classmethod
    def of(cls, fees: object) -> "Fees":
        """Accept ``Fees``, a pair ``(buy, sell)``, a mapping ``{"buy": r, "sell": r}`` or one rate for both legs."""
        if isinstance(fees, Fees):
            return cls(_fee(fees.buy, "buy fee"), _fee(fees.sell, "sell fee"))
        if isinstance(fees, Mapping):
            unknown = set(fees) - {"buy", "sell"}
            if unknown or len(fees) != 2:
                raise InvalidFeeError(f"fees mapping must have exactly the keys 'buy' and 'sell', got {sorted(map(str, fees))}")
            return cls(_fee(fees["buy"], "buy fee"), _fee(fees["sell"], "sell fee"))
        if isinstance(fees, (tuple, list)):
            if len(fees) != 2:
                raise InvalidFeeError(f"fees pair must be (buy, sell), got {len(fees)} values")
            return cls(_fee(fees[0], "buy fee"), _fee(fees[1], "sell fee"))
        rate = _fee(fees, "fee")
        return cls(rate, rate)


def calculate_profit(buy_price: object, sell_price: object, fees: object) -> Decimal:
    """Profit per unit of base of buying at ``buy_price`` and selling at ``sell_price``, in the quote asset.

    ``sell * (1 - f_sell) - buy * (1 + f_buy)``, exact. ``fees`` are taker rates: a pair ``(f_buy, f_sell)``, a mapping
    ``{"buy": f_buy, "sell": f_sell}``, ``Fees``, or one rate for both. The buy fee is valued at the buy price, which is
    what it costs whether the venue takes it in quote or (like Binance) in base. Negative means a loss.
    Raises ``InvalidPriceError`` / ``InvalidFeeError`` for NaN, infinite, non-positive prices, rates outside [0, 1)
    and floats.
    """
    buy = _price(buy_price, "buy price")
    sell = _price(sell_price, "sell price")
    rates = Fees.of(fees)
    with localcontext(EXACT):
        return +(sell * (ONE - rates.sell) - buy * (ONE + rates.buy))


def calculate_profit_for_amount(amount: object, buy_price: object, sell_price: object, fees: object) -> Decimal:
    """``amount * calculate_profit(buy_price, sell_price, fees)``: the quote profit of buying and selling ``amount``."""
    quantity = _amount(amount, "amount")
    per_unit = calculate_profit(buy_price, sell_price, fees)
    with localcontext(EXACT):
        return +(quantity * per_unit)


def profit_bps(buy_price: object, sell_price: object, fees: object) -> Decimal:
    """``calculate_profit`` in basis points of the buy notional (``10_000 * profit / buy_price``)."""
    per_unit = calculate_profit(buy_price, sell_price, fees)
    with localcontext() as display:  # a ratio: 28 significant digits
        display.prec = 28
        return per_unit * BPS / _price(buy_price, "buy price")


@dataclass(frozen=True, slots=True)
class AssetFlows:
    """What a buy-then-sell does to balances, per asset, once fees are taken in the asset each venue charges.

    ``quote_delta`` and ``base_delta`` are summed over both venues. ``value(mark)`` prices the base change at ``mark``.
    """

    quote_delta: Decimal
    base_delta: Decimal
    buy_fee: Decimal
    buy_fee_asset: str  # "base" or "quote"
    sell_fee: Decimal
    sell_fee_asset: str

    def value(self, mark: Decimal) -> Decimal:
        with localcontext(EXACT):
            return self.quote_delta + self.base_delta * mark


def calculate_asset_flows(
    buy_amount: object,
    sell_amount: object,
    buy_price: object,
    sell_price: object,
    fees: object,
    *,
    buy_fee_in_base: bool = True,
    sell_fee_in_base: bool = False,
) -> AssetFlows:
    """Exact balance changes of buying ``buy_amount`` and selling ``sell_amount`` with fees in the charged asset.

    On Binance-like venues (the default) the buyer pays ``buy_amount * f_buy`` in base and the seller
    ``sell_amount * sell_price * f_sell`` in quote. With equal amounts and fees valued at the buy price,
    ``value(buy_price)`` equals ``calculate_profit_for_amount``.
    """
    bought = _amount(buy_amount, "buy amount")
    sold = _amount(sell_amount, "sell amount")
    buy = _price(buy_price, "buy price")
    sell = _price(sell_price, "sell price")
    rates = Fees.of(fees)
    with localcontext(EXACT):
        buy_fee = bought * rates.buy if buy_fee_in_base else bought * buy * rates.buy
        sell_fee = sold * rates.sell if sell_fee_in_base else sold * sell * rates.sell
        quote = sold * sell - bought * buy
        base = bought - sold
        if buy_fee_in_base:
            base -= buy_fee
        else:
            quote -= buy_fee
        if sell_fee_in_base:
            base -= sell_fee
        else:
            quote -= sell_fee
        return AssetFlows(
            quote_delta=quote,
            base_delta=base,
            buy_fee=buy_fee,
            buy_fee_asset="base" if buy_fee_in_base else "quote",
            sell_fee=sell_fee,
            sell_fee_asset="base" if sell_fee_in_base else "quote",
        )


# --------------------------------------------------------------------------------------------------------------------
# Sizing
# --------------------------------------------------------------------------------------------------------------------


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
        raise InvalidAmountError(f"steps must be positive decimals, got {steps}")
    return (Decimal(lcm(*integers)) / scale).normalize()


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    with localcontext(EXACT):
        return ((value / step).to_integral_value(rounding="ROUND_FLOOR") * step).quantize(step) if value > 0 else ZERO


def _crossing_limit(rules: MarketRules, side: Side, price: Decimal) -> Decimal:
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
        raise ArbitrageInputError(f"books are for different symbols: {buy_book.symbol} and {sell_book.symbol}")
    quote_available = _amount(quote_free, "quote_free")
    base_available = _amount(base_free, "base_free")
    threshold_bps = _to_decimal(min_profit_bps, "min_profit_bps", ArbitrageInputError)
    if threshold_bps < 0:
        raise ArbitrageInputError(f"min_profit_bps must not be negative, got {threshold_bps}")
    fees = Fees.of((buy_rules.taker_fee, sell_rules.taker_fee))
    if not buy_book.asks or not sell_book.bids:
        return None
    with localcontext(EXACT):
        threshold = threshold_bps / BPS
        step = common_step(buy_rules.amount_step, sell_rules.amount_step)
        caps = [base_available]
        for limit in (max_amount, buy_rules.max_amount, sell_rules.max_amount):
            if limit is not None:
                caps.append(_amount(limit, "max_amount"))
        cap = min(caps)
        quote_per_unit = ONE + fees.buy if not buy_fee_in_base else ONE

        def quote_cap(ask: Decimal) -> Decimal:
            return quote_available / (_crossing_limit(buy_rules, Side.BUY, ask) * quote_per_unit)

        raw = _max_amount_at_threshold(buy_book.asks, sell_book.bids, fees, threshold, cap, quote_cap)
        amount = _floor_to(raw, step)
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
    buy_limit = _crossing_limit(buy_rules, Side.BUY, worst_ask)
    sell_limit = _crossing_limit(sell_rules, Side.SELL, worst_bid)
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


# --------------------------------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------------------------------

TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED, OrderStatus.DENIED}
)


class Outcome(str, enum.Enum):
    """How the two legs ended."""

    BOTH_FILLED = "both_filled"  # both legs filled completely
    BOTH_MISSED = "both_missed"  # neither leg filled anything
    ONE_LEGGED = "one_legged"  # one leg filled (fully or partly), the other nothing
    PARTIAL = "partial"  # both filled something, at least one not all of it
    UNRESOLVED = "unresolved"  # a leg's fate is unknown after lookups: reconcile by client order id


class LegPurpose(str, enum.Enum):
    BUY_LEG = "buy_leg"
    SELL_LEG = "sell_leg"
    UNWIND = "unwind"


@dataclass(frozen=True, slots=True)
class LegIntent:
    """An order about to be sent, with its client order id made before any I/O (journal it, then send it)."""

    venue: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    time_in_force: TimeInForce
    client_order_id: str
    purpose: LegPurpose


@dataclass(frozen=True, slots=True)
class LegResult:
    """What became of one order. ``snapshot`` is ``None`` only when the order could not be found after an ambiguous
    error (the outcome is then ``UNRESOLVED``). ``error`` is the error met on submit (type and message, no secrets)."""

    intent: LegIntent
    snapshot: OrderSnapshot | None
    error: str | None = None
    resolved_by_lookup: bool = False

    @property
    def filled(self) -> Decimal:
        return self.snapshot.filled if self.snapshot is not None else ZERO

    @property
    def resolved(self) -> bool:
        return self.snapshot is not None and self.snapshot.status in TERMINAL_STATUSES


class ArbitrageIO(Protocol):
    """The I/O ``execute_arbitrage`` needs, by venue name. A Ray actor wraps its exchange actors in one of these; the
    ccxt one is ``execution.api.binance_api.CcxtArbitrageIO``; tests use a fake.

    ``submit`` raises on failure: an error that is a definite rejection (see ``is_definite_rejection``) means the
    order does not exist; any other error means it may exist. ``lookup`` returns ``None`` when the venue does not
    know the client order id. (Binance needs the symbol to look an order up by client order id, hence ``symbol``.)

    Optionally ``start_submit`` (same arguments, a plain method): begin ``submit`` now, so that the request has been
    written when it returns, and return the awaitable answer. With it both legs leave before either is waited for;
    without it each leg is sent by its own task.
    """

    async def submit(
        self,
        venue: str,
        symbol: str,
        side: Side,
        amount: Decimal,
        price: Decimal,
        time_in_force: TimeInForce,
        client_order_id: str,
    ) -> OrderSnapshot: ...

    async def lookup(self, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot | None: ...

    async def order_book(self, venue: str, symbol: str) -> OrderBook: ...


def is_definite_rejection(error: BaseException) -> bool:
    """True when ``error`` proves the venue refused the order (it does not exist); False when it may exist.

    By the error's class (``execution.error_handler.ORDER_REFUSED``): a definite rejection, an authentication failure
    or a retryable refusal (rate limit, timestamp window: the venue did not process it). A duplicate client order id
    (the order exists) and "not found" are looked up, and count as a rejection only if the venue does not know the
    id. Timeouts, network errors, 5xx and anything unknown are ambiguous: looked up, and unresolved if never found.
    """
    # A duplicate client order id means the order exists; "not found" on create proves nothing either.
    return error_class(error) in ORDER_REFUSED


def make_client_order_id(prefix: str = "arb") -> str:
    """A fresh client order id Binance accepts (``[.A-Za-z0-9:/_-]{1,36}``)."""
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


@dataclass(frozen=True, slots=True)
class UnwindPolicy:
    """How a residual is flattened. ``execute=False`` only plans. ``books`` overrides ``ArbitrageIO.order_book``."""

    execute: bool = True
    max_slippage_bps: Decimal = Decimal(50)
    books: Mapping[str, OrderBook] | None = None
    book_timeout_s: float = 5.0


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
    bound = _to_decimal(max_slippage_bps, "max_slippage_bps", ArbitrageInputError)
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
            amount = _floor_to(wanted, venue_rules.amount_step)
            raw_limit = reference * (ONE - bound / BPS) if side is Side.SELL else reference * (ONE + bound / BPS)
            # Round the bound towards the reference so slippage never exceeds it.
            limit = _crossing_limit(venue_rules, side.opposite, raw_limit)
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


def _fills_of(leg: LegResult, rules: MarketRules, buy_fee_in_base: bool) -> tuple[list[Fill], bool]:
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


def _add_flows(flows: dict[tuple[str, str], Decimal], fees: dict[tuple[str, str], Decimal], fills: Iterable[Fill],
               base: str, quote: str) -> None:
    with localcontext(EXACT):
        for fill in fills:
            sign = ONE if fill.side is Side.BUY else -ONE
            flows[(fill.exchange, base)] = flows.get((fill.exchange, base), ZERO) + sign * fill.amount
            flows[(fill.exchange, quote)] = flows.get((fill.exchange, quote), ZERO) - sign * fill.amount * fill.price
            if fill.fee:
                flows[(fill.exchange, fill.fee_asset)] = flows.get((fill.exchange, fill.fee_asset), ZERO) - fill.fee
                fees[(fill.exchange, fill.fee_asset)] = fees.get((fill.exchange, fill.fee_asset), ZERO) + fill.fee


def _gross_base(fills: Iterable[Fill], venue: str) -> Decimal:
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


def _rejected(intent: LegIntent) -> OrderSnapshot:
    return OrderSnapshot(
        exchange=intent.venue, symbol=intent.symbol, side=intent.side, client_order_id=intent.client_order_id,
        exchange_order_id=None, status=OrderStatus.REJECTED, amount=intent.amount, filled=ZERO, price=intent.price,
        average=None,
    )


def _start_submit(io: ArbitrageIO, intent: LegIntent) -> Awaitable[OrderSnapshot]:
    """The leg's ``submit``, begun at once when ``io`` has ``start_submit``; an error it raises comes out of the
    returned awaitable, where ``_send_leg`` classifies it like any other."""
    return start_now(io, "start_submit", "submit", intent.venue, intent.symbol, intent.side, intent.amount,
                     intent.price, intent.time_in_force, intent.client_order_id)


async def _send_leg(
    io: ArbitrageIO,
    intent: LegIntent,
    submission: Awaitable[OrderSnapshot],
    *,
    timeout_s: float,
    lookup_attempts: int,
    lookup_interval_s: float,
    is_rejection: Callable[[BaseException], bool],
    sleep: Callable[[float], Awaitable[None]],
) -> LegResult:
    """Settle one order's ``submission``; never raises (but for cancellation). Ambiguous errors are settled by lookup,
    never by resending."""
    ids = f"{intent.venue} {intent.purpose.value} {intent.client_order_id}"
    try:
        async with asyncio.timeout(timeout_s):
            snapshot = await submission
    except asyncio.CancelledError:
        raise
    except Exception as error:  # classified below: a definite rejection, or ambiguous
        description = _describe(error)
        if is_rejection(error):
            logger.info("%s rejected: %s", ids, description)
            return LegResult(intent, _rejected(intent), description)
        logger.warning("%s outcome ambiguous (%s): looking it up by client order id", ids, description)
        found = await _lookup_until_terminal(
            io, intent, None, timeout_s=timeout_s, attempts=lookup_attempts, interval_s=lookup_interval_s, sleep=sleep
        )
        if found is None and error_class(error) in (ErrorClass.DUPLICATE_ID, ErrorClass.NOT_FOUND):
            # The venue answered (e.g. "duplicate") yet does not know the id: this request created no order.
            logger.info("%s refused and unknown to the venue: rejected", ids)
            found = _rejected(intent)
        return LegResult(intent, found, description, resolved_by_lookup=True)
    if snapshot.status not in TERMINAL_STATUSES:
        logger.info("%s answered %s: waiting for its terminal state", ids, snapshot.status.value)
        found = await _lookup_until_terminal(
            io, intent, snapshot, timeout_s=timeout_s, attempts=lookup_attempts, interval_s=lookup_interval_s,
            sleep=sleep,
        )
        return LegResult(intent, found, None, resolved_by_lookup=True)
    return LegResult(intent, snapshot)


async def _lookup_until_terminal(
    io: ArbitrageIO,
    intent: LegIntent,
    last: OrderSnapshot | None,
    *,
    timeout_s: float,
    attempts: int,
    interval_s: float,
    sleep: Callable[[float], Awaitable[None]],
) -> OrderSnapshot | None:
    """Look the order up until it is terminal or ``attempts`` are spent; a "not found" is counted, not believed."""
    ids = f"{intent.venue} {intent.purpose.value} {intent.client_order_id}"
    for attempt in range(1, attempts + 1):
        try:
            found = await asyncio.wait_for(io.lookup(intent.venue, intent.symbol, intent.client_order_id), timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a failed lookup is one more attempt spent
            logger.warning("%s lookup %d/%d failed: %s", ids, attempt, attempts, _describe(error))
            found = None
        if found is not None:
            last = found
            if found.status in TERMINAL_STATUSES:
                return found
        if attempt < attempts:
            await sleep(interval_s)
    if last is None:
        logger.error("%s not found after %d lookups: left for reconciliation", ids, attempts)
    return last


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
    return await _carry_out(io, intents, rules, [_start_submit(io, intent) for intent in intents], unwind=unwind,
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
    return _carry_out(io, intents, rules, [_start_submit(io, intent) for intent in intents], unwind=unwind,
                      balances=balances, buy_fee_in_base=buy_fee_in_base, before_submit=None, send=dict(
                          timeout_s=leg_timeout_s, lookup_attempts=lookup_attempts,
                          lookup_interval_s=lookup_interval_s, is_rejection=is_rejection, sleep=sleep))


def _leg_intents(buy_exchange: str, sell_exchange: str, symbol: str, amount: object, buy_price: object,
                 sell_price: object, rules: Mapping[str, MarketRules],
                 client_order_ids: tuple[str, str] | None) -> tuple[LegIntent, LegIntent]:
    quantity = _amount(amount, "amount", allow_zero=False)
    buy_limit = _price(buy_price, "buy price")
    sell_limit = _price(sell_price, "sell price")
    if buy_exchange == sell_exchange:
        raise ArbitrageInputError(f"buy and sell venue are the same ({buy_exchange})")
    for venue in (buy_exchange, sell_exchange):
        if venue not in rules:
            raise ArbitrageInputError(f"no market rules for venue {venue!r}")
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
    buy_leg, sell_leg = await asyncio.gather(*(_send_leg(io, intent, submission, **send)
                                               for intent, submission in zip(intents, submissions)))
    outcome = classify(buy_leg, sell_leg)

    buy_fills, buy_exact = _fills_of(buy_leg, buy_rules, buy_fee_in_base)
    sell_fills, sell_exact = _fills_of(sell_leg, sell_rules, buy_fee_in_base)
    profit, fees_exact = realised_profit(buy_fills, sell_fills, base, quote)
    flows: dict[tuple[str, str], Decimal] = {}
    fees: dict[tuple[str, str], Decimal] = {}
    _add_flows(flows, fees, buy_fills + sell_fills, base, quote)
    with localcontext(EXACT):
        residual_by_venue = {venue: _gross_base(buy_fills + sell_fills, venue) for venue in (buy_exchange, sell_exchange)}
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
        books = await _books_for_unwind(io, unwind, symbol, (buy_exchange, sell_exchange))
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
            unwind_leg = await _send_leg(io, unwind_intent, _start_submit(io, unwind_intent), **send)
            unwind_fills, unwind_exact = _fills_of(unwind_leg, rules[plan.venue], buy_fee_in_base)
            buy_exact = buy_exact and unwind_exact
            _add_flows(flows_after, {}, unwind_fills, base, quote)
            with localcontext(EXACT):
                residual_after += _gross_base(unwind_fills, plan.venue)
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


async def _books_for_unwind(
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
            logger.warning("unwind: no %s book from %s: %s", symbol, venue, _describe(error))
            return venue, None

    pairs = await asyncio.gather(*(one(venue) for venue in venues))
    return {venue: book for venue, book in pairs if book is not None}


async def execute_opportunity(opportunity: Opportunity, *, io: ArbitrageIO, rules: Mapping[str, MarketRules],
                              **options: object) -> ArbitrageResult:
    """``execute_arbitrage`` for a sized ``Opportunity`` (its amount and limit prices)."""
    return await execute_arbitrage(
        opportunity.buy_exchange, opportunity.sell_exchange, opportunity.symbol, opportunity.amount,
        buy_price=opportunity.buy_limit, sell_price=opportunity.sell_limit, io=io, rules=rules, **options,
    )
