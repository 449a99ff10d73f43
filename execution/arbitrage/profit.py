"""The profit maths of buying on one venue and selling on another: exact (``Decimal``), fees included.

Rates are taker rates, one per side. The buy fee is valued at the buy price, so
``profit = amount * (sell * (1 - f_sell) - buy * (1 + f_buy))`` holds whichever asset the buy fee is charged in.
Inputs are checked here (``execution.money``, floats refused: money is never float).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from execution import money
from execution.money import InvalidInputError

ONE = Decimal(1)
BPS = Decimal(10_000)
# Every product and sum of venue-sized decimals stays exact at this precision (prices and amounts have < 20 digits).
EXACT = Context(prec=80)


ArbitrageInputError = InvalidInputError  # the seed's name: bad input to the arbitrage maths, refused before any I/O


class InvalidFeeError(InvalidInputError):
    """A fee rate is NaN, infinite, negative, 1 or more, or given as a float. Pass a rate like Decimal("0.001")."""


def checked_decimal(value: object, what: str, error: type[InvalidInputError] = InvalidInputError) -> Decimal:
    """A finite Decimal (``execution.money.to_decimal``), floats refused."""
    return money.to_decimal(value, what, error=error, floats=False)


def checked_price(value: object, what: str) -> Decimal:
    """A positive finite price (``execution.money.price``), floats refused."""
    return money.price(value, what, floats=False)


def checked_amount(value: object, what: str, *, allow_zero: bool = True) -> Decimal:
    """A finite amount, zero allowed unless ``allow_zero`` is False (``execution.money.amount``), floats refused."""
    return money.amount(value, what, allow_zero=allow_zero, floats=False)


def _fee(value: object, what: str) -> Decimal:
    rate = checked_decimal(value, what, InvalidFeeError)
    if rate < 0 or rate >= 1:
        raise InvalidFeeError(what, value, "must be a rate in [0, 1)")
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
                raise InvalidFeeError("fees", dict(fees), "a mapping must have exactly the keys 'buy' and 'sell'")
            return cls(_fee(fees["buy"], "buy fee"), _fee(fees["sell"], "sell fee"))
        if isinstance(fees, (tuple, list)):
            if len(fees) != 2:
                raise InvalidFeeError("fees", fees, f"a pair must be (buy, sell), got {len(fees)} values")
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
    buy = checked_price(buy_price, "buy price")
    sell = checked_price(sell_price, "sell price")
    rates = Fees.of(fees)
    with localcontext(EXACT):
        return +(sell * (ONE - rates.sell) - buy * (ONE + rates.buy))


def calculate_profit_for_amount(amount: object, buy_price: object, sell_price: object, fees: object) -> Decimal:
    """``amount * calculate_profit(buy_price, sell_price, fees)``: the quote profit of buying and selling ``amount``."""
    quantity = checked_amount(amount, "amount")
    per_unit = calculate_profit(buy_price, sell_price, fees)
    with localcontext(EXACT):
        return +(quantity * per_unit)


def profit_bps(buy_price: object, sell_price: object, fees: object) -> Decimal:
    """``calculate_profit`` in basis points of the buy notional (``10_000 * profit / buy_price``)."""
    per_unit = calculate_profit(buy_price, sell_price, fees)
    with localcontext() as display:  # a ratio: 28 significant digits
        display.prec = 28
        return per_unit * BPS / checked_price(buy_price, "buy price")


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
    bought = checked_amount(buy_amount, "buy amount")
    sold = checked_amount(sell_amount, "sell amount")
    buy = checked_price(buy_price, "buy price")
    sell = checked_price(sell_price, "sell price")
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
