"""Property: random event sequences applied through Order.apply never reach an illegal state.

Every applied event either moves the order along TRANSITIONS (or keeps its status, only adding information) or raises
IllegalTransition and leaves the order exactly as it was; terminal states are left only by LATE_FILLS; fills never
exceed the amount and each trade id counts once.
"""
from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from execution.messages import (
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderDenied,
    OrderExpired,
    OrderFilled,
    OrderInitialized,
    OrderPendingCancel,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    OrderUpdated,
)
from execution.journal import JournaledOrder
from execution.order_manager import LATE_FILLS, TERMINAL, TRANSITIONS, VENUE_STATUSES, IllegalTransition, Order
from execution.types import Fill, OrderStatus, OrderType, Side, TimeInForce

AMOUNT = D("0.05")
IDS = dict(client_order_id="c1", exchange="fake", symbol="BTC/USDT")


def fill_event(trade: int, lots: int) -> OrderFilled:
    fill = Fill(exchange="fake", symbol="BTC/USDT", side=Side.BUY, price=D("100.5"), amount=D("0.01") * lots,
                fee=D("0.001"), fee_asset="USDT", trade_id=f"t{trade}", client_order_id="c1", exchange_order_id="9",
                ts_ms=0)
    return OrderFilled.from_fill(fill)


events = st.one_of(
    st.just(OrderDenied(**IDS, reason="r")),
    st.just(OrderSubmitted(**IDS)),
    st.just(OrderAccepted(**IDS, exchange_order_id="9")),
    st.just(OrderRejected(**IDS, reason="r")),
    st.builds(fill_event, st.integers(0, 6), st.integers(1, 3)),  # repeated trade ids and overfills happen
    st.just(OrderPendingCancel(**IDS)),
    st.just(OrderCancelRejected(**IDS, reason="r")),
    st.just(OrderCanceled(**IDS)),
    st.just(OrderExpired(**IDS, reason="ttl")),
    st.builds(lambda status, lots: OrderUpdated(**IDS, status=status, filled=D("0.01") * lots),
              st.sampled_from(sorted(VENUE_STATUSES)), st.integers(0, 6)),
    st.builds(lambda not_found: OrderStatusUnknown(**IDS, reason="timeout", not_found=not_found), st.booleans()),
)


def state(order: Order) -> tuple:
    return (order.status, order.filled, order.cost, dict(order.fees), order.reported_filled, order.trade_ids,
            order.exchange_order_id, order.reason, order.not_found_count)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, min_size=5, max_size=40))
def test_random_event_sequences_never_reach_an_illegal_state(sequence):
    order = Order(OrderInitialized(**IDS, side=Side.BUY, order_type=OrderType.LIMIT, amount=AMOUNT, price=D("100.5"),
                                   ts_init=1.0))
    for event in sequence:
        before = state(order)
        try:
            changed = order.apply(event)
        except IllegalTransition:
            assert state(order) == before  # refused moves change nothing
            continue
        after = state(order)
        assert changed == (after != before)
        moved = (before[0], order.status)
        if before[0] is not order.status:
            assert moved in TRANSITIONS
            if before[0] in TERMINAL:
                assert moved in LATE_FILLS
        assert D(0) <= order.filled <= AMOUNT and order.reported_filled <= AMOUNT
        assert len(order.trade_ids) == len(set(order.trade_ids))
        if order.filled == AMOUNT:
            assert order.status.value == "filled"  # fully traded is final, whatever arrives afterwards


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(fill_event, st.integers(0, 4), st.integers(1, 2)), max_size=20))
def test_fills_are_counted_once_per_trade_id(fills):
    order = Order(OrderInitialized(**IDS, side=Side.BUY, order_type=OrderType.LIMIT, amount=D("100"), price=D("100.5"),
                                   ts_init=1.0))
    order.apply(OrderSubmitted(**IDS))
    first_seen: dict[str, D] = {}
    for event in fills:
        order.apply(event)
        first_seen.setdefault(event.fill.trade_id, event.fill.amount)
    assert order.filled == sum(first_seen.values(), D(0))
    assert order.trade_ids == frozenset(first_seen)


def restored(status: OrderStatus, partly_filled: bool) -> Order:
    row = JournaledOrder(client_order_id="c1", exchange="fake", symbol="BTC/USDT", side=Side.BUY,
                         order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC, amount=AMOUNT, price=D("100.5"),
                         status=status, exchange_order_id=None, opportunity_id=None, filled=D(0), not_found_count=0,
                         reason=None, created_ts=1.0, updated_ts=1.0)
    return Order.restore(row, [fill_event(99, 1).fill] if partly_filled else [])


def test_every_entry_of_the_table_is_reachable_by_some_event_and_nothing_else_is():
    pool = [OrderDenied(**IDS, reason="r"), OrderSubmitted(**IDS), OrderAccepted(**IDS, exchange_order_id="9"),
            OrderRejected(**IDS, reason="r"), fill_event(1, 1), fill_event(2, 4), fill_event(3, 5),
            OrderPendingCancel(**IDS), OrderCancelRejected(**IDS, reason="r"), OrderCanceled(**IDS),
            OrderExpired(**IDS), OrderStatusUnknown(**IDS, reason="t")]
    pool += [OrderUpdated(**IDS, status=status) for status in VENUE_STATUSES]
    reached = set()
    for status in OrderStatus:
        for partly_filled in (False, True):
            for event in pool:
                order = restored(status, partly_filled)
                try:
                    order.apply(event)
                except IllegalTransition:
                    continue
                if order.status is not status:
                    reached.add((status, order.status))
    assert reached == TRANSITIONS
