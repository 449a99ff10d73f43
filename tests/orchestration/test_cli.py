"""The `rayarb` CLI: one-line errors without tracebacks, the `run` handover, `report` on a written run directory, and
`sim` delegated to simulator.cli."""
from __future__ import annotations

import importlib.machinery
import re
import subprocess
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from orchestration.cli import main
from orchestration.config import Mode, RunOptions
from orchestration.report import write_run_report

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"
EXAMPLE_ENV = {f"RAYARB_{name}_{part}": f"test-{name.lower()}-{part.lower()}"
               for name in ("ALPHA", "BETA", "GAMMA") for part in ("API_KEY", "SECRET")}
REAL = {
    "venues": {
        "binance": {"exchange": "binance", "api_key_env": "T_CLI_BINANCE_KEY", "secret_env": "T_CLI_BINANCE_SECRET"},
        "okx": {"exchange": "okx", "api_key_env": "T_CLI_OKX_KEY", "secret_env": "T_CLI_OKX_SECRET",
                "passphrase_env": "T_CLI_OKX_PASSPHRASE"},
    },
    "symbols": ["BTC/USDT"],
}


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO) ")


def one_line_error(capsys) -> str:
    """The one line an operator's mistake prints (the run's own progress lines, if it got that far, aside)."""
    captured = capsys.readouterr()
    lines = [line for line in captured.err.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    return lines[0]


@pytest.fixture
def fake_main_job(monkeypatch):
    """Record the RunOptions `rayarb run` hands to orchestration.main_job.run_main_job (the lead's module)."""
    received: list[RunOptions] = []
    module = types.ModuleType("orchestration.main_job")
    module.__spec__ = importlib.machinery.ModuleSpec("orchestration.main_job", None)

    def run_main_job(options: RunOptions) -> int:
        received.append(options)
        return 0

    module.run_main_job = run_main_job
    monkeypatch.setitem(sys.modules, "orchestration.main_job", module)
    return received


@pytest.fixture
def example_env(monkeypatch):
    for name, value in EXAMPLE_ENV.items():
        monkeypatch.setenv(name, value)


def write_config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "rayarb.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert one_line_error(capsys).startswith("rayarb: error: the following arguments are required")


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "{sim,run,report,risk,chaos}" in capsys.readouterr().out
    assert main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--config", "--address", "--duration", "--metrics-port", "--run-dir", "--live"):
        assert option in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--duration", "soon"], "rayarb run: error: argument --duration: expected seconds, got 'soon'"),
        (["run", "--duration", "0"], "rayarb run: error: argument --duration: must be > 0 seconds"),
        (["run", "--metrics-port", "99999"], "rayarb run: error: argument --metrics-port: must be between 0 and 65535"),
        (["run", "--bogus"], "rayarb: error: unrecognized arguments: --bogus"),
        (["report"], "rayarb report: error: the following arguments are required: RUN_DIR"),
        (["launch"], "rayarb: error: argument {sim,run,report,risk,chaos}: invalid choice: 'launch'"),
    ],
)
def test_argument_errors_are_one_line_with_code_2(capsys, argv, expected):
    assert main(argv) == 2
    assert one_line_error(capsys).startswith(expected)


def test_run_with_a_missing_config_file(capsys, tmp_path):
    assert main(["run", "--config", str(tmp_path / "absent.yaml")]) == 2
    assert one_line_error(capsys) == (f"rayarb run: {tmp_path / 'absent.yaml'}: cannot read the config file "
                                      "(No such file or directory)")


def test_run_with_a_bad_key_names_its_path(capsys, tmp_path, example_env):
    data = yaml.safe_load(EXAMPLE.read_text())
    data["venues"]["alpha"]["ap_key"] = "oops"
    path = write_config(tmp_path, data)
    assert main(["run", "--config", str(path)]) == 2
    assert one_line_error(capsys).startswith(f"rayarb run: {path}: venues.alpha.ap_key: unknown key")


