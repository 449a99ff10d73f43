"""Broken venue replies through real ccxt from real simulator venues of both dialects (the simulator's
``malformed_next`` and ``book_lie_next`` faults).

An order whose answer is broken (garbage JSON, an HTML error page, a body cut short, fields missing or of the wrong
type, a status nobody knows) is placed at the venue: rayarb's order manager marks it UNKNOWN with a one-line reason
naming what was wrong, never sends it again, and finds it by its client order id (reconcile): the venue holds it
exactly once. A lying book (crossed, a negative or a NaN price) is refused by the book check (``BookError``) and so
never reaches sizing or an order. A fill of an order nobody placed, in the account's trade history, never becomes a
fill of rayarb's: an order's fills come from its own answer or a lookup by its own id. An order signed by a clock
the venue finds too far off is refused, not placed, and so rejected at once (never looked up, never resent)."""
from __future__ import annotations

import asyncio
import re

import pytest

from execution.api.binance_api import fetch_order_by_client_id
from execution.api.orders import order_snapshot_from_ccxt
from execution.api.other_exchange_api import fetch_order_book
from execution.orders.manager import OrderManager
from execution.api.binance_api import CcxtOrderAdapter
from execution.types import OrderStatus
from tests.badinput.cases import Case
from tests.badinput.conftest import orders_at, sim_get
from tests.badinput.test_api import SYMBOL, World

AREA = "Broken venue replies (real ccxt, simulator faults `malformed_next`, `book_lie_next`, `phantom_fill_next`, `clock_skew_ms`)"
ORDER_PATHS = {"alpha": "/api/v3/order", "beta": "/api/v5/trade/order"}
NUMBER = r"(-?[0-9.]+|NaN)"

