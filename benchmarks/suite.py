"""``make bench``: every benchmark BENCHMARKS.md publishes, run one after another with the arguments of its published
figures, each recording into benchmarks/results.json; then BENCHMARKS.md's tables are made anew from that file.

    python -m benchmarks.suite [--only NAME[,NAME]] [--list]

Each entry is a module under ``benchmarks/`` and its arguments; the module records its own figures
(``benchmarks.results.record``). Run on a quiet machine: anything else running shows in the figures (the load average
at start is recorded with each).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.results import ROOT, update_document

# name -> (module, arguments). The order is the order they run in; the longest come last.
SUITE: dict[str, tuple[str, list[str]]] = {
    "journal": ("benchmarks.bench_journal_commits", ["--intent-log", "--background"]),
    "venue_orders": ("benchmarks.bench_venue_orders", ["--concurrency", "16", "--rate", "800", "--processes", "2",
                                                        "--seconds", "30"]),
    "order_pipeline": ("benchmarks.bench_order_pipeline", ["--rate", "300", "--seconds", "60", "--warmup", "10",
                                                            "--profile", "latency", "--venue-priority", "20"]),
    "resources": ("benchmarks.bench_resources", ["--loads", "3x2,3x10,5x20", "--update-hz", "20", "--seconds", "30",
                                                 "--warmup", "15"]),
    "ingest": ("benchmarks.bench_ingest", ["--loads", "3x10,5x20", "--update-hz", "200", "--seconds", "30",
                                           "--warmup", "10", "--profile", "latency"]),
    "scale_out": ("benchmarks.bench_scale_out", ["--shards", "1,2,4", "--venues", "5", "--symbols", "20",
                                                 "--nodes", "4", "--seconds", "30", "--warmup", "10",
                                                 "--profile", "latency"]),
    "profile": ("benchmarks.bench_profile", ["--load", "3x2", "--seconds", "60", "--warmup", "15"]),
    "recovery": ("benchmarks.bench_recovery", ["--kills", "10", "--standby-kills", "10", "--hangs", "5",
                                               "--node-losses", "10", "--standby-node-losses", "10",
                                               "--silent-node-losses", "10", "--standby-silent-node-losses", "10"]),
    "side_by_side_3x2": ("benchmarks.bench_side_by_side", ["--load", "3x2", "--seconds", "120", "--rounds", "2"]),
    "side_by_side_5x20": ("benchmarks.bench_side_by_side", ["--load", "5x20", "--seconds", "120", "--rounds", "2"]),
    "side_by_side_5x20fast": ("benchmarks.bench_side_by_side", ["--load", "5x20fast", "--seconds", "120",
                                                                "--rounds", "2"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated names of the benchmarks to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their commands, run nothing")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(SUITE)
    unknown = sorted(set(names) - set(SUITE))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(SUITE)}")
    failed = []
    for name in names:
        module, arguments = SUITE[name]
        command = [sys.executable, "-m", module, *arguments]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        if args.list:
            continue
        started = time.monotonic()
        if subprocess.run(command, cwd=ROOT).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.monotonic() - started:.0f} s", flush=True)
    if not args.list:
        update_document()
    if failed:
        raise SystemExit(f"benchmark(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
