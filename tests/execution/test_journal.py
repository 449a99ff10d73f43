"""Journal: WAL mode, exact Decimal round trip, append-only transitions, fill dedup, non-terminal listing, reopening
from another process, refusal of inconsistent writes, rollback of a failed transaction."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from decimal import Decimal as D

import pytest

from execution.journal import Journal, JournaledOrder, JournalError
from execution.order_manager import TERMINAL
from execution.types import Fill, OrderStatus, OrderType, Side, TimeInForce

S = OrderStatus


def row(client_order_id="c1", *, status=S.INITIALIZED, amount="0.00012345678901234567", price="65432.10000001",
        exchange="binance", created_ts=1.0) -> JournaledOrder:
    return JournaledOrder(client_order_id=client_order_id, exchange=exchange, symbol="BTC/USDT", side=Side.BUY,
                          order_type=OrderType.LIMIT, time_in_force=TimeInForce.IOC, amount=D(amount),
                          price=D(price), status=status, exchange_order_id=None, opportunity_id="opp-1",
                          filled=D(0), not_found_count=0, reason=None, created_ts=created_ts, updated_ts=created_ts)


def fill(trade_id="t1", *, exchange="binance", amount="0.0001", client_order_id="c1") -> Fill:
    return Fill(exchange=exchange, symbol="BTC/USDT", side=Side.BUY, price=D("65432.10"), amount=D(amount),
                fee=D("1E-8"), fee_asset="BNB", trade_id=trade_id, client_order_id=client_order_id,
                exchange_order_id="42", ts_ms=1_800_000_000_123)


@pytest.fixture
def journal(tmp_path):
    with Journal(tmp_path / "j.sqlite") as journal:
        yield journal


def test_opens_in_wal_mode_with_the_chosen_synchronous_level(tmp_path):
    with Journal(tmp_path / "a.sqlite") as journal:
        assert journal._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    with Journal(tmp_path / "b.sqlite", synchronous="FULL") as journal:
        assert journal._db.execute("PRAGMA synchronous").fetchone()[0] == 2
    with pytest.raises(ValueError):
        Journal(tmp_path / "c.sqlite", synchronous="OFF")


def test_order_and_fill_decimals_round_trip_exactly(journal):
    original = row()
    journal.record_order(original)
    assert journal.get("c1") == original
    journal.record_fill(fill())
    (stored,) = journal.fills()
    assert stored == fill() and str(stored.fee) == "1E-8"
    stored_text = journal._db.execute("SELECT amount, price FROM orders").fetchone()
    assert stored_text == ("0.00012345678901234567", "65432.10000001")


def test_transitions_are_appended_and_the_row_follows(journal):
    journal.record_submitted_order(row(), ts_event=2.0, ts_init=2.0)
    journal.record_transition("c1", S.SUBMITTED, S.ACCEPTED, event="OrderAccepted", ts_event=3.0, ts_init=3.1,
                              exchange_order_id="42")
    journal.record_transition("c1", S.ACCEPTED, S.PARTIALLY_FILLED, event="OrderFilled", ts_event=4.0, ts_init=4.1,
                              filled=D("0.0001"))
    assert [(t.from_status, t.to_status, t.event) for t in journal.transitions("c1")] == [
        (None, S.INITIALIZED, "OrderInitialized"), (S.INITIALIZED, S.SUBMITTED, "OrderSubmitted"),
        (S.SUBMITTED, S.ACCEPTED, "OrderAccepted"), (S.ACCEPTED, S.PARTIALLY_FILLED, "OrderFilled")]
    current = journal.get("c1")
    assert (current.status, current.exchange_order_id, current.filled, current.updated_ts) == (
        S.PARTIALLY_FILLED, "42", D("0.0001"), 4.1)


def test_a_transition_from_the_wrong_status_is_refused_and_nothing_is_written(journal):
    journal.record_order(row())
    with pytest.raises(JournalError):
        journal.record_transition("c1", S.SUBMITTED, S.ACCEPTED, event="OrderAccepted", ts_event=1, ts_init=1)
    with pytest.raises(JournalError):
        journal.record_transition("nope", S.SUBMITTED, S.ACCEPTED, event="OrderAccepted", ts_event=1, ts_init=1)
    assert len(journal.transitions()) == 1 and journal.get("c1").status is S.INITIALIZED


def test_the_same_client_order_id_cannot_be_journaled_twice(journal):
    journal.record_order(row())
    with pytest.raises(JournalError):
        journal.record_order(row())


def test_a_repeated_fill_is_ignored_and_reported_as_duplicate(journal):
    assert journal.record_fill(fill("t1")) is True
    assert journal.record_fill(fill("t1")) is False
    assert journal.record_fill(fill("t1", exchange="okx")) is True  # trade ids are unique per exchange and symbol
    assert journal.record_fills([fill("t2"), fill("t1"), fill("t3")]) == [True, False, True]
    assert [f.trade_id for f in journal.fills(exchange="binance")] == ["t1", "t2", "t3"]
    assert journal.has_fill("binance", "BTC/USDT", "t2") and not journal.has_fill("binance", "BTC/USDT", "t9")


def test_non_terminal_orders_lists_what_reconciliation_must_resolve(journal):
    statuses = list(OrderStatus)
    for index, status in enumerate(statuses):
        journal.record_order(row(f"c{index}", status=status, created_ts=float(index)))
    journal.record_order(row("other-venue", status=S.UNKNOWN, exchange="okx", created_ts=99.0))
    expected = [f"c{i}" for i, status in enumerate(statuses) if status not in TERMINAL]
    assert [o.client_order_id for o in journal.non_terminal_orders("binance")] == expected
    assert len(journal.non_terminal_orders()) == len(expected) + 1
    assert [o.client_order_id for o in journal.orders(status=S.FILLED)] == [f"c{statuses.index(S.FILLED)}"]


@pytest.mark.parametrize("intent_log", [False, True], ids=["sqlite", "intent-log"])
def test_submitting_writes_what_recording_then_moving_to_submitted_writes(tmp_path, intent_log):
    with Journal(tmp_path / "a.sqlite", intent_log=intent_log) as fast, Journal(tmp_path / "b.sqlite") as step_by_step:
        fast.record_submitted_order(row(), ts_event=2.0, ts_init=2.5)
        step_by_step.record_order(row())
        step_by_step.record_transition("c1", S.INITIALIZED, S.SUBMITTED, event="OrderSubmitted", ts_event=2.0,
                                       ts_init=2.5)
        assert fast.orders() == step_by_step.orders() and fast.get("c1").status is S.SUBMITTED
        assert fast.transitions() == step_by_step.transitions()
        with pytest.raises(JournalError, match="already journaled"):  # the key refuses a second one, whole
            fast.record_submitted_order(row(), ts_event=3.0, ts_init=3.0)
        with pytest.raises(JournalError, match="only an INITIALIZED order"):
            fast.record_submitted_order(row("c2", status=S.ACCEPTED), ts_event=3.0, ts_init=3.0)
        assert len(fast.transitions()) == 2 and [o.client_order_id for o in fast.orders()] == ["c1"]


def test_a_failed_transaction_rolls_back_every_write_in_it(journal):
    with pytest.raises(RuntimeError):
        with journal.transaction():
            journal.record_order(row())
            journal.record_fill(fill())
            raise RuntimeError("crash between writes")
    assert journal.orders() == [] and journal.fills() == [] and journal.transitions() == []


def test_a_restarted_process_reads_and_continues_the_same_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    with Journal(path) as journal:
        journal.record_submitted_order(row(), ts_event=2.0, ts_init=2.0)
        journal.record_fill(fill())
    script = (
        "import sys\n"
        "from decimal import Decimal\n"
        "from execution.journal import Journal\n"
        "from execution.types import OrderStatus as S\n"
        "j = Journal(sys.argv[1])\n"
        "(o,) = j.non_terminal_orders()\n"
        "assert o.client_order_id == 'c1' and o.status is S.SUBMITTED and o.amount == Decimal('0.00012345678901234567')\n"
        "assert [f.trade_id for f in j.fills()] == ['t1']\n"
        "j.record_transition('c1', S.SUBMITTED, S.FILLED, event='OrderUpdated', ts_event=5.0, ts_init=5.0)\n"
        "j.close()\n")
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    with Journal(path) as journal:
        assert journal.non_terminal_orders() == []
        assert journal.get("c1").status is S.FILLED


def test_two_connections_see_each_others_commits(tmp_path):
    path = tmp_path / "two.sqlite"
    with Journal(path) as writer, Journal(path) as reader:
        writer.record_order(row())
        assert reader.get("c1") == row()
        # A plain sqlite3 reader also sees committed rows (WAL readers do not block the writer).
        plain = sqlite3.connect(path)
        assert plain.execute("SELECT status FROM orders").fetchone() == ("initialized",)
        plain.close()


def test_counts_match_what_was_journaled(tmp_path):
    journal = Journal(tmp_path / "j.sqlite")
    assert journal.counts() == (0, 0)
    fill = Fill("alpha", "BTC/USDT", Side.BUY, D("60000"), D("0.001"), D("0.000001"), "BTC", "t1", "cid-1", "1", 1)
    assert journal.record_fill(fill) and not journal.record_fill(fill)
    assert journal.counts() == (0, 1)


WAL_HEADER_BYTES, WAL_FRAME_HEADER_BYTES = 32, 24  # SQLite's WAL format: a header, then per page a frame header


def _wal_bytes(path) -> int:
    return os.path.getsize(f"{path}-wal")


def _submit_many(journal: Journal, start: int, count: int) -> None:
    for i in range(start, start + count):
        journal.record_submitted_order(row(f"c{i:06d}", created_ts=float(i)), ts_event=float(i), ts_init=float(i))


def test_a_journal_with_background_checkpoints_never_checkpoints_inside_a_commit(tmp_path):
    """SQLite's own checkpoint runs inside the commit that grows the WAL past 1000 pages; with background checkpoints
    no order's commit pays for one, so the WAL grows until checkpoint() runs."""
    page = 4096
    with Journal(tmp_path / "fg.sqlite") as foreground, \
            Journal(tmp_path / "bg.sqlite", checkpoint_in_background=True) as background:
        _submit_many(foreground, 0, 600)
        _submit_many(background, 0, 600)
        assert _wal_bytes(tmp_path / "fg.sqlite") <= 1100 * page  # checkpointed and started over by a commit
        assert _wal_bytes(tmp_path / "bg.sqlite") > 1100 * page  # never checkpointed by a commit


