"""The `rayarb` command line: `rayarb sim`, `rayarb run`, `rayarb report`, `rayarb risk status|reset`, `rayarb chaos`.

`sim` delegates to ``simulator.cli``; `run` validates its arguments and the config (mode, keys) and hands a frozen
``RunOptions`` to ``orchestration.main_job.run_main_job``; `report` prints a run directory's report as tables. Those
modules are imported only when their subcommand runs, so `rayarb --help` stays fast. `risk status|reset RUN_DIR` show
and clear the kill switch journaled in a run directory (``orchestration.risk_admin``); `run --resume RUN_DIR` trades
on in that directory, over the same journal (a tripped kill switch stays tripped). `chaos` runs the seeded fault
campaign (``orchestration.chaos``) and exits 1 on any broken invariant.

Operator errors (bad arguments, a bad config, missing keys, ``--live`` without keys, an unreachable cluster) print one
line to stderr and return a non-zero code, never a traceback. Exit codes: 0 done, 1 the run failed (or an operator
error outside the config, such as an unreachable cluster), 2 a usage or configuration error, 130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import math
import sys
from pathlib import Path
from typing import Mapping, NoReturn, Sequence

from execution.log import configure_logging, redact
from orchestration.config import ConfigError, UserError, build_run_options

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _UsageError(Exception):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message} (see {prog} --help)")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and raise instead of exiting the process."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self.prog, message)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {value}")
    return value


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _node_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of worker nodes, got {text!r}") from None
    if not 0 <= value <= 8:
        raise argparse.ArgumentTypeError(f"must be between 0 and 8, got {value}")
    return value


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def _file_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file name, got an empty string")
    return text


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", type=_file_name,
                        help="YAML run config (see config.example.yaml); without it rayarb starts three local venues "
                             "and trades them")
    parser.add_argument("--address", metavar="ADDR",
                        help="join a running Ray cluster ('auto' or HOST:PORT) instead of starting a private local Ray")
    parser.add_argument("--duration", type=_positive_seconds, metavar="S",
                        help="stop after S seconds (default: the config's run.duration_s, else until Ctrl-C)")
    parser.add_argument("--metrics-port", type=_port, metavar="P",
                        help="Prometheus scrape port (0 = any free port; default: the config's metrics.port)")
    parser.add_argument("--run-dir", metavar="DIR", help="where the journal and the run report go (default: runs)")
    parser.add_argument("--resume", metavar="RUN_DIR",
                        help="carry on in this run's directory, over its journal, instead of a new one (the kill "
                             "switch, outcomes and PnL go on from it)")
    parser.add_argument("--live", action="store_true",
                        help="send real orders to real exchanges (needs every venue's keys in the environment); "
                             "without it real exchanges are paper-traded")
    parser.add_argument("--log-level", default="INFO", type=_log_level, metavar="LEVEL",
                        help=f"logging level on stderr: {', '.join(LOG_LEVELS)} (default %(default)s)")


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The `rayarb` parser. The `sim` arguments come from ``simulator.cli`` and are only added when `sim` is asked for."""
    parser = _Parser(prog="rayarb", description="Cross-exchange crypto arbitrage on Ray, with a local exchange simulator.")
    commands = parser.add_subparsers(dest="command", metavar="{sim,run,report,risk,chaos}", parser_class=_Parser)
    commands.required = True
    sim = commands.add_parser("sim", help="run local Binance-dialect venues (alpha, beta, gamma)",
                              description="Run local venues that speak Binance's spot REST API and depth WebSocket.")
    if _first_command(argv) == "sim":
        _load_simulator_cli().add_sim_arguments(sim)
    run = commands.add_parser("run", help="run the arbitrage (paper by default, --live for real orders)",
                              description="Start Ray (or join a cluster) and run the arbitrage until --duration or "
                                          "Ctrl-C, then write the run report.")
    _add_run_arguments(run)
    report = commands.add_parser("report", help="print the report of a finished run",
                                 description="Print a run directory's report (report.json, orders.csv, fills.csv).")
    report.add_argument("run_dir", metavar="RUN_DIR")
    report.add_argument("--plot", action="store_true", help="also draw the run's charts (metrics.plots)")
    risk = commands.add_parser("risk", help="show or clear a run's kill switch",
                               description="The kill switch journaled in a run directory: why it tripped and the "
                                           "figures behind it, and clearing it (journaled: who, when, what).")
    actions = risk.add_subparsers(dest="risk_command", metavar="{status,reset}", parser_class=_Parser)
    actions.required = True
    status = actions.add_parser("status", help="the kill switch and the journal's outcomes, PnL and exposure")
    status.add_argument("run_dir", metavar="RUN_DIR")
    status.add_argument("--json", action="store_true", help="print everything as one JSON object")
    reset = actions.add_parser("reset", help="clear a tripped kill switch (trading may resume)")
    reset.add_argument("run_dir", metavar="RUN_DIR")
    reset.add_argument("--by", metavar="NAME", help="who clears it (default: user@host)")
    chaos = commands.add_parser("chaos", help="run the system under a seeded fault campaign and check its invariants",
                                description="Run rayarb on a local Ray against simulator venues while a seeded "
                                            "schedule injects faults; check every invariant against the venues' "
                                            "records and the journal; exit 1 on any violation (RELIABILITY.md).")
    chaos.add_argument("--duration", type=_positive_seconds, default=600.0, metavar="S",
                       help="campaign length in seconds (default %(default)g; --short ignores it)")
    chaos.add_argument("--seed", type=int, default=1, help="the schedule's and the venues' seed (default %(default)s)")
    chaos.add_argument("--faults", metavar="KINDS",
                       help="comma-separated fault kinds, or none (default: all)")
    chaos.add_argument("--venues", metavar="VENUES", default="alpha,beta:okx,gamma",
                       help="simulator venues, NAME or NAME:DIALECT (default %(default)s)")
    chaos.add_argument("--address", metavar="ADDR", help="join this Ray cluster instead of a private local Ray")
    chaos.add_argument("--nodes", type=_node_count, default=0, metavar="N",
                       help="worker nodes besides the head, on this host (a local cluster: node_lost and "
                            "node_silenced need 1 or more; default 0, a plain local Ray)")
    chaos.add_argument("--run-dir", metavar="DIR", default="runs", help="where the run goes (default %(default)s)")
    chaos.add_argument("--short", action="store_true", help="every fault kind once, back to back (CI)")
    chaos.add_argument("--standby", action="store_true",
                       help="a standby per venue, for the detector and for the order manager (supervisor.*_standby): "
                            "faults hit the active one")
    chaos.add_argument("--load", action="store_true",
                       help="the venues quote 10 symbols as fast as the simulator can (with --faults none: load alone)")
    chaos.add_argument("--log-level", default="WARNING", type=_log_level, metavar="LEVEL",
                       help=f"logging level on stderr: {', '.join(LOG_LEVELS)} (default %(default)s)")
    return parser


