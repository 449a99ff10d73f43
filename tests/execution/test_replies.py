"""reply_mismatch: which answers are believed. A fill better than the limit is a taker's price improvement, not a lie;
a repeated trade counts once; the first field that differs is named."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D

from execution.replies import reply_mismatch
from execution.types import Fill, OrderSnapshot, OrderStatus, OrderType, Side


def fill(trade_id: str, price: str, amount: str, side: Side = Side.BUY) -> Fill:
    return Fill("alpha", "BTC/USDT", side, D(price), D(amount), D("0"), "BTC", trade_id, "c1", "9", 0)


def answer(**changes) -> OrderSnapshot:
    snapshot = OrderSnapshot(exchange="alpha", symbol="BTC/USDT", side=Side.BUY, client_order_id="c1",
                             exchange_order_id="9", status=OrderStatus.FILLED, amount=D("0.002"), filled=D("0.002"),
                             price=D("100"), average=D("99.5"), fills=(fill("t1", "99", "0.001"),
                                                                        fill("t2", "100", "0.001")))
    return dataclasses.replace(snapshot, **changes)


ORDER = dict(client_order_id="c1", exchange="alpha", symbol="BTC/USDT", side=Side.BUY, amount=D("0.002"),
             price=D("100"))


def field_of(snapshot: OrderSnapshot, **order) -> str | None:
    mismatch = reply_mismatch(snapshot, **{**ORDER, **order})
    return None if mismatch is None else mismatch.field


def test_a_true_answer_with_price_improvement_is_believed():
    assert field_of(answer()) is None
    assert field_of(answer(price=D("100.000"))) is None  # the same number, other digits


def test_each_lie_is_named_by_its_field():
    assert field_of(answer(client_order_id="c2")) == "client_order_id"
    assert field_of(answer(exchange="beta")) == "exchange"
    assert field_of(answer(symbol="ETH/USDT")) == "symbol"
    assert field_of(answer(side=Side.SELL)) == "side"
    assert field_of(answer(), exchange_order_id="8") == "exchange_order_id"
    assert field_of(answer(amount=D("0.003"))) == "amount"
    assert field_of(answer(amount=D("0.001"), filled=D("0.001"), fills=())) == "amount"
    assert field_of(answer(price=D("101"))) == "price"
    assert field_of(answer(average=D("100.5"))) == "price"  # worse than the limit on average
    assert field_of(answer(filled=D("0.003"))) == "filled"
    assert field_of(answer(fills=(fill("t1", "100.01", "0.001"),))) == "price"
    assert field_of(answer(fills=(fill("t1", "99", "0.003"),))) == "fill"
    assert field_of(answer(fills=(fill("t1", "99", "0.001", Side.SELL),))) == "fill"


def test_a_sell_limit_is_worse_downwards():
    sell = dict(side=Side.SELL)
    snapshot = answer(side=Side.SELL, average=D("100.5"), fills=(fill("t1", "101", "0.002", Side.SELL),))
    assert field_of(snapshot, **sell) is None
    assert field_of(dataclasses.replace(snapshot, average=D("99.9")), **sell) == "price"


def test_fills_already_applied_count_once_and_new_ones_add_up():
    assert field_of(answer(), applied_trade_ids={"t1"}, applied_filled=D("0.001")) is None
    assert field_of(answer(fills=(fill("t3", "99", "0.002"),)), applied_trade_ids={"t1"},
                    applied_filled=D("0.001")) == "fill"
    doubled = answer(fills=(fill("t1", "99", "0.001"), fill("t1", "99", "0.001")))
    assert field_of(doubled) is None  # the same trade twice in one answer is one trade


def test_a_market_order_has_no_limit_to_check():
    assert field_of(answer(price=D("0"), average=D("150")), order_type=OrderType.MARKET) is None
