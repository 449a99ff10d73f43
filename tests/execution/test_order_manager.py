"""OrderManager: the send path (journal before send), venue answers, unknown outcomes, quarantine and resubmission,
cancels, fills, reconciliation after a restart; the transition table; client order ids; rounding.

Over 500 lines because every section drives the same fake venue and journal fixtures through one ``OrderManager``; the
sections follow ``execution/orders/`` (manager, reconcile, lifecycle, ids, validation)."""
from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from decimal import Decimal as D

import pytest

from execution.error_handler import (
    AmbiguousOrderError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NetworkFailure,
    RequestTimedOut,
)
from execution.journal import Journal, JournalError
from execution.messages import (
    FillApplied,
    OrderAccepted,
    OrderCanceled,
    OrderDenied,
    OrderFilled,
    OrderInitialized,
    OrderSubmitted,
    OrderUpdated,
)
from execution.order_manager import (
    CANCELLABLE,
    CLIENT_ORDER_ID_RE,
    LATE_FILLS,
    TERMINAL,
    TRANSITIONS,
    ClientOrderIdFactory,
    DuplicateClientOrderIdError,
    IllegalTransition,
    InsufficientBalanceError,
    NotCancellable,
    Order,
    OrderManager,
    OrderNotTracked,
    OrderValidationError,
    ResubmitRefused,
    is_valid_client_order_id,
    round_to_market,
)
from execution.types import Fill, OrderSnapshot, OrderStatus, OrderType, Side
from tests.execution.fakes import AfterEffect, FakeExchange, spot_rules

S = OrderStatus
SYMBOL = "BTC/USDT"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=[False, True], ids=["sqlite", "intent-log"])
def journal(tmp_path, request):
    """Every test runs on a journal that writes new orders straight to SQLite and on one that writes them ahead to
    its intent log (the order manager actor's)."""
    with Journal(tmp_path / "journal.sqlite", intent_log=request.param) as journal:
        yield journal


@pytest.fixture
def fake():
    return FakeExchange("fake")


def make_manager(fake, journal, *, balances=None, clock=None, events=None, **options):
    return OrderManager("fake", fake, {SYMBOL: spot_rules()},
                        balances=balances if balances is not None else {"USDT": D("100000"), "BTC": D("10")},
                        journal=journal, clock=clock or Clock(), on_event=(events.append if events is not None else None),
                        submit_timeout_s=options.pop("submit_timeout_s", 0.2), query_timeout_s=0.2, **options)


def fill_for(order: Order, amount: str, trade_id: str, price: str | None = None) -> Fill:
    return Fill(exchange=order.exchange, symbol=order.symbol, side=order.side, price=D(price) if price else order.price,
                amount=D(amount), fee=D("0.01"), fee_asset="USDT", trade_id=trade_id,
                client_order_id=order.client_order_id, exchange_order_id=order.exchange_order_id, ts_ms=1_800_000_000_000)


# --- the send path ----------------------------------------------------------------------------------------------

async def test_create_order_journals_initialized_and_submitted_before_the_venue_sees_it(fake, journal):
    seen_in_journal = []

    def venue(command):
        # At the moment the request reaches the venue the journal must already hold the order as SUBMITTED.
        row = journal.get(command.client_order_id)
        seen_in_journal.append((row.status, [t.to_status for t in journal.transitions(command.client_order_id)]))
        return fake._venue_submit(command)

    fake.script("submit_order", venue)
    events = []
    manager = make_manager(fake, journal, events=events)
    order = await manager.create_order(SYMBOL, "buy", "0.0100", "50000.00", "limit")

    assert seen_in_journal == [(S.SUBMITTED, [S.INITIALIZED, S.SUBMITTED])]
    assert order.status is S.ACCEPTED and order.exchange_order_id == "1000"
    assert journal.get(order.client_order_id).status is S.ACCEPTED
    assert [type(e) for e in events] == [OrderInitialized, OrderSubmitted, OrderAccepted]
    assert all(e.client_order_id == order.client_order_id for e in events)
    sent = fake.sent_orders[0]
    assert (sent.amount, sent.price, sent.side, sent.order_type) == (D("0.0100"), D("50000.00"), Side.BUY,
                                                                      OrderType.LIMIT)