def test_checkpoint_copies_the_wal_from_another_thread_and_the_wal_starts_over(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path, checkpoint_in_background=True) as journal:
        _submit_many(journal, 0, 600)
        frames_before = (_wal_bytes(path) - WAL_HEADER_BYTES) // (WAL_FRAME_HEADER_BYTES + 4096)
        answers: list = []
        worker = threading.Thread(target=lambda: answers.append(journal.checkpoint(now=123.0)))
        worker.start()
        _submit_many(journal, 600, 50)  # the writer carries on while the checkpoint runs
        worker.join(30)
        wal_frames, copied = answers[0]
        # every frame there when it began is copied; frames the writer added meanwhile may wait for the next one
        assert copied >= frames_before > 0 and wal_frames >= copied
        wal_frames, copied = journal.checkpoint(now=124.0)
        assert wal_frames > 0 and copied == wal_frames  # the writer stopped: all of it, and the WAL starts over
        grown = _wal_bytes(path)
        _submit_many(journal, 650, 300)
        assert _wal_bytes(path) == grown  # the WAL was started over (written from its start), not appended to
        assert len(journal.orders()) == 950
        assert journal._db.execute("SELECT at FROM checkpoints").fetchone()[0] == 124.0
    with Journal(path) as reopened:  # everything is in the database file and the WAL, exactly
        assert [o.client_order_id for o in reopened.orders()] == [f"c{i:06d}" for i in range(950)]
        assert reopened.orders()[0].amount == D("0.00012345678901234567")


