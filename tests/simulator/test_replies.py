"""Replies cannot lie: an answer that does not match the order it answers never moves that order to a filled state.

The simulator places each order exactly as sent and then lies in its answer (``lie_next_orders``): the other side, another
client order id, another symbol, a larger amount, a worse price, fills beyond the amount. Through real ccxt over a real
socket, the order manager leaves the order UNKNOWN with nothing journaled from the lie, counts and logs the mismatch
by field, and the lookup by client order id (the venue's truth) settles it: FILLED with the venue's own trades, sent
once.
"""
from __future__ import annotations

import dataclasses
import logging
from decimal import Decimal as D
from typing import Any

import pytest

from execution.api.binance_api import CcxtOrderAdapter
from execution.api.precision import rules_from_market
from execution.journal import Journal
from execution.order_manager import OrderManager
from execution.messages import FillApplied
from execution.replies import ReplyNotApplied, UntrustedReply
from execution.types import OrderStatus, Side, TimeInForce

SYMBOL = "BTC/USDT"
S = OrderStatus
AMOUNT = D("0.001")


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


def manager_for(client: Any, journal: Journal, events: list | None = None) -> OrderManager:
    rules = rules_from_market("alpha", client.market(SYMBOL))
    return OrderManager("alpha", CcxtOrderAdapter("alpha", client, timeout_s=5), {SYMBOL: rules},
                        balances={"BTC": D(1000), "USDT": D(10_000_000)}, journal=journal,
                        on_event=None if events is None else events.append)


async def taker_price(client: Any, side: Side, tick: D) -> D:
    book = await client.fetch_order_book(SYMBOL, 5)
    if side is Side.BUY:
        return (D(str(book["asks"][0][0])) * D("1.005")).quantize(tick)
    return (D(str(book["bids"][0][0])) * D("0.995")).quantize(tick)


@pytest.mark.parametrize("lie, field", [
    ("side", "side"),
    ("client_order_id", "client_order_id"),
    ("symbol", "symbol"),
    ("amount", "amount"),
    ("price", "price"),
    ("fills", "fill"),
])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_a_lying_answer_leaves_the_order_unknown_and_the_lookup_settles_it(venue, client, journal, http, caplog,
                                                                                 lie, field, side):
    events: list = []
    manager = manager_for(client, journal, events)
    price = await taker_price(client, side, manager.rules(SYMBOL).price_tick)
    await venue.set_faults({"lie_next_orders": 1, "lie": lie})
    with caplog.at_level(logging.ERROR, logger="execution.orders.manager"):
        order = await manager.create_order(SYMBOL, side, AMOUNT, price, time_in_force=TimeInForce.IOC)
    cid = order.client_order_id

    assert order.status is S.UNKNOWN and order.reason.startswith("untrusted reply")
    assert order.filled == 0 and journal.fills(client_order_id=cid) == []  # nothing from the lie
    assert journal.get(cid).status is S.UNKNOWN
    assert manager.reply_mismatches == {field: 1}
    assert [(e.exchange, e.client_order_id, e.field) for e in events if isinstance(e, ReplyNotApplied)] == [
        ("alpha", cid, field)]  # what the actor counts in rayarb_reply_mismatches
    assert not any(isinstance(e, FillApplied) for e in events)
    logged = [r.getMessage() for r in caplog.records if "reply not applied" in r.getMessage()]
    assert len(logged) == 1 and f"reply {field} " in logged[0]
    assert venue.secret not in logged[0] and venue.api_key not in logged[0]

    await manager.refresh(cid)  # the venue's truth, by client order id
    assert order.status is S.FILLED and order.filled == AMOUNT
    venue_orders = await http.get(venue.url, f"/_sim/orders?clientOrderId={cid}")
    assert len(venue_orders) == 1 and venue_orders[0]["status"] == "FILLED"  # placed once, never resent
    fills = journal.fills(client_order_id=cid)
    assert sum(f.amount for f in fills) == AMOUNT and all(f.side is side and f.symbol == SYMBOL for f in fills)
    trades = await client.fetch_order_trades(venue_orders[0]["orderId"], SYMBOL)
    assert sorted(f.trade_id for f in fills) == sorted(str(t["id"]) for t in trades)
    assert manager.reply_mismatches == {field: 1}


async def test_a_lying_lookup_is_not_applied_and_says_so(venue, client, journal):
    """A lookup's answer is checked the same way: a lie raises UntrustedReply and changes nothing but the count."""
    manager = manager_for(client, journal)
    book = await client.fetch_order_book(SYMBOL, 5)
    resting = (D(str(book["bids"][0][0])) * D("0.9")).quantize(manager.rules(SYMBOL).price_tick)
    order = await manager.create_order(SYMBOL, Side.BUY, AMOUNT, resting)
    assert order.status is S.ACCEPTED

    class Liar:
        def __init__(self, inner: CcxtOrderAdapter) -> None:
            self.inner = inner

        async def query_order(self, command: Any) -> Any:
            truth = await self.inner.query_order(command)
            return dataclasses.replace(truth, side=Side.SELL)

    manager._adapter = Liar(manager._adapter)
    with pytest.raises(UntrustedReply, match="reply side is sell"):
        await manager.refresh(order.client_order_id)
    assert order.status is S.UNKNOWN and manager.reply_mismatches == {"side": 1}
    report = await manager.reconcile()
    assert report.unresolved == (order.client_order_id,) and manager.reply_mismatches == {"side": 2}
    manager._adapter = manager._adapter.inner
    await manager.refresh(order.client_order_id)
    assert order.status is S.ACCEPTED