class EagerExchange(FakeExchange):
    """A venue connection that writes the request inside ``start_submit_order`` (as the actors' channel does)."""

    def __init__(self, journal):
        super().__init__("fake")
        self.journal = journal
        self.written: list[tuple[str, S]] = []

    def start_submit_order(self, command):
        self.written.append((command.client_order_id, self.journal.get(command.client_order_id).status))
        return self.submit_order(command)


async def test_start_order_journals_and_writes_the_request_before_returning(journal):
    exchange = EagerExchange(journal)
    manager = make_manager(exchange, journal)
    pending = manager.start_order(SYMBOL, "buy", "0.0100", "50000.00", "limit", client_order_id="rx-eager-1")
    assert exchange.written == [("rx-eager-1", S.SUBMITTED)]  # journaled first, on the wire before any await
    order = await pending
    assert order.status is S.ACCEPTED and journal.get("rx-eager-1").status is S.ACCEPTED
    with pytest.raises(OrderValidationError):  # a bad request fails at once, and nothing is written
        manager.start_order(SYMBOL, "buy", "-1", "50000.00", "limit")
    assert len(exchange.written) == 1


async def test_with_an_intent_log_the_request_goes_out_before_the_sqlite_commit_which_follows_in_the_next_turn(
        tmp_path):
    path = tmp_path / "ahead.sqlite"

    class Observing(EagerExchange):
        def start_submit_order(self, command):
            with sqlite3.connect(path) as db:  # SQLite itself, not through the journal (which would write it first)
                self.in_sqlite = db.execute("SELECT status FROM orders WHERE client_order_id=?",
                                            (command.client_order_id,)).fetchall()
            return self.submit_order(command)

    with Journal(path, intent_log=True) as journal:
        exchange = Observing(journal)
        pending = make_manager(exchange, journal).start_order(SYMBOL, "buy", "0.0100", "50000.00", "limit",
                                                             client_order_id="rx-ahead-1")
        assert exchange.in_sqlite == []  # sent with the order written ahead in the intent log only
        assert b"rx-ahead-1" in (tmp_path / "ahead.sqlite-intents").read_bytes()
        await asyncio.sleep(0)
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT status FROM orders").fetchall() == [("submitted",)]
        assert (await pending).status is S.ACCEPTED


async def test_an_error_raised_while_starting_the_send_leaves_the_order_unknown_not_lost(journal):
    class Refusing(EagerExchange):
        def start_submit_order(self, command):
            raise ConnectionResetError("peer went away mid-write")

    manager = make_manager(Refusing(journal), journal)
    order = await manager.start_order(SYMBOL, "buy", "0.0100", "50000.00", "limit", client_order_id="rx-eager-2")
    assert order.status is S.UNKNOWN and journal.get("rx-eager-2").status is S.UNKNOWN  # looked up, never resent


async def test_taker_order_filled_in_the_answer_applies_its_fills_once(journal):
    fake = FakeExchange("fake", fill_on_submit=True)
    events = []
    manager = make_manager(fake, journal, events=events)
    order = await manager.create_order(SYMBOL, Side.SELL, D("0.5"), D("50000"), OrderType.LIMIT)
    assert order.status is S.FILLED and order.filled == D("0.5") and order.average_price == D("50000")
    assert [f.trade_id for f in journal.fills()] == ["t1"]
    applied = [e for e in events if isinstance(e, FillApplied)]
    assert len(applied) == 1 and applied[0].order_status is S.FILLED
    # The same trade arriving again from the stream is ignored.
    assert manager.apply_fill(journal.fills()[0]) is None
    assert order.filled == D("0.5") and len(journal.fills()) == 1


def _commits(journal) -> list[str]:
    """Every COMMIT the journal's connection runs from now on."""
    seen: list[str] = []
    journal._db.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


