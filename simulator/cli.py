"""``rayarb sim``: run local venues, each speaking Binance's or OKX's dialect, until SIGINT/SIGTERM.

``add_sim_arguments(parser)`` adds the options to an argparse (sub)parser; ``run_sim(args)`` runs the venues and
returns the exit code (0 after a clean stop, 2 for bad arguments or config, 1 when a venue cannot listen).
Venue i listens on 127.0.0.1:base_port+i (``--base-port 0``: free ports). ``--venues alpha:binance,beta:okx`` names
each venue's dialect (a bare name speaks Binance). One line per venue is printed on stdout with its name, dialect,
URLs, API key and secret of its default account, and its passphrase where the dialect has one: the only place these
are ever shown, for the operator of this local test venue. ``python -m simulator.cli`` runs the same command.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import signal
import sys
from typing import Any

from execution.log import configure_logging

logger = logging.getLogger(__name__)

DEFAULT_BASE_PORT = 18800
SHUTDOWN_TIMEOUT_S = 10.0
GC_FREEZE_INTERVAL_S = 1.0


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MAX_PORT = 65535


def _base_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be 0 (free ports) or a port up to {MAX_PORT}, got {value}")
    return value


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def add_sim_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--venues", default=None,
                        help="comma-separated venue names, each optionally NAME:DIALECT with DIALECT binance (the default) or "
                             "okx, e.g. alpha:binance,beta:okx (default: the config's, or alpha,beta,gamma)")
    parser.add_argument("--base-port", type=_base_port, default=DEFAULT_BASE_PORT,
                        help="venue i listens on base_port+i; 0 picks free ports (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the market, keys and faults (default 7)")
    parser.add_argument("--config", default=None, metavar="FILE", help="simulator YAML config")
    parser.add_argument("--faults", default=None, metavar="JSON",
                        help='faults at start, e.g. \'{"latency_ms": 5}\' or per venue \'{"beta": {"error_share": 0.1}}\' '
                             '(every fault: docs/simulator.md, "Faults")')
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    parser.add_argument("--log-level", default="WARNING", type=_log_level,
                        help="logging level on stderr: DEBUG, INFO, WARNING or ERROR (default %(default)s)")
    parser.add_argument("--realtime-priority", type=int, default=0, metavar="N",
                        help="run the venues under SCHED_FIFO at priority N, as if on their own machine "
                             "(default 0: the normal policy)")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="stop when stdin reaches end of file (the launching process died or closed it)")
    return parser


def build_sim_config(args: argparse.Namespace) -> Any:
    """The ``SimConfig`` the arguments describe (``SimConfigError`` / ``ValueError`` when they are wrong)."""
    from simulator.config import SimConfig, SimConfigError, parse_venue_spec

    data: dict[str, Any] = {}
    if args.config:
        import yaml

        with open(args.config, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
        if not isinstance(loaded, dict):
            raise SimConfigError(f"{args.config}: the config must be a mapping")
        data = dict(loaded)
    if args.seed is not None:
        data["seed"] = args.seed
    if args.venues:
        specs = [spec.strip() for spec in args.venues.split(",") if spec.strip()]
        if not specs:
            raise SimConfigError("--venues names no venue")
        configured = data.get("venues")
        if isinstance(configured, list) and configured:
            by_name = {(parse_venue_spec(v)[0] if isinstance(v, str) else v.get("name")): v
                       for v in configured if isinstance(v, (str, dict))}
            names = [spec.partition(":")[0].strip() for spec in specs]
            unknown = [name for name in names if name not in by_name]
            if unknown:
                raise SimConfigError(f"--venues names {unknown} not in {args.config}")
            chosen = []
            for spec, name in zip(specs, names):
                entry = by_name[name]
                if ":" in spec:  # a dialect given on the command line overrides the file's
                    dialect = parse_venue_spec(spec)[1]
                    entry = {**entry, "dialect": dialect} if isinstance(entry, dict) else f"{name}:{dialect}"
                chosen.append(entry)
            data["venues"] = chosen
        else:
            for spec in specs:
                parse_venue_spec(spec)  # an unknown dialect fails here, by name
            data["venues"] = specs
    if args.faults:
        try:
            faults = json.loads(args.faults)
        except ValueError as exc:
            raise SimConfigError(f"--faults: not JSON ({exc})") from None
        if not isinstance(faults, dict):
            raise SimConfigError("--faults must be a JSON object")
        data["faults"] = faults
    config = SimConfig.from_dict(data)
    from simulator.launcher import faults_per_venue

    faults_per_venue(config.faults, [v.name for v in config.venues])  # FaultConfigError before anything is bound
    last_port = args.base_port + len(config.venues) - 1
    if args.base_port and last_port > MAX_PORT:
        raise SimConfigError(f"--base-port {args.base_port}: venue {len(config.venues)} "
                             f"({config.venues[-1].name}) would listen on port {last_port}, past {MAX_PORT}")
    return config


def _install_event_loop_policy() -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - depends on the environment
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def _freeze_survivors_periodically(interval_s: float = GC_FREEZE_INTERVAL_S) -> None:
    """Move every object alive now out of the collector's reach, again and again.

    A venue keeps every order it ever accepted (``/_sim/orders``), so the heap grows for the whole run and each full
    collection rescans that history: 50-120 ms pauses at ~20 000 orders, measured as the p99.9 of the order
    benchmark. Frozen objects are never scanned again; the cost is that a reference cycle which became garbage after
    being frozen is never freed, and the venue's long-lived objects (orders, books, accounts) stay referenced anyway.
    """
    while True:
        gc.freeze()
        await asyncio.sleep(interval_s)


def _run_in_realtime(priority: int) -> None:
    """The venues stand for exchanges on other machines, which never wait for the trading system's CPU. On one shared
    machine a trading system whose hot path runs real-time (``run.realtime_priority``) would otherwise delay the
    venues' matching behind its own threads: measured, order round trip p99 14 -> 23 ms and twice the one-legged
    outcomes. Real-time venues answer as a remote exchange would."""
    if priority <= 0:
        return
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError) as exc:
        logger.warning("venues stay under the normal policy: real-time priority %d refused (%s)", priority,
                       type(exc).__name__)


def _stop_on_stdin_eof(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            stop.set()

    loop.add_reader(fd, on_readable)


def venue_banner(venue: Any) -> str:
    """The line announcing one venue: name, dialect, URLs, key, secret, and the passphrase where the dialect has one."""
    line = (f"rayarb-sim venue={venue.name} dialect={venue.dialect} url={venue.url} ws={venue.ws_url} "
            f"api_key={venue.api_key} secret={venue.secret}")
    return line + (f" passphrase={venue.passphrase}" if venue.passphrase else "")


async def _serve(config: Any, base_port: int, host: str, exit_with_parent: bool = False) -> int:
    from simulator.launcher import start_simulation

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if exit_with_parent:
        _stop_on_stdin_eof(loop, stop)
    try:
        sim = await start_simulation(config, base_port=base_port, host=host)
    except OSError as exc:
        print(f"rayarb sim: cannot listen: {exc}", file=sys.stderr)
        return 1
    try:
        for venue in sim:
            print(venue_banner(venue), flush=True)
        print("rayarb-sim ready", flush=True)
        freezer = asyncio.get_running_loop().create_task(_freeze_survivors_periodically())
        if sys.stdout.isatty():  # an operator at a terminal: ready-to-paste lines for config.example.yaml
            from orchestration.config import default_key_env_names

            for venue in sim:
                key_env, secret_env = default_key_env_names(venue.name)
                print(f"export {key_env}={venue.api_key} {secret_env}={venue.secret}", flush=True)
        await stop.wait()
        freezer.cancel()
    finally:
        try:
            await asyncio.wait_for(sim.stop(), timeout=SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            logger.warning("venues did not stop within %s s", SHUTDOWN_TIMEOUT_S)
    return 0


def run_sim(args: argparse.Namespace) -> int:
    configure_logging(getattr(logging, str(args.log_level).upper(), logging.WARNING))  # redacted, as every line
    from simulator.faults import FaultConfigError

    try:
        config = build_sim_config(args)
    except (ValueError, OSError) as exc:  # SimConfigError and FaultConfigError are ValueErrors
        print(f"rayarb sim: {exc}", file=sys.stderr)
        return 2
    _install_event_loop_policy()
    _run_in_realtime(getattr(args, "realtime_priority", 0))
    try:
        return asyncio.run(_serve(config, args.base_port, args.host, getattr(args, "exit_with_parent", False)))
    except FaultConfigError as exc:
        print(f"rayarb sim: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = add_sim_arguments(argparse.ArgumentParser(prog="rayarb sim", description=__doc__.splitlines()[0]))
    return run_sim(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
