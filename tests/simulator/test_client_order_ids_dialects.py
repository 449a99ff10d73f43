"""Every client order id rayarb makes is valid on every dialect it trades (``PORTABLE_CLIENT_ORDER_ID``: letters and
digits, at most 32): the order manager's ids, the executor's legs and unwinds. Each is placed through real ccxt on a
Binance-dialect and an OKX-dialect venue; an id a venue would refuse is refused before anything is sent."""
from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from execution.api.binance_api import CcxtOrderAdapter
from execution.api.dialects import CLIENT_ORDER_ID_RULES, PORTABLE_CLIENT_ORDER_ID, client_order_id_fits
from execution.api.venue import make_exchange
from execution.arbitrage.legs import make_client_order_id
from execution.error_handler import ErrorClass, InvalidOrder, error_class
from execution.messages import SubmitOrder
from execution.orders.ids import ClientOrderIdFactory
from execution.risk import UNWIND_ID_PREFIX
from execution.types import OrderStatus, OrderType, Side, TimeInForce
from simulator.config import SimConfig
from simulator.launcher import start_local_venues

SYMBOL = "BTC/USDT"


def made_ids() -> list[str]:
    factory = ClientOrderIdFactory("rx")
    return [factory.next(), ClientOrderIdFactory("abcdefgh").next(), make_client_order_id(),
            make_client_order_id("unw"), make_client_order_id("abcdefgh")]


def test_every_id_rayarb_makes_fits_every_dialect():
    for _ in range(200):
        for cid in made_ids():
            assert PORTABLE_CLIENT_ORDER_ID.fullmatch(cid), cid
            assert all(client_order_id_fits(dialect, cid) for dialect in CLIENT_ORDER_ID_RULES), cid
    assert make_client_order_id("unw").startswith(UNWIND_ID_PREFIX)  # the risk engine still tells unwinds apart
    assert not ClientOrderIdFactory("rx").next().startswith(UNWIND_ID_PREFIX)
    with pytest.raises(ValueError):
        make_client_order_id("un-w")


def test_each_dialects_rule_is_okxs_and_binances():
    assert client_order_id_fits("binance", "has-a-dash:1/2_3.4") and not client_order_id_fits("okx", "has-a-dash")
    assert client_order_id_fits("okx", "A" * 32) and not client_order_id_fits("okx", "A" * 33)
    assert client_order_id_fits("binance", "a" * 36) and not client_order_id_fits("binance", "a" * 37)
    assert not client_order_id_fits("okx", "") and not client_order_id_fits("okx", None)


async def test_the_ids_are_accepted_by_both_dialects_through_ccxt_and_a_dash_is_refused_locally_on_okx():
    async with start_local_venues(SimConfig.default(("alpha", "beta:okx"), seed=4)) as sim:
        for name in ("alpha", "beta"):
            venue = sim[name]
            exchange_id = "okx" if venue.dialect == "okx" else "binance"
            client = make_exchange(exchange_id, url=venue.url, api_key=venue.api_key, secret=venue.secret,
                                   password=venue.passphrase or None, timeout_ms=5_000)
            try:
                await client.load_markets()
                adapter = CcxtOrderAdapter(name, client)
                book = await client.fetch_order_book(SYMBOL, 5)
                price = (D(str(book["asks"][0][0])) * D("1.01")).quantize(D("0.1"))
                for cid in made_ids():
                    snapshot = await adapter.submit_order(SubmitOrder(
                        client_order_id=cid, exchange=name, symbol=SYMBOL, side=Side.BUY, order_type=OrderType.LIMIT,
                        amount=D("0.001"), price=price, time_in_force=TimeInForce.IOC))
                    assert snapshot.client_order_id == cid and snapshot.status is OrderStatus.FILLED, (name, cid)
                if exchange_id == "okx":
                    with pytest.raises(InvalidOrder) as info:
                        await adapter.submit_order(SubmitOrder(
                            client_order_id="arb-0123", exchange=name, symbol=SYMBOL, side=Side.BUY,
                            order_type=OrderType.LIMIT, amount=D("0.001"), price=price,
                            time_in_force=TimeInForce.IOC))
                    assert error_class(info.value) is ErrorClass.DEFINITE_REJECTION
                placed = [o["clientOrderId"] for o in venue.engine.sim_orders()]
                assert sorted(placed) == sorted(set(placed)) and len(placed) == 5 and "arb-0123" not in placed
            finally:
                await client.close()