# --- the intent log: the write-ahead record of a new order, one append ahead of SQLite ------------------------------


def sqlite_rows(path) -> list[tuple]:
    """What SQLite itself holds, read on a connection of its own (not through the journal, which would flush)."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT client_order_id, status FROM orders ORDER BY client_order_id").fetchall()


def test_a_submitted_order_is_in_the_intent_log_first_and_in_sqlite_after_a_flush(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path, intent_log=True) as journal:
        journal.record_submitted_order(row("c1"), ts_event=2.0, ts_init=2.5)
        assert sqlite_rows(path) == []
        assert (tmp_path / "j.sqlite-intents").read_bytes().count(b"\n") == 1
        journal.flush()
        assert sqlite_rows(path) == [("c1", "submitted")]
        journal.record_submitted_order(row("c2"), ts_event=3.0, ts_init=3.0)
        # any use of the journal writes what is ahead first: a read, a transition
        assert journal.get("c2").status is S.SUBMITTED and sqlite_rows(path)[-1] == ("c2", "submitted")
        journal.record_submitted_order(row("c3"), ts_event=4.0, ts_init=4.0)
        journal.record_transition("c1", S.SUBMITTED, S.ACCEPTED, event="OrderAccepted", ts_event=5.0, ts_init=5.0)
        assert [r[0] for r in sqlite_rows(path)] == ["c1", "c2", "c3"]


def test_an_id_already_journaled_or_written_ahead_is_refused_with_nothing_written(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as plain:
        plain.record_submitted_order(row("old"), ts_event=1.0, ts_init=1.0)
    with Journal(path, intent_log=True) as journal:
        log = tmp_path / "j.sqlite-intents"
        journal.record_submitted_order(row("new"), ts_event=2.0, ts_init=2.0)
        size = log.stat().st_size
        for taken in ("old", "new"):  # in SQLite; only in the intent log
            with pytest.raises(JournalError, match=f"client order id {taken} is already journaled"):
                journal.record_submitted_order(row(taken), ts_event=3.0, ts_init=3.0)
        assert log.stat().st_size == size
        assert sorted(o.client_order_id for o in journal.orders()) == ["new", "old"]
        assert len(journal.transitions("new")) == 2


def _crash_after_writing_ahead(path, *client_order_ids, flush_first=()) -> None:
    """A process that writes orders ahead and is killed before they reach SQLite (SIGKILL: no cleanup at all)."""
    script = (
        "import os, signal, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.execution.test_journal import row\n"
        "from execution.journal import Journal\n"
        "j = Journal(sys.argv[1], intent_log=True)\n"
        f"for cid in {list(flush_first)!r}:\n"
        "    j.record_submitted_order(row(cid), ts_event=2.0, ts_init=2.5)\n"
        "j.flush()\n"
        f"for cid in {list(client_order_ids)!r}:\n"
        "    j.record_submitted_order(row(cid), ts_event=2.0, ts_init=2.5)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path), os.getcwd()], timeout=60)
    assert result.returncode == -9


def test_orders_written_ahead_by_a_killed_process_are_journaled_when_the_journal_opens_again(tmp_path, caplog):
    path = tmp_path / "j.sqlite"
    _crash_after_writing_ahead(path, "lost-1", "lost-2", flush_first=("kept",))
    assert sqlite_rows(path) == [("kept", "submitted")]
    with Journal(tmp_path / "reference.sqlite") as reference:
        for cid in ("kept", "lost-1", "lost-2"):
            reference.record_submitted_order(row(cid), ts_event=2.0, ts_init=2.5)
        expected_orders = reference.orders()
        expected_transitions = [(t.client_order_id, t.from_status, t.to_status, t.event, t.ts_event, t.ts_init)
                                for t in reference.transitions()]
    with Journal(path, intent_log=True) as journal:
        # as if they had been written to SQLite before the kill: nothing lost, nothing doubled ("kept" was both)
        assert journal.orders() == expected_orders
        assert [(t.client_order_id, t.from_status, t.to_status, t.event, t.ts_event, t.ts_init)
                for t in journal.transitions()] == expected_transitions
        assert [o.client_order_id for o in journal.non_terminal_orders()] == ["kept", "lost-1", "lost-2"]
        assert (tmp_path / "j.sqlite-intents").stat().st_size == 0  # all of it in SQLite: started over
    assert "2 order(s) written ahead but not yet in SQLite" in caplog.text and "lost-1, lost-2" in caplog.text
    with Journal(path, intent_log=True) as journal:  # and once only
        assert len(journal.orders()) == 3 and len(journal.transitions()) == 6


def test_a_record_cut_short_by_a_crash_inside_its_write_is_left_out_and_one_damaged_before_the_end_is_refused(
        tmp_path):
    path = tmp_path / "j.sqlite"
    _crash_after_writing_ahead(path, "whole")
    log = tmp_path / "j.sqlite-intents"
    whole = log.read_bytes()
    log.write_bytes(whole + whole[: len(whole) // 2])  # the next record's write cut off half way
    with Journal(path, intent_log=True) as journal:
        assert [o.client_order_id for o in journal.orders()] == ["whole"]
    log.write_bytes(whole[: len(whole) // 2] + b"\n" + whole)
    with pytest.raises(JournalError, match="line 1 is damaged"):
        Journal(path, intent_log=True)
    assert log.read_bytes() == whole[: len(whole) // 2] + b"\n" + whole  # left as it was, for a person to look at


def test_a_restarted_journal_waits_for_the_process_it_replaces_to_let_go_of_the_intent_log(tmp_path):
    path = tmp_path / "j.sqlite"
    holder = Journal(path, intent_log=True)
    with pytest.raises(JournalError, match="still held by another journal"):
        Journal(path, intent_log=True, intent_log_lock_timeout_s=0.2)
    holder.record_submitted_order(row("c1"), ts_event=2.0, ts_init=2.0)
    timer = threading.Timer(0.3, holder.close)
    timer.start()
    with Journal(path, intent_log=True, intent_log_lock_timeout_s=10) as successor:
        assert successor.get("c1").status is S.SUBMITTED
    timer.join()


def test_the_intent_log_needs_a_file_journal_with_synchronous_normal(tmp_path):
    with pytest.raises(ValueError, match="synchronous=NORMAL"):
        Journal(tmp_path / "full.sqlite", synchronous="FULL", intent_log=True)
    with pytest.raises(ValueError, match="journal file"):
        Journal(":memory:", intent_log=True)


@pytest.mark.parametrize("intent_log", [False, True])
def test_the_journal_benchmark_times_the_write_before_the_send_and_with_the_intent_log_the_commit_after(
        tmp_path, intent_log):
    from benchmarks.bench_journal_commits import run

    result = run(orders=40, rate=2000.0, background=True, intent_log=intent_log, directory=tmp_path)
    assert result["orders"] == 40 and 0 < result["before_send"]["p50_ms"] <= result["before_send"]["max_ms"]
    assert (result["after_send"] is not None) == intent_log
    with Journal(tmp_path / "journal.sqlite") as journal:
        assert journal.counts() == (40, 0)  # every order written, whichever way


def test_risk_events_are_appended_in_order_and_survive_reopening(tmp_path):
    path = tmp_path / "r.sqlite"
    with Journal(path) as journal:
        first = journal.record_risk_event("trip", ts=10.0, rule="one_legged", reason="1 one-legged outcomes",
                                          detail={"one_legged": 1, "realised": D("-0.5")}, actor="om pid 1")
        second = journal.record_risk_event("reset", ts=20.0, rule="one_legged", reason="cleared", detail={},
                                           actor="alice@desk")
        with pytest.raises(JournalError):
            journal.record_risk_event("pause", ts=30.0, rule="x", reason="x", detail={}, actor="x")
    with Journal(path) as journal:
        trip, reset = journal.risk_events()
        assert (trip.seq, reset.seq) == (first, second) and first < second
        assert (trip.kind, trip.ts, trip.rule, trip.reason, trip.actor) == ("trip", 10.0, "one_legged",
                                                                           "1 one-legged outcomes", "om pid 1")
        assert trip.detail == {"one_legged": 1, "realised": "-0.5"}  # Decimals as exact strings
        assert journal.risk_events(after_seq=first) == [reset]


def test_a_run_begun_on_a_journal_sees_only_its_own_fills(journal):
    journal.record_fill(fill("t1"))
    before = journal.begin_run("run-a", 1.0)
    assert before == journal.begin_run("run-a", 2.0)  # a restarted process of the same run: the same answer
    journal.record_fill(fill("t2"))
    assert [f.trade_id for f in journal.fills(after=before)] == ["t2"]
    later = journal.begin_run("run-b", 3.0)
    assert journal.fills(after=later) == [] and len(journal.fills()) == 2
