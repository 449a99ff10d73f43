"""Bad command lines: unknown flags, bad durations and ports, run directories that are missing, files, half-made or
damaged. Each is one line on stderr (no traceback) with its exit code; no run directory is made, nothing in the one
given changes, and nothing reaches a venue."""
from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from orchestration.cli import _COMMANDS, main
from simulator.faults import Faults
from tests.badinput.cases import Case
from tests.badinput.conftest import one_line_error, orders_everywhere

COMMANDS = list(_COMMANDS)  # as the code has them: the table follows when one is added
AREA = "Command line (`rayarb ...`; exit 2 for usage and run directories, 1 for `report`)"


def prepare(base: Path) -> None:
    """What the cases point at: a file, an empty directory, a run directory whose journal is damaged, one whose
    journal is another program's SQLite database, one whose report was never written."""
    (base / "a-file").write_text("not a run directory\n")
    (base / "empty").mkdir()
    (base / "damaged").mkdir()
    (base / "damaged" / "journal.sqlite").write_bytes(b"this is not an SQLite database")
    (base / "foreign").mkdir()
    with closing(sqlite3.connect(base / "foreign" / "journal.sqlite")) as other:
        other.execute("CREATE TABLE notes (text)")
        other.commit()
    (base / "unfinished").mkdir()
    (base / "unfinished" / "orders.csv").write_text("client_order_id\n")


