"""calculate_profit and the fee-asset variants: exact values, accepted fee shapes, refused inputs, monotonicity."""
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.arbitrage_executor import (
    Fees,
    InvalidAmountError,
    InvalidFeeError,
    InvalidPriceError,
    calculate_asset_flows,
    calculate_profit,
    calculate_profit_for_amount,
    common_step,
    profit_bps,
)


def test_profit_per_unit_is_sell_net_of_fee_minus_buy_plus_fee():
    # 101 * 0.999 - 100 * 1.001 = 100.899 - 100.1
    assert calculate_profit(D("100"), D("101"), (D("0.001"), D("0.001"))) == D("0.799")


def test_profit_uses_each_side_its_own_rate():
    # 101 * (1 - 0.002) - 100 * (1 + 0.0005) = 100.798 - 100.05
    assert calculate_profit(D("100"), D("101"), {"buy": D("0.0005"), "sell": D("0.002")}) == D("0.748")


def test_profit_accepts_pair_mapping_fees_object_and_single_rate_alike():
    expected = calculate_profit(D("100"), D("101"), (D("0.001"), D("0.001")))
    assert calculate_profit(D("100"), D("101"), {"buy": "0.001", "sell": "0.001"}) == expected
    assert calculate_profit(D("100"), D("101"), Fees(D("0.001"), D("0.001"))) == expected
    assert calculate_profit(D("100"), D("101"), D("0.001")) == expected
    assert calculate_profit("100", "101", ["0.001", "0.001"]) == expected


def test_profit_is_exact_with_many_decimals():
    buy, sell = D("65000.12345678"), D("65100.87654321")
    fees = (D("0.00075"), D("0.001"))
    result = calculate_profit(buy, sell, fees)
    assert result == sell - sell * D("0.001") - buy - buy * D("0.00075")
    assert result == D("-13.097882705795")  # 65035.77566666679 - 65048.873549372585


def test_negative_profit_when_fees_eat_the_spread():
    assert calculate_profit(D("100"), D("100.1"), D("0.001")) < 0


def test_profit_for_amount_scales_per_unit_profit():
    assert calculate_profit_for_amount(D("0.5"), D("100"), D("101"), D("0.001")) == D("0.3995")
    assert calculate_profit_for_amount(D("0"), D("100"), D("101"), D("0.001")) == 0


def test_profit_bps_of_buy_notional():
    assert profit_bps(D("100"), D("101"), D("0.001")) == D("79.9")


def test_asset_flows_binance_style_buyer_pays_in_base():
    flows = calculate_asset_flows(D("2"), D("2"), D("100"), D("101"), D("0.001"))
    assert flows.buy_fee == D("0.002") and flows.buy_fee_asset == "base"
    assert flows.sell_fee == D("0.202") and flows.sell_fee_asset == "quote"
    assert flows.quote_delta == D("2") * D("101") - D("0.202") - D("200")
    assert flows.base_delta == D("-0.002")
    # Valued at the buy price, the base fee costs exactly what calculate_profit charges for it.
    assert flows.value(D("100")) == calculate_profit_for_amount(D("2"), D("100"), D("101"), D("0.001"))


def test_asset_flows_with_fees_in_quote_leave_base_flat():
    flows = calculate_asset_flows(D("2"), D("2"), D("100"), D("101"), D("0.001"), buy_fee_in_base=False)
    assert flows.base_delta == 0
    assert flows.quote_delta == calculate_profit_for_amount(D("2"), D("100"), D("101"), D("0.001"))


def test_asset_flows_sell_leg_net_of_buy_fee_can_stay_flat():
    # Selling what the buyer actually received (amount net of the base fee) leaves no base exposure.
    flows = calculate_asset_flows(D("1"), D("0.999"), D("100"), D("101"), D("0.001"))
    assert flows.base_delta == 0


@pytest.mark.parametrize(
    "buy, sell, error",
    [
        (D("NaN"), D("101"), InvalidPriceError),
        (D("100"), D("NaN"), InvalidPriceError),
        (D("Infinity"), D("101"), InvalidPriceError),
        (D("-100"), D("101"), InvalidPriceError),
        (D("0"), D("101"), InvalidPriceError),
        (100.0, D("101"), InvalidPriceError),
        ("abc", D("101"), InvalidPriceError),
        (None, D("101"), InvalidPriceError),
    ],
)
def test_bad_prices_are_refused_with_invalid_price_error(buy, sell, error):
    with pytest.raises(error):
        calculate_profit(buy, sell, D("0.001"))


@pytest.mark.parametrize(
    "fees",
    [
        D("NaN"),
        D("-0.001"),
        D("1"),
        D("1.5"),
        0.001,
        (D("0.001"),),
        (D("0.001"), D("NaN")),
        {"buy": D("0.001")},
        {"buy": D("0.001"), "sel": D("0.001")},
        {"buy": D("0.001"), "sell": D("-1")},
    ],
)
def test_bad_fees_are_refused_with_invalid_fee_error(fees):
    with pytest.raises(InvalidFeeError):
        calculate_profit(D("100"), D("101"), fees)


@pytest.mark.parametrize("amount", [D("-1"), D("NaN"), 1.0])
def test_bad_amounts_are_refused_with_invalid_amount_error(amount):
    with pytest.raises(InvalidAmountError):
        calculate_profit_for_amount(amount, D("100"), D("101"), D("0.001"))


def test_common_step_is_the_lcm_of_decimal_steps():
    assert common_step(D("0.001"), D("0.0001")) == D("0.001")
    assert common_step(D("0.0004"), D("0.001")) == D("0.002")
    assert common_step(D("1"), D("0.5")) == D("1")


prices = st.decimals(min_value=D("0.00000001"), max_value=D("1000000"), places=8, allow_nan=False)
rates = st.decimals(min_value=D("0"), max_value=D("0.01"), places=6, allow_nan=False)
amounts = st.decimals(min_value=D("0"), max_value=D("1000"), places=8, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(buy=prices, sell=prices, fb=rates, fs=rates, bump=rates)
def test_profit_is_monotone_in_fees_and_prices(buy, sell, fb, fs, bump):
    base = calculate_profit(buy, sell, (fb, fs))
    assert calculate_profit(buy, sell, (min(fb + bump, D("0.5")), fs)) <= base
    assert calculate_profit(buy, sell, (fb, min(fs + bump, D("0.5")))) <= base
    assert calculate_profit(buy, sell + bump, (fb, fs)) >= base
    assert calculate_profit(buy + bump, sell, (fb, fs)) <= base


@settings(max_examples=200, deadline=None)
@given(amount=amounts, buy=prices, sell=prices, fb=rates, fs=rates)
def test_equal_amount_flows_valued_at_buy_price_equal_profit_exactly(amount, buy, sell, fb, fs):
    flows = calculate_asset_flows(amount, amount, buy, sell, (fb, fs))
    assert flows.value(buy) == calculate_profit_for_amount(amount, buy, sell, (fb, fs))
    in_quote = calculate_asset_flows(amount, amount, buy, sell, (fb, fs), buy_fee_in_base=False)
    assert in_quote.base_delta == 0
    assert in_quote.quote_delta == calculate_profit_for_amount(amount, buy, sell, (fb, fs))
