"""The write-ahead journal of orders, their transitions and their fills, in SQLite (WAL mode).

An order is written here before it is sent, and every transition after; fills are written once per
(exchange, symbol, trade_id) — a repeated trade is ignored and reported as a duplicate. After a crash the same file is
opened again and ``non_terminal_orders()`` lists what must be reconciled with the venues by client order id.
``orders()``, ``transitions()`` and ``fills()`` feed reports and the position tracker's rebuild.

Decimals are stored as TEXT (``str(Decimal)``) so they come back exactly. One connection, one lock; writes made inside
``with journal.transaction():`` share one commit (the hot path writes an order and its first two transitions so).

Checkpoints (copying the WAL into the database file, with fsyncs) are SQLite's slow writes: by default the commit
that grows the WAL past 1 000 pages does it, 15-19 ms here, every ~270 orders; and the first commit after a complete
checkpoint, which starts the WAL over, syncs its header. A journal opened with ``checkpoint_in_background=True``
leaves both to ``checkpoint()``, on a connection of its own, so its caller can run them on another thread; the WAL is
still checkpointed by a commit if it grows past ``BACKGROUND_CHECKPOINT_SAFETY_PAGES`` (the background stopped).

A journal opened with ``intent_log=True`` keeps the hot path's write-ahead record out of SQLite:
``record_submitted_order`` appends the new order to an ``IntentLog`` (one ``write``, as durable as a commit under
``synchronous=NORMAL``) and the row reaches SQLite at the next ``flush()`` or use of the journal, whichever comes
first. Opening the journal writes to SQLite whatever the log holds that SQLite does not.

Why one module of ~570 lines: one connection and one lock serve every table, and the writes, the reads and the
replay of the intent log all go through them; the intent log's own file format is ``intent_log.py``.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Iterator

from execution.intent_log import IntentLog, IntentLogError
from execution.types import Fill, OrderStatus, OrderType, Side, TimeInForce

logger = logging.getLogger(__name__)

BACKGROUND_CHECKPOINT_SAFETY_PAGES = 100_000  # ~400 MB of WAL: only if background checkpoints stopped
INTENT_LOG_RESET_BYTES = 1 << 20  # the intent log starts over once it is this long and all of it is in SQLite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    client_order_id   TEXT PRIMARY KEY,
    exchange          TEXT NOT NULL,
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL,
    order_type        TEXT NOT NULL,
    time_in_force     TEXT NOT NULL,
    amount            TEXT NOT NULL,
    price             TEXT,
    status            TEXT NOT NULL,
    exchange_order_id TEXT,
    opportunity_id    TEXT,
    filled            TEXT NOT NULL DEFAULT '0',
    not_found_count   INTEGER NOT NULL DEFAULT 0,
    reason            TEXT,
    created_ts        REAL NOT NULL,
    updated_ts        REAL NOT NULL
) WITHOUT ROWID;
-- No index on orders.status: start-up reconciliation scans once, while an index would cost a page write per commit.
CREATE TABLE IF NOT EXISTS transitions (
    seq             INTEGER PRIMARY KEY,  -- append-only: rowids grow without AUTOINCREMENT's extra table write
    client_order_id TEXT NOT NULL,
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    event           TEXT NOT NULL,
    ts_event        REAL NOT NULL,
    ts_init         REAL NOT NULL,
    reason          TEXT
);
CREATE INDEX IF NOT EXISTS transitions_by_order ON transitions(client_order_id);
CREATE TABLE IF NOT EXISTS fills (
    exchange          TEXT NOT NULL,
    symbol            TEXT NOT NULL,
    trade_id          TEXT NOT NULL,
    client_order_id   TEXT NOT NULL,
    exchange_order_id TEXT,
    side              TEXT NOT NULL,
    price             TEXT NOT NULL,
    amount            TEXT NOT NULL,
    fee               TEXT NOT NULL,
    fee_asset         TEXT NOT NULL,
    ts_ms             INTEGER NOT NULL,
    UNIQUE (exchange, symbol, trade_id)
);
CREATE INDEX IF NOT EXISTS fills_by_order ON fills(client_order_id);
-- The risk engine's kill switch (execution/risk.py): every trip and every operator reset, append-only. The switch's
-- state is the last row; the engine is rebuilt from this table, the orders and the fills whenever it starts.
CREATE TABLE IF NOT EXISTS risk_events (
    seq    INTEGER PRIMARY KEY,
    kind   TEXT NOT NULL,  -- 'trip' or 'reset'
    ts     REAL NOT NULL,
    rule   TEXT NOT NULL,  -- what tripped it ('one_legged', 'loss_limit'); for a reset, the rule it cleared
    reason TEXT NOT NULL,  -- one line for people
    detail TEXT NOT NULL,  -- JSON: the figures behind it (counts, limits, opportunities; a reset's baselines)
    actor  TEXT NOT NULL   -- who: the order manager's process, or the operator (user@host) for a reset
);
-- One row per `rayarb run` that wrote to this journal (a --resume adds one): the fills journaled before it began
-- belong to earlier runs, whose balances are in this run's baseline already.
CREATE TABLE IF NOT EXISTS runs (
    run_id           TEXT PRIMARY KEY,
    started_ts       REAL NOT NULL,
    fills_before     INTEGER NOT NULL  -- the largest fills rowid when the run began
);
-- Written by Journal.checkpoint() after each complete checkpoint (see there).
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
"""