# data: (venue, fault); error: the order's reason (orders) or the BookError (books); <N> stands for a number
CASES = [
    Case("binance_order_garbage_json", "alpha (Binance): the order's answer is not JSON",
         "UNKNOWN, then found by id: MalformedOrderError: alpha answered order bigarbagejson with a body that is not "
         "JSON (73 bytes: '{\"code\": 0, \"data\": [{\"id\": 1,, \"px\": \"6\\x7f0000\" ]] <!-- upstr')",
         ("alpha", {"malformed": "garbage_json"})),
    Case("binance_order_html_error", "alpha (Binance): the order's answer is a proxy's HTML 502 page",
         "UNKNOWN, then found by id: AmbiguousOrderError: order creation outcome unknown after ExchangeUnavailable: "
         "ExchangeNotAvailable: binance POST <URL>/api/v3/order 502 Bad Gateway <html> <head><title>502 Bad Gateway"
         "</title></head> <body> <center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center> </body> </html>",
         ("alpha", {"malformed": "html_error"})),
    Case("binance_order_truncated", "alpha (Binance): the order's answer is cut short",
         "UNKNOWN, then found by id: MalformedOrderError: alpha answered order bitruncated with a body that is not "
         "JSON (<N> bytes: '{\"symbol\":\"BTCUSDT\",\"orderId\":<N>,<*>')",
         ("alpha", {"malformed": "truncated"})),
    Case("binance_order_missing_fields", "alpha (Binance): the order's answer lacks side, status, amounts",
         "UNKNOWN, then found by id: MalformedOrderError: side None is neither buy nor sell",
         ("alpha", {"malformed": "missing_fields"})),
    Case("binance_order_wrong_types", "alpha (Binance): the order's answer has amounts of the wrong type",
         "UNKNOWN, then found by id: MalformedOrderError: order biwrongtypes on alpha has no amount",
         ("alpha", {"malformed": "wrong_types"})),
    Case("binance_order_unknown_status", "alpha (Binance): the order's status is `PENDING_REVIEW`",
         "UNKNOWN, then found by id: MalformedOrderError: order biunknownstatus on alpha has status 'PENDING_REVIEW', "
         "which is no order status rayarb knows", ("alpha", {"malformed": "unknown_status"})),
    Case("okx_order_garbage_json", "beta (OKX): the order's lookup answer is not JSON",
         "UNKNOWN, then found by id: AmbiguousOrderError: acknowledged, but its lookup failed: MalformedOrderError: side None is neither buy nor sell", ("beta", {"malformed": "garbage_json"})),
    Case("okx_order_html_error", "beta (OKX): the order's lookup answer is a proxy's HTML 502 page",
         "UNKNOWN, then found by id: AmbiguousOrderError: acknowledged, but its lookup failed: ExchangeUnavailable: ExchangeNotAvailable: okx GET <URL>/api/v5/trade/order?instId=BTC-USDT&clOrdId=okhtmlerror 502 Bad Gateway <html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center> </body> </html>", ("beta", {"malformed": "html_error"})),
    Case("okx_order_missing_fields", "beta (OKX): the order's lookup answer lacks side, status, amounts",
         "UNKNOWN, then found by id: AmbiguousOrderError: acknowledged, but its lookup failed: MalformedOrderError: side None is neither buy nor sell", ("beta", {"malformed": "missing_fields"})),
    Case("okx_order_unknown_status", "beta (OKX): the order's lookup answer carries status `pending_review`",
         "UNKNOWN, then found by id: AmbiguousOrderError: acknowledged, but its lookup failed: MalformedOrderError: order okunknownstatus on beta has status 'pending_review', which is no order status rayarb knows", ("beta", {"malformed": "unknown_status"})),
    Case("binance_phantom_fill", "alpha (Binance): a fill of an order nobody placed in the account's trades",
         "ignored: no fill of an order rayarb did not place is journaled", ("alpha", {"phantom_fill_next": 1})),
    Case("okx_phantom_fill", "beta (OKX): a fill of an order nobody placed in the account's fills",
         "ignored: no fill of an order rayarb did not place is journaled", ("beta", {"phantom_fill_next": 1})),
    Case("binance_clock_skew", "alpha (Binance): the venue's clock 120 s ahead (`clock_skew_ms`)",
         "REJECTED, not at the venue: retryable: TimestampOutsideWindow: InvalidNonce: binance {\"code\":-1021,"
         "\"msg\":\"Timestamp for this request is outside of the recvWindow.\"}", ("alpha", {"clock_skew_ms": 120000})),
    Case("okx_clock_skew", "beta (OKX): the venue's clock 120 s ahead (`clock_skew_ms`)",
         "REJECTED, not at the venue: retryable: TimestampOutsideWindow: InvalidNonce: okx {\"code\":\"50102\","
         "\"msg\":\"Timestamp request expired.\",\"data\":[]}", ("beta", {"clock_skew_ms": 120000})),
    Case("binance_book_crossed", "alpha (Binance): the book's best bid above its best ask",
         "BookError: alpha BTC/USDT: book is crossed (bid <N> >= ask <N>)", ("alpha", {"book_lie": "crossed"})),
    Case("binance_book_negative", "alpha (Binance): a negative bid",
         "BookError: alpha BTC/USDT: bids level <N> x <N> is not positive", ("alpha", {"book_lie": "negative"})),
    Case("binance_book_nan", "alpha (Binance): a NaN bid",
         "BookError: alpha BTC/USDT: bids level NaN x <N> is not positive", ("alpha", {"book_lie": "nan"})),
    Case("okx_book_crossed", "beta (OKX): the book's best bid above its best ask",
         "BookError: beta BTC/USDT: book is crossed (bid <N> >= ask <N>)", ("beta", {"book_lie": "crossed"})),
    Case("okx_book_negative", "beta (OKX): a negative bid",
         "BookError: beta BTC/USDT: bids level <N> x <N> is not positive", ("beta", {"book_lie": "negative"})),
    Case("okx_book_nan", "beta (OKX): a NaN bid",
         "BookError: beta BTC/USDT: bids level NaN x <N> is not positive", ("beta", {"book_lie": "nan"})),
]


def client_order_id(case: Case) -> str:
    return case.id[:2] + case.data[1]["malformed"].replace("_", "")


def matches(expected: str, got: str) -> bool:
    pattern = re.escape(expected).replace(re.escape("<N>"), NUMBER).replace(re.escape("<URL>"), r"http://127\.0\.0\.1:\d+").replace(
        re.escape("<*>"), ".*")
    return re.fullmatch(pattern, got) is not None


def venue_cid(order: dict) -> str | None:
    return order.get("clientOrderId") or order.get("clOrdId")