async def test_an_answer_with_its_fills_is_journaled_in_one_commit_and_its_events_follow_the_commit(journal):
    events = []
    manager = make_manager(FakeExchange("fake"), journal, events=events)
    order = await manager.create_order(SYMBOL, Side.BUY, D("0.03"), D("50000"), OrderType.LIMIT)
    commits, before = _commits(journal), len(events)
    fills = (fill_for(order, "0.01", "a"), fill_for(order, "0.02", "b"))
    manager.apply_snapshot(OrderSnapshot("fake", SYMBOL, Side.BUY, order.client_order_id, order.exchange_order_id,
                                         S.FILLED, D("0.03"), D("0.03"), D("50000"), D("50000"), fills))
    assert len(commits) == 1  # two fills and three transitions: one commit (it was three)
    assert order.status is S.FILLED and [f.trade_id for f in journal.fills()] == ["a", "b"]
    assert [(t.to_status, t.event) for t in journal.transitions(order.client_order_id)][-3:] == [
        (S.PARTIALLY_FILLED, "OrderFilled"), (S.FILLED, "OrderFilled"), (S.FILLED, "OrderUpdated")]
    assert [type(e).__name__ for e in events[before:]] == ["OrderFilled", "FillApplied", "OrderFilled", "FillApplied",
                                                           "OrderUpdated"]


async def test_an_answer_the_journal_cannot_take_leaves_nothing_of_it_written_and_sends_no_event(journal, monkeypatch):
    events = []
    manager = make_manager(FakeExchange("fake"), journal, events=events)
    order = await manager.create_order(SYMBOL, Side.BUY, D("0.03"), D("50000"), OrderType.LIMIT)
    before, transitions = len(events), journal.transitions(order.client_order_id)
    record_fill = journal.record_fill

    def failing_on_b(fill):
        if fill.trade_id == "b":
            raise JournalError("disk full")
        return record_fill(fill)

    monkeypatch.setattr(journal, "record_fill", failing_on_b)
    fills = (fill_for(order, "0.01", "a"), fill_for(order, "0.02", "b"))
    with pytest.raises(JournalError):
        manager.apply_snapshot(OrderSnapshot("fake", SYMBOL, Side.BUY, order.client_order_id,
                                             order.exchange_order_id, S.FILLED, D("0.03"), D("0.03"), D("50000"),
                                             D("50000"), fills))
    assert journal.fills() == [] and journal.transitions(order.client_order_id) == transitions  # not half of it
    assert len(events) == before  # nothing told about fills the journal does not hold


async def test_definite_venue_refusal_makes_the_order_rejected_with_its_reason(fake, journal):
    fake.fail("submit_order", InsufficientFunds("Account has insufficient balance for requested action."))
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert order.status is S.REJECTED
    assert "InsufficientFunds" in order.reason
    assert journal.get(order.client_order_id).status is S.REJECTED


@pytest.mark.parametrize("failure", [RequestTimedOut("timeout"), ExchangeUnavailable("502"), NetworkFailure("reset"),
                                     AmbiguousOrderError("maybe"), RuntimeError("adapter bug")])
async def test_timeout_or_network_error_while_creating_makes_the_order_unknown_and_never_resends(fake, journal,
                                                                                                 failure):
    fake.fail("submit_order", failure)
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert order.status is S.UNKNOWN
    assert len(fake.sent_orders) == 1
    assert journal.get(order.client_order_id).status is S.UNKNOWN


async def test_hanging_venue_hits_the_submit_timeout_and_leaves_the_order_unknown(fake, journal):
    fake.hang("submit_order")
    manager = make_manager(fake, journal, submit_timeout_s=0.05)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert order.status is S.UNKNOWN and len(fake.sent_orders) == 1


async def test_unknown_order_that_reached_the_venue_is_adopted_by_client_order_id(fake, journal):
    fake.script("submit_order", AfterEffect(RequestTimedOut("read timeout")))
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert order.status is S.UNKNOWN
    await manager.refresh(order.client_order_id)
    assert order.status is S.ACCEPTED and order.exchange_order_id == "1000"
    assert fake.calls_to("query_order")[0].args[0].client_order_id == order.client_order_id
    assert len(fake.sent_orders) == 1
    assert [t.to_status for t in journal.transitions(order.client_order_id)] == [
        S.INITIALIZED, S.SUBMITTED, S.UNKNOWN, S.ACCEPTED]


