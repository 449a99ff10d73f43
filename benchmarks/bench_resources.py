"""Memory and CPU: resident memory per actor and in total, and CPU per 1,000 book updates and per order.

What it measures, per load (venues x symbols; default 3x2, 3x10 and 5x20, the simulator quoting every venue's every
symbol ``--update-hz`` times a second): a trading `rayarb run` (MainJob on a local Ray) against `rayarb sim` venues in
a subprocess (``benchmarks.loads``). After the run trades and ``--warmup`` seconds more (steady state), over a window
of ``--seconds``:
- **memory**: RSS and PSS (``psutil``'s ``memory_full_info``: PSS shares each shared page among the processes that map
  it, so PSS adds up; RSS counts Ray's shared libraries in every process) of each actor's process, found by the pid its
  ``health()`` gives, at the window's end; their total; and the Ray runtime besides (GCS, raylet and the other
  processes Ray started under this driver that are not actors);
- **CPU**: each actor's process CPU time (user + system) over the window. Per 1,000 book updates: the exchange actors'
  and detector's CPU over the books the exchange actors received (their ``health()`` counts); per order: the order
  manager's CPU over the orders the venues received in the window (``/_sim/orders``: its background work, the journal's
  checkpoint every second and the open orders' settling, is in it too, so at a low order rate this is an upper bound);
  and every actor's CPU together, as a share of one core.
Beside each, the same measures of the in-process bot (``benchmarks.baseline``, as the side-by-side benchmark runs it)
against the same venues once rayarb's run has stopped: its one process's RSS and PSS, its CPU over a window of the same
length after the same warm-up, and its CPU per 1,000 book updates (everything it does, orders included) against every
actor's CPU per 1,000 book updates.

    python -m benchmarks.bench_resources [--loads 3x2,3x10,5x20] [--update-hz 20] [--seconds 20] [--warmup 10]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from benchmarks.baseline import run_bot  # noqa: E402
from benchmarks.loads import start_venues, unified_symbols  # noqa: E402
from benchmarks.results import RESULTS, Figure, record  # noqa: E402
from tests.integration.runs import BackgroundRun, account_orders, actor, make_job, run_config, wait_for  # noqa: E402

STARTUP_S = 300.0
MIB = 2**20


def parse_load(text: str) -> tuple[int, int]:
    venues, _, symbols = text.lower().partition("x")
    return int(venues), int(symbols)


def _get(ref: Any, timeout_s: float = 30.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout_s)


def actor_pids(names: tuple[str, ...]) -> dict[str, int]:
    return {name: _get(actor(name).health.remote())["pid"] for name in names}


def books_received(venues: tuple[str, ...]) -> int:
    return sum(_get(actor(f"exchange:{v}").health.remote())["books"]["received"] for v in venues)


def cpu_seconds(pids: dict[str, int], *, skip_gone: bool = False) -> dict[str, float]:
    out = {}
    for name, pid in pids.items():
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            if skip_gone:
                continue
            raise
        out[name] = times.user + times.system
    return out


def memory(pid: int) -> tuple[float, float | None]:
    """RSS and PSS of a process in MiB (PSS None where the kernel does not give it)."""
    process = psutil.Process(pid)
    try:
        full = process.memory_full_info()
        return full.rss / MIB, getattr(full, "pss", None) and full.pss / MIB
    except psutil.AccessDenied:
        return process.memory_info().rss / MIB, None


def orders_received(venues: Any, start: float, end: float) -> int:
    return sum(1 for v in venues for o in account_orders(v.url) if start <= o["receivedTimeUs"] / 1e6 < end)


def ray_runtime(actor_pids_: set[int], venue_pid: int | None) -> dict[str, int]:
    """The processes Ray started under this driver that are not actors (GCS, raylet, ...): ``ray:<pid>`` -> pid."""
    skip = set(actor_pids_)
    if venue_pid is not None:
        skip.add(venue_pid)
        skip.update(p.pid for p in psutil.Process(venue_pid).children(recursive=True))
    return {f"ray:{child.pid}": child.pid for child in psutil.Process(os.getpid()).children(recursive=True)
            if child.pid not in skip}


def total_memory(pids: dict[str, int]) -> tuple[float, float | None]:
    """RSS and PSS (MiB) of these processes together (PSS None where the kernel does not give it)."""
    rss, pss = 0.0, 0.0
    for pid in pids.values():
        try:
            r, p = memory(pid)
        except psutil.NoSuchProcess:
            continue
        rss += r
        pss = None if pss is None or p is None else pss + p
    return rss, pss


def run_load(venues: int, symbols: int, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    with start_venues(directory, venues, symbols, args.update_hz) as sim:
        job = make_job(sim.venues, directory / f"run-{venues}x{symbols}", duration_s=None,
                       run={"profile": args.profile}, symbols=unified_symbols(symbols))
        run = BackgroundRun(job).start()
        try:
            wait_for("the run to trade", lambda: run.error is None and getattr(job, "baseline", None) is not None
                     and any(account_orders(v.url) for v in sim.venues), timeout_s=STARTUP_S, interval_s=0.5)
            deployment = job.deployment
            names = deployment.actor_names + ("supervisor",)
            time.sleep(args.warmup)  # steady state: caches, connections and the journal warmed up
            pids = actor_pids(names)
            runtime = ray_runtime(set(pids.values()), sim.pid)
            cpu_before, books_before, start = cpu_seconds(pids), books_received(deployment.venue_names), time.time()
            runtime_before = cpu_seconds(runtime, skip_gone=True)
            time.sleep(args.seconds)
            cpu_after, books_after, end = cpu_seconds(pids), books_received(deployment.venue_names), time.time()
            runtime_after = cpu_seconds(runtime, skip_gone=True)
            if actor_pids(names) != pids:
                raise RuntimeError("an actor restarted during the window: its CPU time would be wrong")
            mem = {name: memory(pid) for name, pid in pids.items()}
            runtime_memory = total_memory(runtime)
            orders = orders_received(sim.venues, start, end)
        finally:
            job.stop()
            run.join(300)
        symbol_names = unified_symbols(symbols)
        bot = run_bot(sim.venues, symbol_names, run_config(sim.venues, symbols=symbol_names),
                      args.warmup + args.seconds + 2, directory / f"bot-{venues}x{symbols}",
                      window=(args.warmup, args.seconds))["window"]
        bot["orders"] = orders_received(sim.venues, bot["start"], bot["end"])
    cpu = {name: cpu_after[name] - cpu_before[name] for name in pids}
    runtime_cpu = sum(runtime_after[n] - runtime_before[n] for n in runtime_after if n in runtime_before)
    feed = [n for n in names if n.startswith("exchange:")] + list(deployment.detector_names)
    books = books_after - books_before
    return {
        "window_s": end - start, "books": books, "orders": orders,
        "rss_mib": {n: round(m[0], 1) for n, m in mem.items()},
        "pss_mib": {n: None if m[1] is None else round(m[1], 1) for n, m in mem.items()},
        "cpu_s": {n: round(c, 3) for n, c in cpu.items()},
        "runtime_rss_mib": round(runtime_memory[0], 1), "runtime_pss_mib": None if runtime_memory[1] is None else round(
            runtime_memory[1], 1), "runtime_processes": len(runtime), "runtime_cpu_s": round(runtime_cpu, 3),
        "cpu_ms_per_1000_books": None if not books else 1e6 * sum(cpu[n] for n in feed) / books,
        "cpu_ms_per_order": None if not orders else 1e3 * cpu["order_manager"] / orders,
        "actors_cpu_share": sum(cpu.values()) / (end - start),
        "rayarb_cpu_ms_per_1000_books": None if not books else 1e6 * (sum(cpu.values()) + runtime_cpu) / books,
        "rayarb_cpu_share": (sum(cpu.values()) + runtime_cpu) / (end - start),
        "bot": {"rss_mib": round(bot["rss_mib"], 1), "pss_mib": None if bot["pss_mib"] is None else round(
            bot["pss_mib"], 1), "cpu_s": round(bot["cpu_s"], 3), "books": bot["books"], "orders": bot["orders"],
            "window_s": bot["end"] - bot["start"], "cpu_share": bot["cpu_s"] / (bot["end"] - bot["start"]),
            "cpu_ms_per_1000_books": None if not bot["books"] else 1e6 * bot["cpu_s"] / bot["books"]},
    }


def _kind(name: str) -> str:
    return "exchange actor" if name.startswith("exchange:") else "detector" if name.startswith("detector") else name


def figures_of(load: str, result: dict[str, Any]) -> list[Figure]:
    figures = []
    rss, pss = result["rss_mib"], result["pss_mib"]
    kinds: dict[str, list[str]] = {}
    for name in rss:
        kinds.setdefault(_kind(name), []).append(name)
    for kind, names in kinds.items():
        each = " (each, mean)" if len(names) > 1 else ""
        figures.append(Figure(f"{load} RSS {kind}{each}", round(sum(rss[n] for n in names) / len(names), 1), "MiB"))
        if all(pss[n] is not None for n in names):
            figures.append(Figure(f"{load} PSS {kind}{each}", round(sum(pss[n] for n in names) / len(names), 1),
                                  "MiB"))
    bot = result["bot"]
    figures.append(Figure(f"{load} RSS every actor (baseline: the bot's one process)", round(sum(rss.values()), 1),
                          "MiB", baseline=bot["rss_mib"]))
    if all(v is not None for v in pss.values()):
        figures.append(Figure(f"{load} PSS every actor (baseline: the bot's)", round(sum(pss.values()), 1), "MiB",
                              baseline=bot["pss_mib"]))
    if result["runtime_pss_mib"] is not None:
        figures.append(Figure(f"{load} PSS Ray runtime besides ({result['runtime_processes']} processes)",
                              result["runtime_pss_mib"], "MiB"))
    per_books, per_order = result["cpu_ms_per_1000_books"], result["cpu_ms_per_order"]
    figures += [
        Figure(f"{load} CPU per 1,000 book updates (exchange actors + detector)",
               None if per_books is None else round(per_books, 1), "ms"),
        Figure(f"{load} CPU per order (order manager)", None if per_order is None else round(per_order, 2), "ms"),
        Figure(f"{load} CPU of every actor", round(100 * result["actors_cpu_share"], 1), "% of a core"),
        Figure(f"{load} CPU of every actor and Ray's processes (baseline: the bot's)",
               round(100 * result["rayarb_cpu_share"], 1), "% of a core", baseline=round(100 * bot["cpu_share"], 1)),
        Figure(f"{load} CPU per 1,000 book updates, every actor and Ray's processes (baseline: the bot's)",
               _round(result["rayarb_cpu_ms_per_1000_books"], 1), "ms",
               baseline=_round(bot["cpu_ms_per_1000_books"], 1)),
        Figure(f"{load} book updates in the window", round(result["books"] / result["window_s"]), "updates/s",
               baseline=round(bot["books"] / bot["window_s"])),
        Figure(f"{load} orders in the window", result["orders"], "orders", baseline=bot["orders"]),
    ]
    return figures


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="3x2,3x10,5x20", help="venues x symbols, comma-separated")
    parser.add_argument("--update-hz", type=float, default=20.0,
                        help="book updates per second per venue and symbol asked of the simulator")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per load")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of trading before the window")
    parser.add_argument("--profile", default="standard", help="run.profile (standard or latency)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    results, figures = {}, []
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-resources-") as directory:
        for load in [text for text in args.loads.split(",") if text]:
            venues, symbols = parse_load(load)
            results[load] = run_load(venues, symbols, args, Path(directory))
            figures += figures_of(load, results[load])
    print(json.dumps(results, indent=1))
    command = "python -m benchmarks.bench_resources " + " ".join(argv if argv is not None else sys.argv[1:])
    record("resources", "Memory and CPU: RSS / PSS per actor and in total, CPU per 1,000 book updates and per order",
           command.strip(), figures, path=args.results,
           notes=f"Trading run, simulator at {args.update_hz:g} updates/s per venue and symbol, {args.seconds:g} s "
                 f"window after {args.warmup:g} s of trading; run.profile {args.profile}. PSS adds up across "
                 f"processes, RSS does not (Ray's libraries are counted in every process). Baseline: the in-process "
                 f"bot (benchmarks/baseline) against the same venues after rayarb's run, the same warm-up and window.")
    return results


if __name__ == "__main__":
    main()