async def check(case: Case, world: World, venues) -> str | None:
    """None when the case behaved, else what went wrong."""
    venue, fault = case.data
    exchange = world.alpha if venue == "alpha" else world.beta
    if "book_lie" in fault:
        await venues[venue].set_faults({"book_lie_next": 1, **fault})
        try:
            book = await fetch_order_book(exchange, SYMBOL, venue=venue)
        except Exception as exc:  # noqa: BLE001 - compared below
            got = f"{type(exc).__name__}: {exc}"
        else:
            got = f"a book was accepted: {book.bids[:1]} / {book.asks[:1]}"
        return None if matches(case.expected(), got) else f"got {got!r}"
    manager = world.manager if venue == "alpha" else world.beta_manager
    if "phantom_fill_next" in fault:  # then an order of ours that fills, settled through the venue's own path
        await venues[venue].set_faults(fault)
        cid = case.id.replace("_", "")[:20]
        await asyncio.wait_for(manager.create_order(SYMBOL, "buy", "0.001", "90000", client_order_id=cid,
                                                    time_in_force="IOC"), 20)
        # looked up again by its id, with its trades (Binance: myTrades, where the phantom appears; OKX: fills)
        raw = await fetch_order_by_client_id(exchange, SYMBOL, cid, timeout_s=10)
        manager.apply_snapshot(order_snapshot_from_ccxt(venue, raw, client_order_id=cid))
        trades = {str(t["id"]) for t in await sim_get(venues[venue].url, "/_sim/trades")}
        journaled = world.journal.fills(exchange=venue)
        foreign = [f for f in journaled if f.trade_id not in trades or f.client_order_id != cid]
        own = [f for f in journaled if f.client_order_id == cid]
        made = venues[venue].engine.phantom_fills  # the venue did put one in the account's history
        got = ("ignored: no fill of an order rayarb did not place is journaled" if made and own and not foreign
               else f"phantom fills made {made}; journaled {foreign} (own fills: {len(own)})")
        return None if got == case.expected() else f"got {got!r}"
    if "clock_skew_ms" in fault:  # refused for its timestamp: not placed, so not looked up, and never resent
        await venues[venue].set_faults(fault)
        cid = case.id.replace("_", "")[:20]
        order = await asyncio.wait_for(manager.create_order(SYMBOL, "buy", "0.001", "20000", client_order_id=cid), 20)
        await venues[venue].set_faults({"clock_skew_ms": 0})
        at_venue = [o for o in await orders_at(venues[venue]) if venue_cid(o) == cid]
        got = f"{order.status.name}, {'not ' if not at_venue else ''}at the venue: {order.reason}"
        return None if got == case.expected() else f"got {got!r}"
    cid = client_order_id(case)
    await venues[venue].set_faults({"malformed_next": 1, "malformed_path": ORDER_PATHS[venue], **fault})
    order = await asyncio.wait_for(manager.create_order(SYMBOL, "buy", "0.001", "20000", client_order_id=cid), 20)
    got = f"{order.status.name}, then found by id: {order.reason}"  # before reconcile moves the same order on
    await asyncio.wait_for(manager.reconcile(), 20)
    after = manager.check_order_status(cid)
    at_venue = [o for o in await orders_at(venues[venue]) if venue_cid(o) == cid]
    problems = []
    if not matches(case.expected(), got):
        problems.append(f"got {got!r}")
    if after.status is not OrderStatus.ACCEPTED:
        problems.append(f"after reconcile {after.status.name}")
    if len(at_venue) != 1:
        problems.append(f"the venue holds it {len(at_venue)} times")
    return "; ".join(problems) or None


def test_the_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("dialect_venue", ["alpha", "beta"])
async def test_broken_replies_are_named_and_never_acted_on(dialect_venue, venues, tmp_path):
    wrong = []
    async with World(venues, tmp_path / "journal.sqlite") as world:
        world.beta_manager = OrderManager("beta", CcxtOrderAdapter("beta", world.beta, timeout_s=5),
                                          {SYMBOL: world.rules["beta"]}, balances=world.manager._balances,
                                          journal=world.journal)
        for case in CASES:
            if case.data[0] == dialect_venue:
                problem = await check(case, world, venues)
                if problem:
                    wrong.append(f"{case.id}: expected {case.expected()!r}: {problem}")
    assert not wrong, "\n".join(wrong)
    # nothing was sent twice: every order at the venue is one of the cases', once
    ids = [venue_cid(o) for o in await orders_at(venues[dialect_venue])]
    assert len(ids) == len(set(ids))