# data: (argv with <D> for the test's directory, exit code)
CASES = [
    Case("unknown_flag", "`rayarb run --dry-run`",
         "rayarb: error: unrecognized arguments: --dry-run (see rayarb --help)", (["run", "--dry-run"], 2)),
    Case("unknown_command", "`rayarb trade`",
         f"rayarb: error: argument {{{','.join(COMMANDS)}}}: invalid choice: 'trade' (choose from "
         f"{', '.join(repr(c) for c in COMMANDS)}) (see rayarb --help)", (["trade"], 2)),
    Case("duration_with_unit", "`rayarb run --duration 10m`",
         "rayarb run: error: argument --duration: expected seconds, got '10m' (see rayarb run --help)",
         (["run", "--duration", "10m"], 2)),
    Case("duration_negative", "`rayarb run --duration -5`",
         "rayarb run: error: argument --duration: must be > 0 seconds, got '-5' (see rayarb run --help)",
         (["run", "--duration=-5"], 2)),
    Case("duration_nan", "`rayarb run --duration nan`",
         "rayarb run: error: argument --duration: must be > 0 seconds, got 'nan' (see rayarb run --help)",
         (["run", "--duration", "nan"], 2)),
    Case("metrics_port_out_of_range", "`rayarb run --metrics-port 70000`",
         "rayarb run: error: argument --metrics-port: must be between 0 and 65535, got 70000 (see rayarb run --help)",
         (["run", "--metrics-port", "70000"], 2)),
    Case("log_level_unknown", "`rayarb run --log-level LOUD`",
         "rayarb run: error: argument --log-level: expected one of DEBUG, INFO, WARNING, ERROR, got 'LOUD' (see "
         "rayarb run --help)", (["run", "--log-level", "LOUD"], 2)),
    Case("config_empty_name", "`rayarb run --config ''`",
         "rayarb run: error: argument --config: expected a file name, got an empty string (see rayarb run --help)",
         (["run", "--config", ""], 2)),
    Case("config_is_a_directory", "`rayarb run --config D` (a directory)",
         "rayarb run: <D>/empty: cannot read the config file (Is a directory)",
         (["run", "--config", "<D>/empty"], 2)),
    Case("run_dir_is_a_file", "`rayarb run --run-dir FILE`",
         "rayarb run: run directory <D>/a-file is a file, not a directory (--run-dir)",
         (["run", "--run-dir", "<D>/a-file", "--duration", "1"], 2)),
    Case("resume_missing", "`rayarb run --resume D` (no such directory)",
         "rayarb run: run directory <D>/gone does not exist", (["run", "--resume", "<D>/gone"], 2)),
    Case("resume_a_file", "`rayarb run --resume FILE`",
         "rayarb run: run directory <D>/a-file is a file, not a directory", (["run", "--resume", "<D>/a-file"], 2)),
    Case("resume_without_journal", "`rayarb run --resume D` (an empty directory)",
         "rayarb run: <D>/empty holds no journal (journal.sqlite): give the directory of one run, e.g. runs/<run id>",
         (["run", "--resume", "<D>/empty"], 2)),
    Case("resume_damaged_journal", "`rayarb run --resume D` (journal.sqlite is not a database)",
         "rayarb run: <D>/damaged/journal.sqlite cannot be read as a rayarb journal: file is not a database",
         (["run", "--resume", "<D>/damaged"], 2)),
    Case("resume_foreign_sqlite", "`rayarb run --resume D` (journal.sqlite is another program's database)",
         "rayarb run: <D>/foreign/journal.sqlite is not a rayarb journal (an SQLite file without its orders table)",
         (["run", "--resume", "<D>/foreign"], 2)),
    Case("risk_status_foreign_sqlite", "`rayarb risk status D` (journal.sqlite is another program's database)",
         "rayarb risk: <D>/foreign/journal.sqlite is not a rayarb journal (an SQLite file without its orders table)",
         (["risk", "status", "<D>/foreign"], 2)),
    Case("report_missing", "`rayarb report D` (no such directory)", "rayarb report: <D>/gone: no such run directory",
         (["report", "<D>/gone"], 1)),
    Case("report_a_file", "`rayarb report FILE`", "rayarb report: <D>/a-file: a file, not a run directory",
         (["report", "<D>/a-file"], 1)),
    Case("report_unfinished", "`rayarb report D` (no report.json)",
         "rayarb report: <D>/unfinished: no report.json (the run did not finish writing its report)",
         (["report", "<D>/unfinished"], 1)),
    Case("risk_status_a_file", "`rayarb risk status FILE`",
         "rayarb risk: run directory <D>/a-file is a file, not a directory", (["risk", "status", "<D>/a-file"], 2)),
    Case("sim_base_port_negative", "`rayarb sim --base-port -5`",
         "rayarb sim: error: argument --base-port: must be 0 (free ports) or a port up to 65535, got -5 (see rayarb "
         "sim --help)", (["sim", "--base-port=-5"], 2)),
    Case("sim_base_port_past_the_last", "`rayarb sim --base-port 65534` (three venues)",
         "rayarb sim: --base-port 65534: venue 3 (gamma) would listen on port 65536, past 65535",
         (["sim", "--base-port", "65534"], 2)),
    Case("sim_faults_not_json", "`rayarb sim --faults '{latency_ms: 5}'`",
         "rayarb sim: --faults: not JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
         (["sim", "--faults", "{latency_ms: 5}"], 2)),
    Case("sim_fault_unknown", "`rayarb sim --faults '{\"latency\": 5}'`",
         f"rayarb sim: unknown fault 'latency'; known: {', '.join(sorted(Faults.model_fields))}",
         (["sim", "--faults", '{"latency": 5}'], 2)),
    Case("risk_reset_damaged_journal", "`rayarb risk reset D` (journal.sqlite is not a database)",
         "rayarb risk: <D>/damaged/journal.sqlite cannot be read as a rayarb journal: file is not a database",
         (["risk", "reset", "<D>/damaged"], 2)),
]


def snapshot(base: Path) -> dict[str, str]:
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(base.rglob("*"))}


def test_the_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_bad_command_line_is_one_line_and_nothing_happens(case, venues, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a default run directory (runs/) would appear here
    prepare(tmp_path)
    before = snapshot(tmp_path)
    argv, expected_code = case.data

    code = main([arg.replace("<D>", str(tmp_path)) for arg in argv])

    assert (code, one_line_error(capsys)) == (expected_code, case.expected(D=str(tmp_path)))
    assert snapshot(tmp_path) == before  # no run directory made, no journal touched
    assert await orders_everywhere(venues) == {"alpha": [], "beta": []}
