"""Bad order input: every case gets its specific OrderValidationError naming the field, an OrderDenied event, nothing
sent to the (fake) venue and nothing journaled. Bad exchange names, keys and books are tested with the api adapters."""
from __future__ import annotations

from decimal import Decimal as D

import pytest

from execution.error_handler import FatalError
from execution.journal import Journal
from execution.messages import OrderDenied
from execution.order_manager import (
    AboveMaximumError,
    BelowMinimumError,
    BelowMinNotionalError,
    DuplicateClientOrderIdError,
    InsufficientBalanceError,
    InvalidAmountError,
    InvalidClientOrderIdError,
    InvalidOrderTypeError,
    InvalidPriceError,
    InvalidSideError,
    InvalidTimeInForceError,
    OffStepAmountError,
    OffTickPriceError,
    OrderManager,
    OrderValidationError,
    PriceOutOfRangeError,
    UnknownSymbolError,
)
from tests.execution.fakes import FakeExchange, spot_rules

SYMBOL = "BTC/USDT"
GOOD = dict(symbol=SYMBOL, side="buy", amount="0.0100", price="50000.00", order_type="limit")

# (case id, overrides of GOOD, extra keyword arguments, expected error, expected field)
CASES = [
    ("amount_nan_float", dict(amount=float("nan")), {}, InvalidAmountError, "amount"),
    ("amount_inf_float", dict(amount=float("inf")), {}, InvalidAmountError, "amount"),
    ("amount_minus_inf_float", dict(amount=float("-inf")), {}, InvalidAmountError, "amount"),
    ("amount_nan_decimal", dict(amount=D("NaN")), {}, InvalidAmountError, "amount"),
    ("amount_inf_string", dict(amount="Infinity"), {}, InvalidAmountError, "amount"),
    ("amount_negative", dict(amount=D("-0.01")), {}, InvalidAmountError, "amount"),
    ("amount_zero", dict(amount=0), {}, InvalidAmountError, "amount"),
    ("amount_bool", dict(amount=True), {}, InvalidAmountError, "amount"),
    ("amount_non_numeric_string", dict(amount="ten"), {}, InvalidAmountError, "amount"),
    ("amount_none", dict(amount=None), {}, InvalidAmountError, "amount"),
    ("amount_list", dict(amount=[1]), {}, InvalidAmountError, "amount"),
    ("price_nan_float", dict(price=float("nan")), {}, InvalidPriceError, "price"),
    ("price_inf_float", dict(price=float("inf")), {}, InvalidPriceError, "price"),
    ("price_negative", dict(price="-50000"), {}, InvalidPriceError, "price"),
    ("price_zero", dict(price=D(0)), {}, InvalidPriceError, "price"),
    ("price_bool", dict(price=False), {}, InvalidPriceError, "price"),
    ("price_non_numeric_string", dict(price="50k"), {}, InvalidPriceError, "price"),
    ("price_none_for_limit", dict(price=None), {}, InvalidPriceError, "price"),
    ("price_none_for_market", dict(price=None, order_type="market"), {}, InvalidPriceError, "price"),
    ("price_above_max", dict(price="2000000.00"), {}, PriceOutOfRangeError, "price"),
    ("price_off_tick", dict(price="50000.005"), {}, OffTickPriceError, "price"),
    ("side_wrong_word", dict(side="long"), {}, InvalidSideError, "side"),
    ("side_none", dict(side=None), {}, InvalidSideError, "side"),
    ("side_bool", dict(side=True), {}, InvalidSideError, "side"),
    ("symbol_unknown", dict(symbol="DOGE/USDT"), {}, UnknownSymbolError, "symbol"),
    ("symbol_not_a_string", dict(symbol=42), {}, UnknownSymbolError, "symbol"),
    ("symbol_exchange_format", dict(symbol="BTCUSDT"), {}, UnknownSymbolError, "symbol"),
    ("order_type_unknown", dict(order_type="stop_loss"), {}, InvalidOrderTypeError, "order_type"),
    ("time_in_force_unknown", {}, dict(time_in_force="GTX"), InvalidTimeInForceError, "time_in_force"),
    ("amount_off_step", dict(amount="0.01005"), {}, OffStepAmountError, "amount"),
    ("amount_below_min", dict(amount="0.0005"), {}, BelowMinimumError, "amount"),
    ("amount_above_max", dict(amount="1000.0001", price="0.01"), {}, AboveMaximumError, "amount"),
    ("notional_below_min", dict(amount="0.0010", price="100.00"), {}, BelowMinNotionalError, "notional"),
    ("insufficient_quote_for_buy", dict(amount="0.0200"), {}, InsufficientBalanceError, "balance.USDT"),
    ("buy_fee_tips_it_over", dict(amount="0.0200", price="49975.00"), {}, InsufficientBalanceError, "balance.USDT"),
    ("insufficient_base_for_sell", dict(side="sell", amount="0.0101"), {}, InsufficientBalanceError, "balance.BTC"),
    ("client_order_id_too_long", {}, dict(client_order_id="x" * 37), InvalidClientOrderIdError, "client_order_id"),
    ("client_order_id_bad_chars", {}, dict(client_order_id="a b!"), InvalidClientOrderIdError, "client_order_id"),
    ("client_order_id_not_str", {}, dict(client_order_id=12345), InvalidClientOrderIdError, "client_order_id"),
    ("client_order_id_reused", {}, dict(client_order_id="rx-already-used"), DuplicateClientOrderIdError,
     "client_order_id"),
]