def test_run_local_sim_without_keys_names_the_missing_variable(capsys, monkeypatch, fake_main_job):
    for name in EXAMPLE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAYARB_ALPHA_API_KEY", "k")
    monkeypatch.setenv("RAYARB_ALPHA_SECRET", "s")
    monkeypatch.setenv("RAYARB_BETA_API_KEY", "k")
    monkeypatch.setenv("RAYARB_BETA_SECRET", "s")
    monkeypatch.setenv("RAYARB_GAMMA_SECRET", "s")
    assert main(["run", "--config", str(EXAMPLE)]) == 2
    assert one_line_error(capsys) == (f"rayarb run: {EXAMPLE}: venues.gamma.api_key_env: environment variable "
                                      "RAYARB_GAMMA_API_KEY is not set")
    assert fake_main_job == []


def test_live_without_keys_refuses_to_start(capsys, monkeypatch, tmp_path, fake_main_job):
    for name in ("T_CLI_BINANCE_KEY", "T_CLI_BINANCE_SECRET", "T_CLI_OKX_KEY", "T_CLI_OKX_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("T_CLI_BINANCE_KEY", "real-looking-key")
    monkeypatch.setenv("T_CLI_BINANCE_SECRET", "real-looking-secret")
    monkeypatch.setenv("T_CLI_OKX_SECRET", "okx-secret-value")
    monkeypatch.setenv("T_CLI_OKX_PASSPHRASE", "okx-passphrase-value")
    path = write_config(tmp_path, REAL)
    assert main(["run", "--config", str(path), "--live"]) == 2
    line = one_line_error(capsys)
    assert line == f"rayarb run: {path}: venues.okx.api_key_env: environment variable T_CLI_OKX_KEY is not set"
    assert fake_main_job == []


def test_live_with_local_venues_is_refused(capsys, example_env, fake_main_job):
    assert main(["run", "--config", str(EXAMPLE), "--live"]) == 2
    assert "--live sends real orders to real exchanges" in one_line_error(capsys)
    assert fake_main_job == []


def test_run_hands_validated_options_to_the_main_job(example_env, fake_main_job, tmp_path):
    argv = ["run", "--config", str(EXAMPLE), "--address", "auto", "--duration", "2.5", "--metrics-port", "0",
            "--run-dir", str(tmp_path / "r")]
    assert main(argv) == 0
    (options,) = fake_main_job
    assert options.mode is Mode.LOCAL_SIM and not options.live
    assert options.address == "auto" and options.duration_s == 2.5 and options.metrics_port == 0
    assert options.run_dir == tmp_path / "r" and options.config.run.run_dir == str(tmp_path / "r")
    assert options.config.venue_names == ("alpha", "beta", "gamma")
    assert options.credentials["gamma"].api_key == "test-gamma-api_key"
    assert "test-gamma" not in repr(options)


def test_paper_run_on_real_exchanges_needs_no_keys(monkeypatch, tmp_path, fake_main_job):
    for name in ("T_CLI_BINANCE_KEY", "T_CLI_BINANCE_SECRET", "T_CLI_OKX_KEY", "T_CLI_OKX_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["run", "--config", str(write_config(tmp_path, REAL))]) == 0
    (options,) = fake_main_job
    assert options.mode is Mode.PAPER and options.credentials == {}


def test_no_config_run_is_local_sim(fake_main_job):
    assert main(["run", "--duration", "1"]) == 0
    (options,) = fake_main_job
    assert options.config is None and options.mode is Mode.LOCAL_SIM and options.duration_s == 1.0


def test_run_exit_code_comes_from_the_main_job(example_env, fake_main_job, monkeypatch, capsys):
    def interrupted(options):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["orchestration.main_job"], "run_main_job", interrupted)
    assert main(["run", "--config", str(EXAMPLE)]) == 130
    assert one_line_error(capsys) == "rayarb run: interrupted"


def test_report_prints_tables_of_a_written_run(capsys, tmp_path):
    run_dir = tmp_path / "run"
    write_run_report(
        run_dir,
        summary={"mode": "local-sim", "duration_s": 3.0, "pnl": {"alpha": Decimal("1.10"), "beta": "-0.35"},
                 "pnl_currency": "USDT", "opportunities_detected": 4, "opportunities_taken": 2,
                 "tick_to_order_s": [0.002, 0.004]},
        orders=[{"client_order_id": "c1", "exchange": "alpha", "symbol": "BTC/USDT", "side": "buy",
                 "status": "filled", "amount": Decimal("0.010"), "price": Decimal("100.5"), "filled": Decimal("0.010")}],
        fills=[{"ts_ms": 1, "exchange": "alpha", "symbol": "BTC/USDT", "side": "buy", "price": Decimal("100.5"),
                "amount": Decimal("0.010"), "fee": Decimal("0.00001"), "fee_asset": "BTC", "trade_id": "t1",
                "client_order_id": "c1"}],
    )
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Overview" in out and "PnL total USDT" in out and "0.75" in out
    assert "1.005" in out  # notional 100.5 x 0.010, exact
    assert re.search(r"kill switch\s+off", out)
    write_run_report(run_dir, summary={"mode": "local-sim", "kill_switch": "2 one-legged outcomes (limit 2)"},
                     orders=[], fills=[])
    assert main(["report", str(run_dir)]) == 0
    assert re.search(r"kill switch\s+2 one-legged outcomes \(limit 2\)", capsys.readouterr().out)


def test_report_of_a_missing_run_dir_is_one_line(capsys, tmp_path):
    assert main(["report", str(tmp_path / "nothing")]) == 1
    assert one_line_error(capsys) == f"rayarb report: {tmp_path / 'nothing'}: no such run directory"


def test_report_plot_draws_the_charts_from_the_written_files(capsys, tmp_path):
    write_run_report(
        tmp_path,
        summary={"mode": "local-sim", "tick_to_order_s": [0.002, 0.003, 0.01]},
        orders=[{"client_order_id": "c1", "exchange": "alpha", "symbol": "BTC/USDT", "side": "buy", "status": "filled",
                 "sent_ts": 1_700_000_000_000, "ack_ts": 1_700_000_000_004}],
        fills=[{"ts": 1_700_000_000_010, "exchange": "alpha", "symbol": "BTC/USDT", "side": "buy",
                "price": Decimal("100"), "amount": Decimal("0.5"), "fee": Decimal("0.0005"), "fee_asset": "BTC",
                "trade_id": "t1", "client_order_id": "c1"},
               {"ts": 1_700_000_000_020, "exchange": "beta", "symbol": "BTC/USDT", "side": "sell",
                "price": Decimal("101"), "amount": Decimal("0.5"), "fee": Decimal("0.0505"), "fee_asset": "USDT",
                "trade_id": "t2", "client_order_id": "c2"}],
    )
    assert main(["report", str(tmp_path), "--plot"]) == 0
    out = capsys.readouterr().out
    for name in ("pnl.png", "positions.png", "latency.png"):
        assert f"plot written: {tmp_path / 'plots' / name}" in out
        assert (tmp_path / "plots" / name).stat().st_size > 1000


def test_sim_help_comes_from_the_simulator(capsys):
    assert main(["sim", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rayarb sim") and "--base-port" in out


def test_sim_argument_errors_are_one_line(capsys):
    assert main(["sim", "--base-port", "many"]) == 2
    assert one_line_error(capsys).startswith("rayarb sim: error: argument --base-port")


def test_sim_delegates_parsed_arguments_and_exit_code(monkeypatch):
    seen = []
    module = types.ModuleType("simulator.cli")
    module.__spec__ = importlib.machinery.ModuleSpec("simulator.cli", None)
    module.add_sim_arguments = lambda parser: parser.add_argument("--seed", type=int, default=7)
    module.run_sim = lambda args: seen.append(args.seed) or 3
    monkeypatch.setitem(sys.modules, "simulator.cli", module)
    assert main(["sim", "--seed", "11"]) == 3
    assert seen == [11]


def test_console_script_runs_as_a_process():
    script = Path(sys.executable).with_name("rayarb")
    result = subprocess.run([str(script), "run", "--duration", "x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("rayarb run: error: argument --duration: expected seconds, got 'x' "
                                     "(see rayarb run --help)")


# --- rayarb risk status|reset, rayarb run --resume -------------------------------------------------------------------

def _tripped_run_dir(tmp_path: Path) -> Path:
    """A run directory whose journal has two one-legged opportunities and the trip they caused."""
    from execution.journal import Journal
    from tests.execution.test_risk import LIMITS, RiskEngine, one_legged_opportunity

    run_dir = tmp_path / "20261204-160000-abcdef"
    run_dir.mkdir()
    with Journal(run_dir / "journal.sqlite") as journal:
        one_legged_opportunity(journal, 1)
        one_legged_opportunity(journal, 2)
        engine = RiskEngine.rebuild(journal, LIMITS, actor="order_manager pid 42 on host")
        journal.record_risk_event("trip", **engine.trip.journal_fields())
    return run_dir


def test_risk_status_says_why_trading_stopped_in_one_line(capsys, tmp_path):
    run_dir = _tripped_run_dir(tmp_path)
    assert main(["risk", "status", str(run_dir)]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("kill switch TRIPPED (one_legged) ")
    assert "by order_manager pid 42 on host: 2 one-legged outcomes (limit 2)" in line
    assert f"until `rayarb risk reset {run_dir}`" in line
    assert "2 opportunities taken (one_legged 2)" in line and "open exposure BTC/USDT 0.02" in line
    assert main(["risk", "status", str(run_dir), "--json"]) == 0
    import json
    status = json.loads(capsys.readouterr().out)
    assert status["trading_allowed"] is False and status["trip"]["detail"]["one_legged_opportunities"] == [
        "op-1", "op-2"]


def test_risk_reset_clears_the_switch_journals_who_and_says_what_it_cleared(capsys, tmp_path):
    from execution.journal import Journal

    run_dir = _tripped_run_dir(tmp_path)
    assert main(["risk", "reset", str(run_dir), "--by", "alice@desk"]) == 0
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith("kill switch cleared by alice@desk: it was tripped (one_legged) because "
                           "'2 one-legged outcomes (limit 2)'; the 2 one-legged outcomes")
    with Journal(run_dir / "journal.sqlite") as journal:
        trip, reset = journal.risk_events()
    assert (trip.kind, reset.kind, reset.actor, reset.rule) == ("trip", "reset", "alice@desk", "one_legged")
    assert reset.detail["cleared_trip_seq"] == trip.seq and reset.detail["one_legged_total"] == 2
    assert main(["risk", "status", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith("kill switch off: trading allowed (reset ")
    assert main(["risk", "reset", str(run_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"kill switch of {run_dir} is not tripped: nothing to clear"
    with Journal(run_dir / "journal.sqlite") as journal:
        assert len(journal.risk_events()) == 2


@pytest.mark.parametrize("action", ["status", "reset"])
def test_risk_on_a_bad_run_dir_is_one_line_with_code_2(capsys, tmp_path, action):
    assert main(["risk", action, str(tmp_path / "nothing")]) == 2
    assert one_line_error(capsys) == f"rayarb risk: run directory {tmp_path / 'nothing'} does not exist"
    assert main(["risk", action, str(tmp_path)]) == 2
    assert one_line_error(capsys).startswith(f"rayarb risk: {tmp_path} holds no journal (journal.sqlite)")
    (tmp_path / "journal.sqlite").write_text("not a database, just text " * 100)
    assert main(["risk", action, str(tmp_path)]) == 2
    assert one_line_error(capsys).startswith(f"rayarb risk: {tmp_path / 'journal.sqlite'} cannot be read as a "
                                             "rayarb journal")
    assert main(["risk", action]) == 2
    assert "the following arguments are required: RUN_DIR" in one_line_error(capsys)


def test_run_resume_needs_a_run_dir_with_a_journal(capsys, tmp_path, fake_main_job):
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert one_line_error(capsys).startswith(f"rayarb run: {tmp_path} holds no journal")
    assert fake_main_job == []


def test_run_resume_hands_the_run_dir_to_the_main_job(tmp_path, monkeypatch):
    run_dir = _tripped_run_dir(tmp_path)
    received = []
    module = types.ModuleType("orchestration.main_job")
    module.__spec__ = importlib.machinery.ModuleSpec("orchestration.main_job", None)
    module.run_main_job = lambda options, resume_dir=None: received.append((options, resume_dir)) or 0
    monkeypatch.setitem(sys.modules, "orchestration.main_job", module)
    assert main(["run", "--resume", str(run_dir)]) == 0
    ((options, resume_dir),) = received
    assert resume_dir == run_dir and options.mode is Mode.LOCAL_SIM
