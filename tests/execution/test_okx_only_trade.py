"""``only_trade``: an OKX order's lookup names its last fill; only when that fill is all that filled, with the order's
fee and no rebate, is it taken as the order's one trade. Anything else sends the lookup to the order's trades."""
from decimal import Decimal as D

import pytest

from execution.api.dialects import only_trade
from execution.api.orders import fill_from_ccxt_trade
from execution.types import Side


def looked_up(**info_changes):
    info = {"ordId": "77", "clOrdId": "rxA1", "accFillSz": "0.0100", "fillSz": "0.01", "fillPx": "60012.3",
            "tradeId": "901", "fillTime": "1764990000123", "fee": "-0.00001", "feeCcy": "BTC", "rebate": "0",
            **info_changes}
    return {"id": "77", "clientOrderId": "rxA1", "symbol": "BTC/USDT", "side": "buy", "filled": 0.01,
            "fee": {"cost": 1e-05, "currency": "BTC"}, "info": info}


def test_a_single_fill_is_the_orders_trade_with_the_fee_okx_charged_as_a_positive_cost():
    fill = fill_from_ccxt_trade("beta", only_trade(looked_up()), client_order_id="rxA1")
    assert (fill.trade_id, fill.exchange_order_id, fill.symbol, fill.side) == ("901", "77", "BTC/USDT", Side.BUY)
    assert (fill.price, fill.amount, fill.fee, fill.fee_asset) == (D("60012.3"), D("0.01"), D("0.00001"), "BTC")
    assert fill.ts_ms == 1764990000123


@pytest.mark.parametrize("changes", [
    {"accFillSz": "0.02"},  # an earlier fill too
    {"rebate": "0.000001"},  # a maker rebate, booked apart from the fee
    {"tradeId": ""}, {"fillPx": ""}, {"fillSz": "0"}, {"fillTime": ""}, {"fee": ""},
    {"fillSz": "x"}, {"fee": "nan-ish"},
])
def test_anything_else_sends_the_lookup_to_the_trades(changes):
    assert only_trade(looked_up(**changes)) is None


def test_an_order_without_its_venues_fields_has_no_only_trade():
    assert only_trade({"id": "1", "info": "not a mapping"}) is None
    assert only_trade({**looked_up(), "fee": None}) is None