@pytest.fixture
def setup(tmp_path):
    fake = FakeExchange("fake")
    events: list = []
    journal = Journal(tmp_path / "journal.sqlite")
    # Balances: 1000 USDT buys 0.0199 BTC at 50000 with the 0.1 % fee; 0.01 BTC to sell.
    # Rules: tick 0.01, step 0.0001, min amount 0.001, max amount 1000, min notional 5, price 0.01..1000000.
    manager = OrderManager("fake", fake, {SYMBOL: spot_rules(min_amount="0.001")}, balances={"USDT": D("1000"), "BTC": D("0.01")},
                           journal=journal, on_event=events.append)
    yield manager, fake, journal, events
    journal.close()


def test_the_table_is_large_enough_and_its_ids_are_distinct():
    assert len(CASES) >= 25
    assert len({case[0] for case in CASES}) == len(CASES)


async def test_good_order_passes_so_the_cases_fail_for_their_own_reason(setup):
    manager, fake, journal, _ = setup
    order = await manager.create_order(**GOOD)
    assert len(fake.sent_orders) == 1 and journal.get(order.client_order_id) is not None


@pytest.mark.parametrize("case_id,overrides,options,error,field", CASES, ids=[case[0] for case in CASES])
async def test_bad_input_is_denied_with_its_specific_error_and_nothing_is_sent(setup, case_id, overrides, options,
                                                                               error, field):
    manager, fake, journal, events = setup
    if case_id == "client_order_id_reused":
        await manager.create_order(**GOOD, client_order_id="rx-already-used")
        fake.calls.clear()
        events.clear()
    before = len(journal.orders())

    with pytest.raises(error) as raised:
        await manager.create_order(**{**GOOD, **overrides}, **options)

    assert type(raised.value) is error  # the specific class, not a parent
    assert isinstance(raised.value, OrderValidationError) and isinstance(raised.value, FatalError)
    assert raised.value.field == field and field in str(raised.value)
    assert fake.calls == []  # nothing reached the venue
    assert len(journal.orders()) == before  # nothing journaled
    assert all(t.to_status.value != "submitted" or t.client_order_id == "rx-already-used"
               for t in journal.transitions())
    (denied,) = events
    assert isinstance(denied, OrderDenied) and denied.field == field and denied.reason == str(raised.value)
