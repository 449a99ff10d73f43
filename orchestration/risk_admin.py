"""``rayarb risk status|reset RUN_DIR``: the kill switch of a run directory's journal, for an operator.

Both read the journal (``RUN_DIR/journal.sqlite``) the way the order manager does when it starts
(``execution.risk.RiskEngine.rebuild``). ``reset`` clears a tripped switch by journaling who cleared it, when, and
what: the trip's reason, and the one-legged count and realised PnL at that moment, from which the limits count again.
A running order manager reads the reset within a second and the supervisor turns the detector back on; otherwise the
next ``rayarb run --resume RUN_DIR`` starts with the switch off. Each prints one line; a bad RUN_DIR is a
``UserError`` (one line, exit 2).
"""
from __future__ import annotations

import getpass
import json
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from orchestration.config import ConfigError

JOURNAL_FILE = "journal.sqlite"


def journal_path(run_dir: str | Path) -> Path:
    """The journal of ``run_dir``; ``ConfigError`` (one line) when there is none."""
    path = Path(run_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"run directory {run_dir} is a file, not a directory")
    if not path.is_dir():
        raise ConfigError(f"run directory {run_dir} does not exist")
    journal = path / JOURNAL_FILE
    if not journal.is_file():
        raise ConfigError(f"{run_dir} holds no journal ({JOURNAL_FILE}): give the directory of one run, "
                          f"e.g. runs/<run id>")
    return journal


def _check_is_a_journal(path: Path) -> None:
    """Read-only: an SQLite file of another program is refused before ``Journal`` would add rayarb's tables to it."""
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        raise ConfigError(f"{path} cannot be read as a rayarb journal: {exc}") from None
    if "orders" not in tables:
        raise ConfigError(f"{path} is not a rayarb journal (an SQLite file without its orders table)")


def _engine(run_dir: str | Path) -> tuple[Any, Any]:
    from execution.journal import Journal, JournalError
    from execution.risk import RiskEngine

    path = journal_path(run_dir)
    _check_is_a_journal(path)
    try:
        journal = Journal(path)
        try:
            return journal, RiskEngine.rebuild(journal, None)
        except BaseException:
            journal.close()
            raise
    except (sqlite3.Error, JournalError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path} cannot be read as a rayarb journal: {exc}") from None


def resumable_run_dir(run_dir: str | Path) -> Path:
    """The directory of a run whose journal reads as one (``run --resume``); ``ConfigError`` (one line) otherwise, so a
    damaged journal stops the run before anything is started."""
    journal, _engine_ = _engine(run_dir)
    journal.close()
    return journal_path(run_dir).parent


def _figures(status: dict[str, Any]) -> str:
    outcomes = ", ".join(f"{name} {count}" for name, count in sorted(status["outcomes"].items())) or "none"
    realised = ", ".join(f"{value} {quote}" for quote, value in sorted(status["realised_profit"].items())) or "0"
    exposure = ", ".join(f"{symbol} {value}" for symbol, value in sorted(status["open_exposure"].items())) or "none"
    return (f"{status['opportunities_taken']} opportunities taken ({outcomes}); one-legged since the last reset "
            f"{status['one_legged_since_reset']}; realised PnL {realised}; open exposure {exposure}")


def risk_status(run_dir: str | Path, *, as_json: bool = False) -> str:
    from execution.risk import format_time

    journal, engine = _engine(run_dir)
    try:
        status = engine.status()
    finally:
        journal.close()
    if as_json:
        return json.dumps(status, sort_keys=True)
    trip = status["trip"]
    if trip is None:
        state = "kill switch off: trading allowed"
        if status["last_reset"] is not None:
            state += f" (reset {format_time(status['last_reset']['at'])} by {status['last_reset']['by']})"
    else:
        state = (f"kill switch TRIPPED ({trip['rule']}) {format_time(trip['at'])} by {trip['by']}: {trip['reason']}; "
                 f"no opportunity is taken until `rayarb risk reset {run_dir}`")
    return f"{state}; {_figures(status)}"


def default_operator() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def risk_reset(run_dir: str | Path, *, by: str | None = None) -> str:
    journal, engine = _engine(run_dir)
    try:
        if engine.trip is None:
            return f"kill switch of {run_dir} is not tripped: nothing to clear"
        who = by or default_operator()
        fields = engine.reset_fields(who)
        journal.record_risk_event("reset", **fields)
    finally:
        journal.close()
    detail = fields["detail"]
    return (f"kill switch cleared by {who}: it was tripped ({fields['rule']}) because '{detail['cleared_reason']}'; "
            f"the {detail['one_legged_before_reset']} one-legged outcomes and realised PnL "
            f"{detail['realised_before_reset']} counted until now no longer count towards the limits "
            f"(journaled in {journal_path(run_dir)})")
