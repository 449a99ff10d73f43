"""Rejections are rejections: each venue error is classified once, by its code (``execution.api.errors``), and the
order manager acts on the class alone. Every case is a real request through real ccxt over a real socket to an
in-process simulator venue; nothing is mocked but a counter around the adapter.

- a definite rejection (-2010 insufficient balance, a simulated -2010, -1013 filter failure), a retryable refusal
  (-1021, 429/418 -1003) and an authentication failure (-1022, -2015) end REJECTED at once, never looked up, and the
  venue holds no order;
- a duplicate client order id (-2010 "Duplicate order sent.") is looked up and adopted, never resent;
- an unknown outcome (-1007, a bare 5xx, a timeout, a dropped connection) is UNKNOWN and settled by lookup;
- "order does not exist" (-2013 on a lookup, -2011 on a cancel) is not found.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D
from typing import Any

import pytest

from execution.api.binance_api import CcxtOrderAdapter
from execution.api.errors import translate_ccxt_error
from execution.api.precision import rules_from_market
from execution.error_handler import ErrorClass, error_class
from execution.journal import Journal
from execution.messages import CancelOrder, QueryOrder, SubmitOrder
from execution.order_manager import OrderManager
from execution.types import OrderSnapshot, OrderStatus, Side

SYMBOL = "BTC/USDT"
S = OrderStatus


class CountingAdapter:
    """The real ccxt adapter, counting what the order manager asks of it."""

    def __init__(self, inner: CcxtOrderAdapter) -> None:
        self.inner = inner
        self.submits: list[str] = []
        self.queries: list[str] = []

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot:
        self.submits.append(command.client_order_id)
        return await self.inner.submit_order(command)

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None:
        self.queries.append(command.client_order_id)
        return await self.inner.query_order(command)

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot:
        return await self.inner.cancel_order(command)


class Desk:
    """One OrderManager on the venue ``alpha`` through a ccxt client; local checks loose enough to let the venue
    judge (its filters, its balances)."""

    def __init__(self, venue: Any, client: Any, journal: Journal, http: Any, *, timeout_s: float = 5.0) -> None:
        self.venue = venue
        self.client = client
        self.http = http
        rules = rules_from_market("alpha", client.market(SYMBOL))
        self.rules = dataclasses.replace(rules, min_notional=D(0), min_amount=rules.amount_step)
        self.adapter = CountingAdapter(CcxtOrderAdapter("alpha", client, timeout_s=timeout_s))
        self.manager = OrderManager("alpha", self.adapter, {SYMBOL: self.rules},
                                    balances={"BTC": D(1000), "USDT": D(10_000_000)}, journal=journal,
                                    submit_timeout_s=timeout_s + 1)

    async def passive_buy_price(self) -> D:
        book = await self.client.fetch_order_book(SYMBOL, 5)
        return (D(str(book["bids"][0][0])) * D("0.9")).quantize(self.rules.price_tick)

    async def taker_buy_price(self) -> D:
        book = await self.client.fetch_order_book(SYMBOL, 5)
        return (D(str(book["asks"][0][0])) * D("1.01")).quantize(self.rules.price_tick)

    async def venue_orders(self, client_order_id: str) -> list[dict[str, Any]]:
        return await self.http.get(self.venue.url, f"/_sim/orders?clientOrderId={client_order_id}")


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


@pytest.fixture
async def desk(venue, client, journal, http):
    return Desk(venue, client, journal, http)


# --- the class of each venue error, from real answers through ccxt -------------------------------------------------

def _raw_order(**params: str) -> dict[str, str]:
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **params}


async def _class_of(call: Any, *, creating_order: bool = False) -> ErrorClass:
    try:
        await call
    except Exception as error:  # noqa: BLE001 - the point is to classify whatever ccxt raised
        return error_class(translate_ccxt_error(error, exchange="alpha", client_order_id="c",
                                                creating_order=creating_order))
    raise AssertionError("the venue accepted the request")


async def test_each_binance_code_reaches_its_class_through_ccxt(venue, client, make_client, http):
    bid = (await client.fetch_order_book(SYMBOL, 5))["bids"][0][0]
    price = client.price_to_precision(SYMBOL, bid * 0.9)
    DEF, RET, UNK, DUP, NF, AUTH = (ErrorClass.DEFINITE_REJECTION, ErrorClass.RETRYABLE, ErrorClass.UNKNOWN_OUTCOME,
                                    ErrorClass.DUPLICATE_ID, ErrorClass.NOT_FOUND, ErrorClass.AUTHENTICATION)
    # -2010: duplicate only with "Duplicate order sent."; insufficient balance is a definite rejection
    await client.create_order(SYMBOL, "limit", "buy", 0.001, price, {"clientOrderId": "taken-1"})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price, {"clientOrderId": "taken-1"}),
                           creating_order=True) is DUP
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 3, price), creating_order=True) is DEF
    await venue.set_faults({"reject_next_orders": 1})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is DEF
    # filters, precision, bad parameters: definite rejections
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.0001, 1000), creating_order=True) is DEF
    assert await _class_of(client.private_post_order(_raw_order(quantity="0.001000001", price=price))) is DEF
    assert await _class_of(client.private_post_order(_raw_order(quantity="abc", price="100"))) is DEF
    assert await _class_of(client.private_post_order(_raw_order(price="100"))) is DEF
    assert await _class_of(client.private_post_order(_raw_order(symbol="NOPEUSDT", quantity="1", price="1"))) is DEF
    # not found
    assert await _class_of(client.fetch_order(None, SYMBOL, {"clientOrderId": "never-sent"})) is NF
    assert await _class_of(client.cancel_order(None, SYMBOL, {"clientOrderId": "never-sent"})) is NF
    # retryable: timestamp outside recvWindow, rate limits (429 and 418)
    skewed = await make_client()
    skewed.options["timeDifference"] = 120_000
    assert await _class_of(skewed.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is RET
    for status in (429, 418):
        await venue.set_faults({"throttle_next": 1, "throttle_status": status})
        assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is RET
    # authentication: bad signature, unknown key -- also after a successful private call (ccxt's DDoSProtection trap)
    assert await _class_of((await make_client(secret="0" * 48)).fetch_balance()) is AUTH
    stranger = await make_client(api_key="sim-alpha-0000000000000000")
    assert await _class_of(stranger.fetch_balance()) is AUTH
    stranger.options["hasAlreadyAuthenticatedSuccessfully"] = True
    assert await _class_of(stranger.fetch_balance()) is AUTH
    # unknown outcome: the venue's own "execution status unknown", a bare 5xx, a dropped connection
    await venue.set_faults({"accept_then_reject_next": 1, "reject_status": 500, "reject_code": -1007,
                            "reject_msg": "Timeout waiting for response from backend server. Send status unknown; "
                                          "execution status unknown."})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is UNK
    await venue.set_faults({"error_share": 1.0})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is UNK
    assert await _class_of(client.fetch_balance()) is UNK
    await venue.set_faults({"error_share": 0.0, "drop_next": 1})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price), creating_order=True) is UNK


# --- what the order manager does with each class ---------------------------------------------------------------------

async def test_an_insufficient_balance_rejection_ends_rejected_at_once_and_is_never_looked_up(desk):
    price = await desk.passive_buy_price()
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D(3), price)  # the account holds far less USDT
    assert order.status is S.REJECTED
    assert order.reason.startswith("definite_rejection") and "insufficient balance" in order.reason
    assert desk.adapter.queries == [] and desk.adapter.submits == [order.client_order_id]
    assert await desk.venue_orders(order.client_order_id) == []
    # the settling pass has nothing to ask the venue about either
    report = await desk.manager.reconcile()
    assert report.statuses == {} and desk.adapter.queries == []


@pytest.mark.parametrize("faults, reason", [
    ({"reject_next_orders": 1}, "definite_rejection"),  # -2010 "Order rejected by venue (simulated)."
    ({"throttle_next": 1, "throttle_status": 429}, "retryable"),  # -1003, nothing placed
    ({"throttle_next": 1, "throttle_status": 418}, "retryable"),
])
async def test_refusals_the_venue_did_not_process_end_rejected_without_a_lookup(desk, venue, faults, reason):
    price = await desk.passive_buy_price()
    await venue.set_faults(faults)
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price)
    assert order.status is S.REJECTED and order.reason.startswith(reason)
    assert desk.adapter.queries == []
    assert await desk.venue_orders(order.client_order_id) == []


async def test_a_filter_failure_is_a_definite_rejection(desk):
    price = await desk.passive_buy_price()
    order = await desk.manager.create_order(SYMBOL, Side.BUY, desk.rules.amount_step, price)  # below NOTIONAL
    assert order.status is S.REJECTED and "Filter failure" in order.reason
    assert desk.adapter.queries == []


async def test_a_timestamp_outside_recv_window_is_rejected_as_retryable(desk):
    desk.client.options["timeDifference"] = 120_000
    try:
        order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await desk.passive_buy_price())
    finally:
        desk.client.options["timeDifference"] = 0
    assert order.status is S.REJECTED and order.reason.startswith("retryable")
    assert desk.adapter.queries == [] and await desk.venue_orders(order.client_order_id) == []


@pytest.mark.parametrize("who", ["bad secret", "unknown key"])
async def test_an_authentication_failure_is_rejected_and_says_so(venue, make_client, journal, http, who):
    client = await make_client(secret="0" * 48) if who == "bad secret" else \
        await make_client(api_key="sim-alpha-0000000000000000")
    desk = Desk(venue, client, journal, http)
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), D("1000"))
    assert order.status is S.REJECTED and order.reason.startswith("authentication")
    assert desk.adapter.queries == []


async def test_a_genuine_duplicate_id_is_looked_up_and_adopted_never_resent(desk):
    price = await desk.passive_buy_price()
    taken = "dup-genuine-1"
    await desk.client.create_order(SYMBOL, "limit", "buy", 0.001, float(price), {"clientOrderId": taken})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price, client_order_id=taken)
    assert order.status is S.UNKNOWN and "already has this client order id" in order.reason
    await desk.manager.refresh(taken)
    assert order.status is S.ACCEPTED and order.exchange_order_id is not None
    assert desk.adapter.submits == [taken] and desk.adapter.queries == [taken]
    assert len(await desk.venue_orders(taken)) == 1


async def test_an_order_answered_with_execution_status_unknown_is_found_by_lookup(desk, venue):
    await venue.set_faults({"accept_then_reject_next": 1, "reject_status": 500, "reject_code": -1007,
                            "reject_msg": "Timeout waiting for response from backend server. Send status unknown; "
                                          "execution status unknown."})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await desk.taker_buy_price())
    assert order.status is S.UNKNOWN and desk.adapter.queries == []
    await desk.manager.refresh(order.client_order_id)
    assert order.status is S.FILLED and order.filled == D("0.001")
    assert desk.adapter.submits == [order.client_order_id]
    assert len(await desk.venue_orders(order.client_order_id)) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_a_5xx_answer_with_a_rejection_code_is_unknown_and_found_placed(desk, venue, status):
    """A 5xx is the venue's own failure: a body saying -2010 "rejected" on it is not believed (here the order was
    placed and filled behind it); the order is looked up by its client order id, never resent."""
    await venue.set_faults({"accept_then_reject_next": 1, "reject_status": status, "reject_code": -2010})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await desk.taker_buy_price())
    assert order.status is S.UNKNOWN and "ExchangeUnavailable" in order.reason
    await desk.manager.refresh(order.client_order_id)
    assert order.status is S.FILLED and order.filled == D("0.001")
    assert desk.adapter.submits == [order.client_order_id]
    assert len(await desk.venue_orders(order.client_order_id)) == 1


async def test_a_5xx_saying_the_server_is_overloaded_stays_not_processed(venue, client):
    """-1008 on a 503: Binance says the request was not processed; believed, retryable."""
    price = client.price_to_precision(SYMBOL, (await client.fetch_order_book(SYMBOL, 5))["bids"][0][0] * 0.9)
    await venue.set_faults({"reject_next_orders": 1, "reject_status": 503, "reject_code": -1008,
                            "reject_msg": "Server is currently overloaded with other requests. Please try again."})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, price),
                           creating_order=True) is ErrorClass.RETRYABLE


async def test_a_bare_5xx_is_unknown_and_a_lookup_counts_it_not_found(desk, venue):
    price = await desk.passive_buy_price()
    await venue.set_faults({"error_share": 1.0})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price)
    assert order.status is S.UNKNOWN
    await venue.set_faults({"error_share": 0.0})
    await desk.manager.refresh(order.client_order_id)  # -2013: not found, counted, not yet believed
    assert order.status is S.UNKNOWN and order.not_found_count == 1
    assert await desk.venue_orders(order.client_order_id) == []


async def test_a_timeout_is_unknown_looked_up_and_never_resent(venue, client, journal, http):
    desk = Desk(venue, client, journal, http, timeout_s=0.3)
    price = await desk.passive_buy_price()
    await venue.set_faults({"latency_ms": 800})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price)
    assert order.status is S.UNKNOWN and "RequestTimedOut" in order.reason
    await venue.set_faults({"latency_ms": 0})
    await desk.manager.refresh(order.client_order_id)
    # the venue dropped the request with our connection: not found, counted, and the order is not sent again
    assert order.status is S.UNKNOWN and order.not_found_count == 1
    assert desk.adapter.submits == [order.client_order_id] == desk.adapter.queries
    assert await desk.venue_orders(order.client_order_id) == []


async def test_a_dropped_connection_is_unknown_and_found(desk, venue):
    await venue.set_faults({"accept_then_drop_next": 1})
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await desk.taker_buy_price())
    assert order.status is S.UNKNOWN
    await desk.manager.refresh(order.client_order_id)
    assert order.status is S.FILLED
    assert len(await desk.venue_orders(order.client_order_id)) == 1


async def test_a_cancel_of_an_order_the_venue_does_not_know_is_refused_not_unknown(desk, venue):
    price = await desk.passive_buy_price()
    order = await desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price)
    assert order.status is S.ACCEPTED
    await desk.client.cancel_order(None, SYMBOL, {"clientOrderId": order.client_order_id})  # behind our back
    await desk.manager.cancel_order(order.client_order_id)  # -2011 Unknown order sent.
    assert order.status is S.ACCEPTED and order.reason.startswith("not_found")
    await desk.manager.refresh(order.client_order_id)
    assert order.status is S.CANCELED