async def test_not_found_is_counted_then_quarantined_then_resubmitted_with_the_same_client_order_id(fake, journal):
    fake.fail("submit_order", RequestTimedOut("connect timeout"))
    clock = Clock()
    manager = make_manager(fake, journal, clock=clock, lost_order_limit=3, resubmit_ttl_s=30)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    for expected in (1, 2):
        await manager.refresh(order.client_order_id)
        assert (order.status, order.not_found_count, manager.is_lost(order)) == (S.UNKNOWN, expected, False)
        with pytest.raises(ResubmitRefused):
            await manager.resubmit(order.client_order_id)
    await manager.refresh(order.client_order_id)
    assert manager.is_lost(order) and journal.get(order.client_order_id).not_found_count == 3

    clock.now += 5
    await manager.resubmit(order.client_order_id)
    assert order.status is S.ACCEPTED and order.not_found_count == 0
    assert [c.client_order_id for c in fake.sent_orders] == [order.client_order_id] * 2
    # each send may leave only within the TTL of the order's creation (the exchange actor refuses it after)
    assert [c.expires_at for c in fake.sent_orders] == [order.created_at + 30] * 2


async def test_lost_order_past_its_ttl_is_expired_not_resubmitted_and_still_takes_a_late_fill(fake, journal):
    fake.fail("submit_order", RequestTimedOut("timeout"))
    clock = Clock()
    manager = make_manager(fake, journal, clock=clock, lost_order_limit=1, resubmit_ttl_s=10)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    await manager.refresh(order.client_order_id)
    clock.now += 11
    with pytest.raises(ResubmitRefused):
        await manager.resubmit(order.client_order_id)
    assert order.status is S.EXPIRED and len(fake.sent_orders) == 1
    assert manager.apply_fill(fill_for(order, "0.01", "late-1")) is not None
    assert order.status is S.FILLED


async def test_expire_overdue_expires_only_lost_orders_past_ttl(fake, journal):
    fake.fail("submit_order", RequestTimedOut("timeout"), times=2)
    clock = Clock()
    manager = make_manager(fake, journal, clock=clock, lost_order_limit=1, resubmit_ttl_s=10)
    lost = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    unknown = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    await manager.refresh(lost.client_order_id)
    clock.now += 11
    assert manager.expire_overdue() == [lost]
    assert (lost.status, unknown.status) == (S.EXPIRED, S.UNKNOWN)