class JournalError(RuntimeError):
    """The journal cannot record what it was asked to: unknown order, a transition from a state it is not in."""


@dataclass(frozen=True, slots=True)
class JournaledOrder:
    """One row of the orders table: an order as last journaled."""

    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    amount: Decimal
    price: Decimal | None
    status: OrderStatus
    exchange_order_id: str | None
    opportunity_id: str | None
    filled: Decimal
    not_found_count: int
    reason: str | None
    created_ts: float
    updated_ts: float


@dataclass(frozen=True, slots=True)
class JournaledTransition:
    """One row of the append-only transitions table. ``from_status`` is None for the order's first row."""

    seq: int
    client_order_id: str
    from_status: OrderStatus | None
    to_status: OrderStatus
    event: str
    ts_event: float
    ts_init: float
    reason: str | None


@dataclass(frozen=True, slots=True)
class JournaledRiskEvent:
    """One row of the append-only risk_events table: a kill-switch trip or an operator's reset."""

    seq: int
    kind: str
    ts: float
    rule: str
    reason: str
    detail: dict[str, Any]
    actor: str


RISK_EVENT_KINDS = ("trip", "reset")


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


class Journal:
    """SQLite write-ahead journal. Safe to reopen from a restarted process on the same file."""

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", busy_timeout_ms: int = 5000,
                 checkpoint_in_background: bool = False, intent_log: bool = False,
                 intent_log_lock_timeout_s: float = 10.0):
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = os.fspath(path)
        if intent_log and (self.path == ":memory:" or synchronous.upper() != "NORMAL"):
            raise ValueError("intent_log needs a journal file with synchronous=NORMAL (an append is not fsynced)")
        self._lock = threading.RLock()
        self._depth = 0
        # isolation_level=None: no implicit transactions; BEGIN/COMMIT are ours. check_same_thread=False + the lock:
        # an actor may call from its asyncio thread and from a thread pool.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal" and self.path != ":memory:":
            raise JournalError(f"journal {self.path}: SQLite refused WAL mode (got {mode})")
        # WAL + synchronous=NORMAL: a commit is in the WAL file (written by the OS) before it returns, so it survives a
        # crash or kill of this process — the failure that matters between "journaled" and "sent". Only an OS crash or
        # power loss can drop the last commits; FULL would fsync on every commit, costing ~1-10 ms on the hot path
        # per order. After such a loss, reconciliation against the venue (our client-order-id prefix) finds the order.
        # Pass synchronous="FULL" where that trade-off is wrong (e.g. large sizes on real venues).
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        if checkpoint_in_background:  # else SQLite's own: a commit checkpoints past 1 000 pages
            self._db.execute(f"PRAGMA wal_autocheckpoint={BACKGROUND_CHECKPOINT_SAFETY_PAGES}")
        self._db.executescript(_SCHEMA)
        self._busy_timeout_ms = busy_timeout_ms
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_lock = threading.Lock()
        # orders appended to the intent log and not yet in SQLite: client order id -> (order, ts_event, ts_init)
        self._pending: dict[str, tuple[JournaledOrder, float, float]] = {}
        self._intents: IntentLog | None = None
        if intent_log:
            try:
                self._intents = IntentLog(f"{self.path}-intents", lock_timeout_s=intent_log_lock_timeout_s)
                self._write_intents_left_behind()
            except (IntentLogError, OSError) as exc:
                self.close()
                raise JournalError(str(exc)) from None

    def _write_intents_left_behind(self) -> None:
        assert self._intents is not None
        records = self._intents.records()
        with self.transaction():
            missing = [(order, ts_event, ts_init) for order, ts_event, ts_init in map(_order_from_intent, records)
                       if not self._in_sqlite(order.client_order_id)]
            for order, ts_event, ts_init in missing:
                self._insert_submitted(order, ts_event, ts_init)
        if missing:
            logger.warning("journal %s: %d order(s) written ahead but not yet in SQLite when the last process "
                           "stopped, now journaled: %s", self.path, len(missing),
                           ", ".join(order.client_order_id for order, _, _ in missing))
        self._intents.reset()

    # --- transactions ------------------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one commit. Nested uses join the outer transaction."""
        with self._lock:
            if self._depth == 0:
                self._flush_locked()
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def checkpoint(self, now: float | None = None) -> tuple[int, int]:
        """Copy what the WAL holds into the database file (PASSIVE: never waits for, nor blocks, a writer), then, when
        all of it was copied, start the WAL over with one small write here, so that the header sync falls on this
        connection and not on the next order's commit. Runs on its own connection: call it from any thread but the
        writer's. Returns (frames the WAL held, frames copied)."""
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                self._checkpointer.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            db = self._checkpointer
            _busy, wal_frames, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if wal_frames > 0 and copied == wal_frames:
                db.execute("INSERT OR REPLACE INTO checkpoints (id, at) VALUES (1, ?)",
                           (time.time() if now is None else now,))
            return wal_frames, copied

    def flush(self) -> None:
        """Write the orders the intent log holds ahead of SQLite into SQLite, in one commit (nothing to do without the
        intent log). Every other use of the journal does this first."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._pending or self._depth:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for order, ts_event, ts_init in self._pending.values():
                self._insert_submitted(order, ts_event, ts_init)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self._pending.clear()
        if self._intents is not None and self._intents.size() >= INTENT_LOG_RESET_BYTES:
            self._intents.reset()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            self._flush_locked()
            yield

    def close(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        with self._lock:
            try:
                self._flush_locked()  # if this fails, the intent log still holds them for the next opening
            finally:
                if self._intents is not None:
                    self._intents.close()
                self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes ------------------------------------------------------------------------------------------------

    def record_order(self, order: JournaledOrder, *, event: str = "OrderInitialized", ts_event: float | None = None,
                     ts_init: float | None = None) -> None:
        """Insert a new order row in its current status (normally INITIALIZED) and its first transition."""
        with self.transaction():
            self._insert_order(order, order.status, order.updated_ts)
            self._append_transition(order.client_order_id, None, order.status, event,
                                    order.created_ts if ts_event is None else ts_event,
                                    order.created_ts if ts_init is None else ts_init, order.reason)

    def _insert_order(self, order: JournaledOrder, status: OrderStatus, updated_ts: float) -> None:
        try:
            self._db.execute(
                "INSERT INTO orders (client_order_id, exchange, symbol, side, order_type, time_in_force, amount, "
                "price, status, exchange_order_id, opportunity_id, filled, not_found_count, reason, created_ts, "
                "updated_ts) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (order.client_order_id, order.exchange, order.symbol, order.side.value, order.order_type.value,
                 order.time_in_force.value, str(order.amount), None if order.price is None else str(order.price),
                 status.value, order.exchange_order_id, order.opportunity_id, str(order.filled),
                 order.not_found_count, order.reason, order.created_ts, updated_ts))
        except sqlite3.IntegrityError as error:
            raise JournalError(f"client order id {order.client_order_id} is already journaled") from error

    def record_transition(self, client_order_id: str, from_status: OrderStatus, to_status: OrderStatus, *,
                          event: str, ts_event: float, ts_init: float, exchange_order_id: str | None = None,
                          filled: Decimal | None = None, reason: str | None = None,
                          not_found_count: int | None = None) -> None:
        """Move the order row ``from_status`` -> ``to_status`` and append the transition.

        Raises ``JournalError`` when the row is not in ``from_status`` (another writer moved it, or it is unknown).
        Fields given as None keep their journaled values.
        """
        with self.transaction():
            cursor = self._db.execute(
                "UPDATE orders SET status=?, exchange_order_id=COALESCE(?, exchange_order_id), "
                "filled=COALESCE(?, filled), reason=COALESCE(?, reason), "
                "not_found_count=COALESCE(?, not_found_count), updated_ts=? WHERE client_order_id=? AND status=?",
                (to_status.value, exchange_order_id, None if filled is None else str(filled), reason,
                 not_found_count, ts_init, client_order_id, from_status.value))
            if cursor.rowcount != 1:
                current = self.get(client_order_id)
                raise JournalError(f"order {client_order_id}: cannot journal {from_status.value} -> {to_status.value}, "
                                   f"journal has {None if current is None else current.status.value}")
            self._append_transition(client_order_id, from_status, to_status, event, ts_event, ts_init, reason)

    def record_submitted_order(self, order: JournaledOrder, *, ts_event: float, ts_init: float) -> None:
        """The hot path: a new INITIALIZED order, journaled as SUBMITTED with both transitions (the row and the
        transitions as ``record_order`` then ``record_transition`` would leave them), in one commit, or with the intent
        log in one append there (SQLite gets them at the next ``flush()``). Durable when this returns: call before
        sending. ``JournalError`` when its client order id is journaled already: nothing is written."""
        if order.status is not OrderStatus.INITIALIZED:
            raise JournalError(f"order {order.client_order_id}: only an INITIALIZED order is submitted, "
                               f"not a {order.status.value} one")
        if self._intents is None:
            with self.transaction():
                self._insert_submitted(order, ts_event, ts_init)
            return
        cid = order.client_order_id
        with self._lock:
            if cid in self._pending or self._in_sqlite(cid):
                raise JournalError(f"client order id {cid} is already journaled")
            self._intents.append(_intent_from_order(order, ts_event, ts_init))
            self._pending[cid] = (order, ts_event, ts_init)

    def _in_sqlite(self, client_order_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM orders WHERE client_order_id=?", (client_order_id,)).fetchone()
        return row is not None

    def _insert_submitted(self, order: JournaledOrder, ts_event: float, ts_init: float) -> None:
        self._insert_order(order, OrderStatus.SUBMITTED, ts_init)
        self._db.execute(
            "INSERT INTO transitions (client_order_id, from_status, to_status, event, ts_event, ts_init, reason) "
            "VALUES (?,NULL,?,'OrderInitialized',?,?,?), (?,?,?,'OrderSubmitted',?,?,NULL)",
            (order.client_order_id, OrderStatus.INITIALIZED.value, order.created_ts, order.created_ts, order.reason,
             order.client_order_id, OrderStatus.INITIALIZED.value, OrderStatus.SUBMITTED.value, ts_event, ts_init))

    def record_not_found(self, client_order_id: str, count: int, ts: float) -> None:
        """Remember how many lookups in a row did not find the order (the lost-order quarantine survives restarts)."""
        with self.transaction():
            self._db.execute("UPDATE orders SET not_found_count=?, updated_ts=? WHERE client_order_id=?",
                             (count, ts, client_order_id))

    def record_fill(self, fill: Fill) -> bool:
        """Journal a fill; False (and nothing written) when (exchange, symbol, trade_id) is already journaled."""
        with self.transaction():
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO fills (exchange, symbol, trade_id, client_order_id, exchange_order_id, side, "
                "price, amount, fee, fee_asset, ts_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (fill.exchange, fill.symbol, fill.trade_id, fill.client_order_id, fill.exchange_order_id,
                 fill.side.value, str(fill.price), str(fill.amount), str(fill.fee), fill.fee_asset, fill.ts_ms))
            is_new = cursor.rowcount == 1
        if not is_new:
            logger.info("duplicate fill ignored", extra={"exchange": fill.exchange, "symbol": fill.symbol,
                                                         "trade_id": fill.trade_id,
                                                         "client_order_id": fill.client_order_id})
        return is_new

    def record_fills(self, fills: Iterable[Fill]) -> list[bool]:
        """``record_fill`` for each, in one commit; the list says which were new."""
        with self.transaction():
            return [self.record_fill(fill) for fill in fills]

    def record_risk_event(self, kind: str, *, ts: float, rule: str, reason: str, detail: dict[str, Any],
                          actor: str) -> int:
        """Append a kill-switch trip or reset in one commit (durable when this returns, like an order's commit);
        returns its sequence number. ``detail`` must be JSON (Decimals as strings)."""
        if kind not in RISK_EVENT_KINDS:
            raise JournalError(f"risk event kind must be one of {RISK_EVENT_KINDS}, got {kind!r}")
        text = json.dumps(detail, sort_keys=True, default=str)
        with self.transaction():
            cursor = self._db.execute("INSERT INTO risk_events (kind, ts, rule, reason, detail, actor) "
                                      "VALUES (?,?,?,?,?,?)", (kind, ts, rule, reason, text, actor))
            return int(cursor.lastrowid)

    def risk_events(self, after_seq: int = 0) -> list[JournaledRiskEvent]:
        """Trips and resets in the order they were journaled (only those after ``after_seq``)."""
        with self._reading():
            rows = self._db.execute("SELECT seq, kind, ts, rule, reason, detail, actor FROM risk_events WHERE seq > ? "
                                    "ORDER BY seq", (after_seq,)).fetchall()
        return [JournaledRiskEvent(seq=r[0], kind=r[1], ts=r[2], rule=r[3], reason=r[4], detail=json.loads(r[5]),
                                   actor=r[6]) for r in rows]

    def _append_transition(self, client_order_id: str, from_status: OrderStatus | None, to_status: OrderStatus,
                           event: str, ts_event: float, ts_init: float, reason: str | None) -> None:
        self._db.execute(
            "INSERT INTO transitions (client_order_id, from_status, to_status, event, ts_event, ts_init, reason) "
            "VALUES (?,?,?,?,?,?,?)",
            (client_order_id, None if from_status is None else from_status.value, to_status.value, event, ts_event,
             ts_init, reason))

    # --- reads -------------------------------------------------------------------------------------------------

    _ORDER_COLUMNS = ("client_order_id, exchange, symbol, side, order_type, time_in_force, amount, price, status, "
                      "exchange_order_id, opportunity_id, filled, not_found_count, reason, created_ts, updated_ts")

    @staticmethod
    def _order(row: tuple) -> JournaledOrder:
        return JournaledOrder(
            client_order_id=row[0], exchange=row[1], symbol=row[2], side=Side(row[3]), order_type=OrderType(row[4]),
            time_in_force=TimeInForce(row[5]), amount=Decimal(row[6]), price=_dec(row[7]), status=OrderStatus(row[8]),
            exchange_order_id=row[9], opportunity_id=row[10], filled=Decimal(row[11]), not_found_count=row[12],
            reason=row[13], created_ts=row[14], updated_ts=row[15])

    def get(self, client_order_id: str) -> JournaledOrder | None:
        with self._reading():
            row = self._db.execute(f"SELECT {self._ORDER_COLUMNS} FROM orders WHERE client_order_id=?",
                                   (client_order_id,)).fetchone()
        return None if row is None else self._order(row)

    def orders(self, *, exchange: str | None = None, status: OrderStatus | None = None) -> list[JournaledOrder]:
        """Orders in creation order, optionally of one exchange and/or one status."""
        clauses, params = [], []
        if exchange is not None:
            clauses.append("exchange=?")
            params.append(exchange)
        if status is not None:
            clauses.append("status=?")
            params.append(status.value)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading():
            rows = self._db.execute(f"SELECT {self._ORDER_COLUMNS} FROM orders{where} ORDER BY created_ts, "
                                    f"client_order_id", params).fetchall()
        return [self._order(row) for row in rows]

    def non_terminal_orders(self, exchange: str | None = None) -> list[JournaledOrder]:
        """Orders whose fate is not settled: what start-up reconciliation must resolve with the venues."""
        # The terminal set is defined with the transition table; imported here to keep the import graph acyclic.
        from execution.orders.lifecycle import TERMINAL

        terminal = sorted(status.value for status in TERMINAL)
        marks = ",".join("?" * len(terminal))
        params: list[object] = list(terminal)
        where = f"status NOT IN ({marks})"
        if exchange is not None:
            where += " AND exchange=?"
            params.append(exchange)
        with self._reading():
            rows = self._db.execute(f"SELECT {self._ORDER_COLUMNS} FROM orders WHERE {where} ORDER BY created_ts, "
                                    f"client_order_id", params).fetchall()
        return [self._order(row) for row in rows]

    def transitions(self, client_order_id: str | None = None) -> list[JournaledTransition]:
        where, params = ("WHERE client_order_id=?", (client_order_id,)) if client_order_id is not None else ("", ())
        with self._reading():
            rows = self._db.execute(f"SELECT seq, client_order_id, from_status, to_status, event, ts_event, ts_init, "
                                    f"reason FROM transitions {where} ORDER BY seq", params).fetchall()
        return [JournaledTransition(seq=r[0], client_order_id=r[1],
                                    from_status=None if r[2] is None else OrderStatus(r[2]),
                                    to_status=OrderStatus(r[3]), event=r[4], ts_event=r[5], ts_init=r[6], reason=r[7])
                for r in rows]

    def begin_run(self, run_id: str, ts: float) -> int:
        """Note that run ``run_id`` writes to this journal (idempotent: a restarted process of the same run gets the
        first answer); returns the fills rowid before which fills belong to earlier runs (``fills(after=...)``)."""
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO runs (run_id, started_ts, fills_before) "
                             "VALUES (?, ?, (SELECT COALESCE(MAX(rowid), 0) FROM fills))", (run_id, ts))
            return int(self._db.execute("SELECT fills_before FROM runs WHERE run_id=?", (run_id,)).fetchone()[0])

    def fills(self, *, exchange: str | None = None, client_order_id: str | None = None,
              after: int = 0) -> list[Fill]:
        """Fills in journal order, optionally of one exchange and/or one order, and only those journaled after the
        fills rowid ``after`` (``begin_run``)."""
        clauses, params = [], []
        if after:
            clauses.append("rowid > ?")
            params.append(after)
        if exchange is not None:
            clauses.append("exchange=?")
            params.append(exchange)
        if client_order_id is not None:
            clauses.append("client_order_id=?")
            params.append(client_order_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading():
            rows = self._db.execute(
                f"SELECT exchange, symbol, side, price, amount, fee, fee_asset, trade_id, client_order_id, "
                f"exchange_order_id, ts_ms FROM fills{where} ORDER BY rowid", params).fetchall()
        return [Fill(exchange=r[0], symbol=r[1], side=Side(r[2]), price=Decimal(r[3]), amount=Decimal(r[4]),
                     fee=Decimal(r[5]), fee_asset=r[6], trade_id=r[7], client_order_id=r[8], exchange_order_id=r[9],
                     ts_ms=r[10]) for r in rows]

    def counts(self) -> tuple[int, int]:
        """(orders, fills) journaled, without reading them."""
        with self._reading():
            orders = self._db.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
            fills = self._db.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        return orders, fills

    def has_fill(self, exchange: str, symbol: str, trade_id: str) -> bool:
        with self._reading():
            row = self._db.execute("SELECT 1 FROM fills WHERE exchange=? AND symbol=? AND trade_id=?",
                                   (exchange, symbol, trade_id)).fetchone()
        return row is not None


def _intent_from_order(order: JournaledOrder, ts_event: float, ts_init: float) -> list[Any]:
    """An order about to be submitted as an intent log record (Decimals as exact strings)."""
    return ["submitted", order.client_order_id, order.exchange, order.symbol, order.side.value,
            order.order_type.value, order.time_in_force.value, str(order.amount),
            None if order.price is None else str(order.price), order.opportunity_id, order.reason, order.created_ts,
            ts_event, ts_init]


def _order_from_intent(record: list[Any]) -> tuple[JournaledOrder, float, float]:
    try:
        (kind, cid, exchange, symbol, side, order_type, time_in_force, amount, price, opportunity_id, reason,
         created_ts, ts_event, ts_init) = record
        if kind != "submitted":
            raise ValueError(f"unknown record kind {kind!r}")
        order = JournaledOrder(
            client_order_id=cid, exchange=exchange, symbol=symbol, side=Side(side), order_type=OrderType(order_type),
            time_in_force=TimeInForce(time_in_force), amount=Decimal(amount), price=_dec(price),
            status=OrderStatus.INITIALIZED, exchange_order_id=None, opportunity_id=opportunity_id,
            filled=Decimal(0), not_found_count=0, reason=reason, created_ts=created_ts, updated_ts=created_ts)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise IntentLogError(f"intent log record cannot be read: {exc}") from None
    return order, ts_event, ts_init