def _first_command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def _load_simulator_cli():
    if importlib.util.find_spec("simulator.cli") is None:
        raise UserError("the simulator is not installed (simulator.cli is missing)")
    return importlib.import_module("simulator.cli")


def _cmd_sim(args: argparse.Namespace) -> int:
    return int(_load_simulator_cli().run_sim(args))


def _cmd_run(args: argparse.Namespace) -> int:
    configure_logging(getattr(logging, args.log_level))  # every line redacted
    options = build_run_options(
        config_path=args.config,
        address=args.address,
        duration_s=args.duration,
        metrics_port=args.metrics_port,
        run_dir=args.run_dir,
        live=args.live,
    )
    resume = None
    if args.resume is not None:
        from orchestration.risk_admin import resumable_run_dir

        resume = resumable_run_dir(args.resume)  # one line, exit 2, when it holds no journal or a damaged one
    if importlib.util.find_spec("orchestration.main_job") is None:
        raise UserError("orchestration.main_job is not available in this installation")
    from orchestration.main_job import run_main_job  # the lead's module; imported late so the CLI works without it

    logger.info("starting rayarb in %s mode%s", options.mode.value,
                f" from {options.config_path}" if options.config_path else " with local venues")
    if resume is not None:
        return int(run_main_job(options, resume_dir=resume))
    return int(run_main_job(options))


def _cmd_report(args: argparse.Namespace) -> int:
    from orchestration.report import ReportError, format_report

    try:
        print(format_report(args.run_dir))
    except ReportError as e:
        raise UserError(str(e)) from None
    if args.plot:
        if importlib.util.find_spec("metrics.plots") is None:
            raise UserError("plotting is not available (metrics.plots is missing)")
        from metrics.plots import plot_run

        written = plot_run(args.run_dir) or {}
        for path in (written.values() if isinstance(written, Mapping) else written):
            print(f"plot written: {path}")
    return EXIT_OK


def _cmd_risk(args: argparse.Namespace) -> int:
    from orchestration.risk_admin import risk_reset, risk_status

    if args.risk_command == "status":
        print(risk_status(args.run_dir, as_json=args.json))
    else:
        print(risk_reset(args.run_dir, by=args.by))
    return EXIT_OK


def _cmd_chaos(args: argparse.Namespace) -> int:
    configure_logging(getattr(logging, args.log_level))
    from orchestration.chaos.campaign import ChaosOptions, check_venues, run_campaign
    from orchestration.chaos.schedule import kinds_for_nodes, parse_kinds
    from orchestration.chaos.table import render

    if args.nodes and args.address is not None:
        raise UserError("--nodes starts a local cluster; it cannot be combined with --address")
    asked = args.faults is not None and args.faults.strip() not in ("", "all")
    options = ChaosOptions(duration_s=args.duration, seed=args.seed,
                           kinds=kinds_for_nodes(parse_kinds(args.faults), args.nodes, asked=asked),
                           venues=check_venues(tuple(v.strip() for v in args.venues.split(",") if v.strip())),
                           address=args.address, run_dir=Path(args.run_dir), short=args.short, nodes=args.nodes,
                           load=args.load, standby=args.standby)
    if not asked and not args.nodes:
        print("node_lost and node_silenced left out: no worker node to lose (--nodes 1 or more adds one)",
              file=sys.stderr)
    result = run_campaign(options, status=lambda line: print(line, file=sys.stderr))
    render(result.figures, result.violations)
    print(f"figures: {result.run_dir / 'chaos.json'}")
    return EXIT_OK if result.ok else EXIT_FAILED


_COMMANDS = {"sim": _cmd_sim, "run": _cmd_run, "report": _cmd_report, "risk": _cmd_risk, "chaos": _cmd_chaos}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `rayarb` console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _first_command(argv) or "rayarb"
    try:
        parser = build_parser(argv)
        try:
            args = parser.parse_args(argv)
        except SystemExit as e:  # --help and --version exit through argparse
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_USAGE
        return _COMMANDS[args.command](args)
    except _UsageError as e:
        print(str(e), file=sys.stderr)
        return EXIT_USAGE
    except UserError as e:
        print(f"rayarb {command}: {redact(str(e))}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_FAILED
    except KeyboardInterrupt:
        print(f"rayarb {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