async def test_resubmit_refuses_an_order_the_venue_has_seen(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    with pytest.raises(ResubmitRefused):
        await manager.resubmit(order.client_order_id)


async def test_duplicate_client_order_id_answer_means_the_order_exists(fake, journal):
    fake.script("submit_order", AfterEffect(RequestTimedOut("timeout")))
    manager = make_manager(fake, journal, lost_order_limit=1)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    # Force the quarantine path although the venue has it: the resend is answered "duplicate", never doubled.
    fake.script("query_order", lambda query: None)
    await manager.refresh(order.client_order_id)
    await manager.resubmit(order.client_order_id)
    assert order.status is S.UNKNOWN and "already has this client order id" in order.reason
    await manager.refresh(order.client_order_id)
    assert order.status is S.ACCEPTED
    assert len([o for o in fake.venue_orders.values() if o.client_order_id == order.client_order_id]) == 1


async def test_cancelled_send_marks_the_order_unknown_and_propagates(fake, journal):
    fake.hang("submit_order")
    manager = make_manager(fake, journal, submit_timeout_s=5)
    task = asyncio.create_task(manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit"))
    while not fake.sent_orders:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (order,) = manager.orders.values()
    assert order.status is S.UNKNOWN


# --- status, fills, cancels --------------------------------------------------------------------------------------

async def test_check_order_status_by_client_or_exchange_id_and_unknown_id(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert manager.check_order_status(order.client_order_id) is order
    assert manager.check_order_status(order.exchange_order_id) is order
    with pytest.raises(OrderNotTracked):
        manager.check_order_status("nope")


async def test_memory_holds_open_orders_and_only_the_latest_finished_ones(journal, monkeypatch):
    monkeypatch.setattr("execution.orders.manager.FINISHED_ORDERS_KEPT", 3)
    fake = FakeExchange("fake", fill_on_submit=True)
    manager = make_manager(fake, journal)
    filled = [await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit") for _ in range(5)]
    fake.fail("submit_order", RequestTimedOut("timeout"))
    unknown = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert unknown.status is S.UNKNOWN and manager.open_orders() == [unknown]
    held = set(manager.orders)
    assert held == {unknown.client_order_id} | {o.client_order_id for o in filled[-3:]}  # the two oldest let go
    # A new order's checks cost what the open orders cost, not the history: only the unknown one is reserved.
    assert manager.reserved_balance("USDT") == D("0.01") * D("50000") * (1 + spot_rules().taker_fee)
    oldest = filled[0]
    again = manager.check_order_status(oldest.client_order_id)  # read back from the journal
    assert (again.status, again.filled, again.exchange_order_id) == (S.FILLED, D("0.01"), oldest.exchange_order_id)
    assert manager.apply_fill(journal.fills(client_order_id=oldest.client_order_id)[0]) is None  # still once only
    with pytest.raises(DuplicateClientOrderIdError):  # a forgotten id is still refused
        manager.validate_order(SYMBOL, "buy", "0.01", "50000", client_order_id=filled[1].client_order_id)
    sent, written = len(fake.sent_orders), journal.transitions()
    with pytest.raises(DuplicateClientOrderIdError):  # by the journal's key on the send path: nothing written or sent
        manager.start_order(SYMBOL, "buy", "0.01", "50000", client_order_id=filled[1].client_order_id)
    assert len(fake.sent_orders) == sent and journal.transitions() == written


async def test_partial_fills_then_fill_complete_the_order_and_journal_each(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.03", "50000", "limit")
    manager.apply_fill(fill_for(order, "0.01", "a", "49999.00"))
    assert order.status is S.PARTIALLY_FILLED and order.remaining == D("0.02")
    manager.apply_fill(fill_for(order, "0.02", "b"))
    assert order.status is S.FILLED
    assert order.cost == D("0.01") * D("49999.00") + D("0.02") * D("50000")
    assert order.fees == {"USDT": D("0.02")}
    print([(t.from_status, t.to_status, t.event) for t in journal.transitions(order.client_order_id)])
    assert journal.get(order.client_order_id).filled == D("0.03")


async def test_cancel_moves_through_pending_cancel_to_canceled(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    await manager.cancel_order(order.client_order_id)
    assert order.status is S.CANCELED
    assert [t.to_status for t in journal.transitions(order.client_order_id)][-2:] == [S.PENDING_CANCEL, S.CANCELED]
    with pytest.raises(NotCancellable):
        await manager.cancel_order(order.client_order_id)


async def test_refused_cancel_restores_accepted_or_partially_filled(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.02", "50000", "limit")
    fake.fail("cancel_order", InvalidOrder("Unknown order sent."))
    await manager.cancel_order(order.client_order_id)
    assert order.status is S.ACCEPTED
    manager.apply_fill(fill_for(order, "0.01", "p1"))
    fake.fail("cancel_order", InvalidOrder("refused"))
    await manager.cancel_order(order.client_order_id)
    assert order.status is S.PARTIALLY_FILLED


async def test_fill_after_cancel_is_applied(fake, journal, monkeypatch):
    monkeypatch.setattr("execution.orders.manager.FINISHED_ORDERS_KEPT", 1)
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.02", "50000", "limit")
    await manager.cancel_order(order.client_order_id)
    assert manager.open_orders() == []
    manager.apply_fill(fill_for(order, "0.01", "late"))
    assert order.status is S.PARTIALLY_FILLED and order.filled == D("0.01")
    assert manager.open_orders() == [order]  # open again
    fake.fill_on_submit = True
    await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")  # a finished order: the memory holds one
    assert manager.check_order_status(order.exchange_order_id) is order  # the open one is not let go with it


async def test_cancel_with_lost_answer_stays_pending_cancel(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.02", "50000", "limit")
    fake.hang("cancel_order")
    await manager.cancel_order(order.client_order_id)
    assert order.status is S.PENDING_CANCEL


# --- balance reservation ------------------------------------------------------------------------------------------

async def test_in_flight_orders_reserve_balance_so_two_orders_cannot_spend_it_twice(fake, journal):
    fake.fail("submit_order", RequestTimedOut("timeout"))  # the first stays UNKNOWN: its money may be gone
    manager = make_manager(fake, journal, balances={"USDT": D("600"), "BTC": D("0")})
    first = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")  # 500 * 1.001 = 500.5
    assert first.status is S.UNKNOWN
    with pytest.raises(InsufficientBalanceError):
        await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    assert len(fake.sent_orders) == 1


# --- reconciliation after a restart ----------------------------------------------------------------------------------

async def test_reconcile_after_restart_resolves_every_non_terminal_order_by_client_order_id(fake, tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    manager = make_manager(fake, journal)
    fake.script("submit_order", AfterEffect(RequestTimedOut("t")), RequestTimedOut("t"))
    adopted = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")  # venue has it
    missing = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")  # venue never got it
    resting = await manager.create_order(SYMBOL, "sell", "0.01", "50000", "limit")
    done = await manager.create_order(SYMBOL, "sell", "0.01", "50000", "limit")
    await manager.cancel_order(done.client_order_id)
    # The venue filled the resting order while we were down.
    venue_view = fake.venue_orders[resting.client_order_id]
    fake.put_order(OrderSnapshot(exchange="fake", symbol=SYMBOL, side=Side.SELL,
                                 client_order_id=resting.client_order_id,
                                 exchange_order_id=venue_view.exchange_order_id, status=S.FILLED, amount=D("0.01"),
                                 filled=D("0.01"), price=D("50000"), average=D("50000")))
    journal.close()

    restarted_journal = Journal(path)
    restarted = make_manager(fake, restarted_journal)
    report = await restarted.reconcile()
    assert report.statuses == {adopted.client_order_id: S.ACCEPTED, missing.client_order_id: S.UNKNOWN,
                               resting.client_order_id: S.FILLED}
    assert report.unresolved == () and report.lost == ()
    assert restarted.check_order_status(missing.client_order_id).not_found_count == 1
    assert [o.client_order_id for o in restarted_journal.non_terminal_orders()] == [adopted.client_order_id,
                                                                                   missing.client_order_id]
    assert len(fake.sent_orders) == 4  # reconciliation never sends
    restarted_journal.close()


async def test_reconcile_denies_orders_journaled_but_never_submitted_and_survives_a_failing_lookup(fake, journal):
    manager = make_manager(fake, journal)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    never_sent = Order(OrderInitialized(client_order_id="rx-never-sent", exchange="fake", symbol=SYMBOL,
                                        side=Side.BUY, order_type=OrderType.LIMIT, amount=D("0.01"),
                                        price=D("50000"), ts_init=1.0))
    journal.record_order(never_sent.journal_row())
    restarted = make_manager(fake, journal)

    async def failing_lookup(query):
        raise ExchangeUnavailable("502")

    report = await restarted.reconcile(failing_lookup)
    assert report.statuses["rx-never-sent"] is S.DENIED
    assert report.unresolved == (order.client_order_id,)
    assert restarted.check_order_status(order.client_order_id).status is S.ACCEPTED


async def test_reconcile_reports_lost_orders(fake, journal):
    fake.fail("submit_order", RequestTimedOut("t"))
    manager = make_manager(fake, journal, lost_order_limit=1)
    order = await manager.create_order(SYMBOL, "buy", "0.01", "50000", "limit")
    report = await manager.reconcile()
    assert report.lost == (order.client_order_id,)


# --- the transition table and Order.apply -------------------------------------------------------------------------

def test_terminal_states_are_left_only_by_late_fills():
    leaving_terminal = {(a, b) for a, b in TRANSITIONS if a in TERMINAL}
    assert leaving_terminal == set(LATE_FILLS)
    assert not any(a in (S.DENIED, S.REJECTED, S.FILLED) for a, _ in TRANSITIONS)
    assert CANCELLABLE.isdisjoint(TERMINAL)
    assert {(S.CANCELED, S.FILLED), (S.PENDING_CANCEL, S.ACCEPTED), (S.SUBMITTED, S.UNKNOWN),
            (S.UNKNOWN, S.ACCEPTED), (S.UNKNOWN, S.FILLED), (S.UNKNOWN, S.REJECTED), (S.UNKNOWN, S.CANCELED),
            (S.UNKNOWN, S.EXPIRED)} <= TRANSITIONS


def new_order(amount="0.02") -> Order:
    return Order(OrderInitialized(client_order_id="c1", exchange="fake", symbol=SYMBOL, side=Side.BUY,
                                  order_type=OrderType.LIMIT, amount=D(amount), price=D("100"), ts_init=1.0))


def ids(**extra):
    return dict(client_order_id="c1", exchange="fake", symbol=SYMBOL, **extra)


def test_illegal_transition_raises_and_leaves_the_order_unchanged():
    order = new_order()
    before = order.journal_row()
    with pytest.raises(IllegalTransition):
        order.apply(OrderAccepted(**ids(exchange_order_id="9")))  # INITIALIZED -> ACCEPTED is not in the table
    assert order.journal_row() == before


def test_order_cannot_be_changed_except_through_apply():
    order = new_order()
    with pytest.raises(AttributeError):
        order.status = S.FILLED
    assert order.status is S.INITIALIZED


def test_overfill_raises_and_changes_nothing():
    order = new_order("0.01")
    order.apply(OrderSubmitted(**ids()))
    fill = Fill(exchange="fake", symbol=SYMBOL, side=Side.BUY, price=D("100"), amount=D("0.02"), fee=D(0),
                fee_asset="USDT", trade_id="x", client_order_id="c1", exchange_order_id=None, ts_ms=0)
    with pytest.raises(IllegalTransition):
        order.apply(OrderFilled.from_fill(fill))
    assert order.filled == 0 and order.status is S.SUBMITTED and order.trade_ids == frozenset()


def test_replayed_events_are_no_ops_and_stale_venue_reports_do_not_move_backwards():
    order = new_order()
    order.apply(OrderSubmitted(**ids()))
    assert order.apply(OrderAccepted(**ids(exchange_order_id="9"))) is True
    assert order.apply(OrderAccepted(**ids(exchange_order_id="9"))) is False
    fill = Fill(exchange="fake", symbol=SYMBOL, side=Side.BUY, price=D("100"), amount=D("0.02"), fee=D(0),
                fee_asset="USDT", trade_id="x", client_order_id="c1", exchange_order_id="9", ts_ms=0)
    order.apply(OrderFilled.from_fill(fill))
    assert order.apply(OrderUpdated(**ids(), status=S.ACCEPTED, filled=D(0))) is False
    assert order.status is S.FILLED and order.filled == D("0.02")


def test_canceled_order_can_still_be_filled_but_filled_cannot_be_canceled():
    order = new_order()
    order.apply(OrderSubmitted(**ids()))
    order.apply(OrderCanceled(**ids()))
    fill = Fill(exchange="fake", symbol=SYMBOL, side=Side.BUY, price=D("100"), amount=D("0.02"), fee=D(0),
                fee_asset="USDT", trade_id="x", client_order_id="c1", exchange_order_id="9", ts_ms=0)
    order.apply(OrderFilled.from_fill(fill))
    assert order.status is S.FILLED
    with pytest.raises(IllegalTransition):
        order.apply(OrderCanceled(**ids()))
    with pytest.raises(IllegalTransition):
        order.apply(OrderDenied(**ids(), reason="x"))


def test_a_fill_of_another_order_is_refused():
    order = new_order()
    order.apply(OrderSubmitted(**ids()))
    fill = Fill(exchange="fake", symbol="ETH/USDT", side=Side.BUY, price=D("100"), amount=D("0.01"), fee=D(0),
                fee_asset="USDT", trade_id="x", client_order_id="c1", exchange_order_id=None, ts_ms=0)
    with pytest.raises(ValueError):
        order.apply(OrderFilled.from_fill(fill))


# --- client order ids -------------------------------------------------------------------------------------------------

def test_client_order_ids_are_unique_valid_for_binance_and_recognisable():
    factory = ClientOrderIdFactory("rx", clock=lambda: 1_800_000_000.0)  # a frozen clock: the counter must suffice
    made = [factory.next() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert all(CLIENT_ORDER_ID_RE.fullmatch(i) and len(i) <= 36 for i in made)
    assert all(factory.owns(i) for i in made[:10]) and not factory.owns("web_abc")
    assert len(set(ClientOrderIdFactory("rx", clock=lambda: 1.0).next() for _ in range(200))) == 200
    with pytest.raises(ValueError):
        ClientOrderIdFactory("Bad Prefix")


def test_client_order_ids_from_two_processes_at_the_same_time_never_collide():
    script = ("from execution.order_manager import ClientOrderIdFactory\n"
              "f = ClientOrderIdFactory('rx', clock=lambda: 1800000000.0)\n"
              "print('\\n'.join(f.next() for _ in range(5000)))\n")
    processes = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]  # started together: same clock reading, different processes
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    first, second = (set(output.split()) for output in outputs)
    assert len(first) == len(second) == 5000
    assert first.isdisjoint(second)


@pytest.mark.parametrize("value,valid", [("rx-1", True), ("a" * 36, True), ("a" * 37, False), ("", False),
                                         ("has space", False), ("x;drop", False), (123, False), (None, False),
                                         ("A.B:C/d_e-f", True)])
def test_client_order_id_validity(value, valid):
    assert is_valid_client_order_id(value) is valid


# --- rounding helper ------------------------------------------------------------------------------------------------

def test_round_to_market_truncates_amount_and_rounds_price_passively_or_to_nearest():
    rules = spot_rules()
    assert round_to_market(rules, Side.BUY, D("0.012345"), D("100.019")) == (D("0.0123"), D("100.01"))
    assert round_to_market(rules, Side.SELL, D("0.012345"), D("100.011")) == (D("0.0123"), D("100.02"))
    assert round_to_market(rules, Side.BUY, D("1"), D("100.016"), passive=False)[1] == D("100.02")


# --- messages --------------------------------------------------------------------------------------------------------

def test_messages_are_frozen_check_their_money_and_pickle_for_ray():
    import dataclasses
    import pickle

    from execution.messages import ArbitrageDetected, BookUpdated, OrderStatusUnknown, SubmitOrder
    from execution.types import OrderBook

    command = SubmitOrder(client_order_id="c1", exchange="fake", symbol=SYMBOL, side=Side.BUY,
                          order_type=OrderType.LIMIT, amount=D("0.01"), price=D("100"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.amount = D("1")
    with pytest.raises(ValueError):
        SubmitOrder(client_order_id="c1", exchange="fake", symbol=SYMBOL, side=Side.BUY, order_type=OrderType.LIMIT,
                    amount=0.01, price=D("100"))  # a float is not money
    with pytest.raises(ValueError):
        OrderUpdated(client_order_id="c1", exchange="fake", symbol=SYMBOL, status=S.SUBMITTED)
    book = OrderBook(exchange="a", symbol=SYMBOL, bids=((D("99"), D("1")),), asks=((D("101"), D("1")),),
                     exchange_ts_ms=1_800_000_000_500, received_at=1_800_000_000.9)
    assert BookUpdated.of(book).ts_event == 1_800_000_000.5
    detected = ArbitrageDetected(opportunity_id="o1", symbol=SYMBOL, buy_exchange="a", sell_exchange="b",
                                 amount=D("0.01"), buy_price=D("101"), sell_price=D("102"), expected_profit=D("0.0079"),
                                 detected_at=3.0, buy_book_received_at=1.0, sell_book_received_at=2.0)
    assert detected.book_received_at == 2.0
    with pytest.raises(ValueError):
        dataclasses.replace(detected, sell_exchange="a")
    with pytest.raises(ValueError):
        dataclasses.replace(detected, buy_price=D("NaN"))
    for message in (command, detected, BookUpdated.of(book),
                    OrderStatusUnknown(client_order_id="c1", exchange="fake", symbol=SYMBOL, reason="t")):
        assert pickle.loads(pickle.dumps(message)) == message
