"""Scale-out: detection sharded by symbol over K detector actors on a several-node Ray, K = 1, 2, 4.

What it measures, for each K: ingest (book updates per second into the detectors, all shards together, and the
book's age at use, p50 / p99: as ``benchmarks.bench_ingest``) and tick-to-order (book received by the exchange actor
-> first leg's request sent, p50 / p99, from the run report), while trading ``--venues`` x ``--symbols`` (default
5 x 20) simulator venues; and on how many distinct nodes the K shards ran.

How: one ``ray.cluster_utils.Cluster`` on this host (``tests.cluster.nodes``: a head and ``--nodes`` - 1 workers, one
CPU each, small object stores), venues in a subprocess (``benchmarks.loads``), and for each K one ``rayarb run``
(MainJob) joining that cluster with ``detector.shards: K``. The supervisor places shard i on the i-th alive node (node
affinity), so the K shards run on different nodes; the figure "shard nodes" says on how many they did. On one host the nodes share
the machine's cores: the figures show what sharding costs and carries here, not what K machines would add.

    python -m benchmarks.bench_scale_out [--shards 1,2,4] [--venues 5] [--symbols 20] [--update-hz 20]
                                         [--nodes 4] [--seconds 30] [--warmup 10]
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from benchmarks.bench_ingest import _get, measure_window  # noqa: E402
from benchmarks.loads import start_venues, unified_symbols  # noqa: E402
from benchmarks.results import RESULTS, Figure, record  # noqa: E402
from orchestration.main_job import MainJob  # noqa: E402
from orchestration.report import load_run_report  # noqa: E402
from tests.cluster.nodes import started_cluster  # noqa: E402
from tests.integration.runs import BackgroundRun, actor, make_job  # noqa: E402


def shard_nodes(job: Any) -> dict[str, str]:
    """The Ray node each detector shard runs on."""
    return {name: _get(actor(name).health.remote())["node_id"] for name in job.deployment.detector_names}


def run_shards(shards: int, sim: Any, address: str, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    local = make_job(sim.venues, directory / f"runs-k{shards}", duration_s=None,
                     run={"profile": args.profile, "channels": "127.0.0.1"}, symbols=unified_symbols(args.symbols),
                     detector={"shards": shards}, cooldown_s=0.05)
    job = MainJob(dataclasses.replace(local.options, address=address), status_stream=io.StringIO())
    run = BackgroundRun(job).start()
    try:
        window = measure_window(job, args.warmup, args.seconds, record_books=False)
        window["nodes"] = shard_nodes(job)
    finally:
        job.stop()
        run.join(300)
    report = load_run_report(job.run_dir).report
    window["tick_to_order"] = report["latency"]["tick_to_order"]
    window["opportunities_taken"] = report["opportunities_taken"]
    return window


def figures_of(shards: int, result: dict[str, Any]) -> list[Figure]:
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    k = f"K={shards}"
    latency = result["tick_to_order"]
    return [
        Figure(f"{k} ingest into the detectors", round(result["ingest_per_s"]), "updates/s"),
        Figure(f"{k} books from the venues", round(result["received_per_s"]), "updates/s"),
        Figure(f"{k} book age at use p50", ms(result["age"]["p50"]), "ms"),
        Figure(f"{k} book age at use p99", ms(result["age"]["p99"]), "ms"),
        Figure(f"{k} tick-to-order p50", ms(latency["p50"]), "ms"),
        Figure(f"{k} tick-to-order p99", ms(latency["p99"]), "ms"),
        Figure(f"{k} opportunities taken", result["opportunities_taken"], "count"),
        Figure(f"{k} shard nodes (distinct)", len(set(result["nodes"].values())), "nodes"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", default="1,2,4", help="detector.shards values, comma-separated")
    parser.add_argument("--venues", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--update-hz", type=float, default=20.0,
                        help="book updates per second per venue and symbol asked of the simulator")
    parser.add_argument("--nodes", type=int, default=4, help="Ray nodes (a head and nodes - 1 workers)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window per K")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--profile", default="standard", help="run.profile (standard or latency)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shard_counts = [int(text) for text in args.shards.split(",") if text]
    results: dict[int, dict[str, Any]] = {}
    failed: dict[int, str] = {}  # K -> why its run did not measure (said in the record, never a lost benchmark)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-scale-") as directory, \
            start_venues(Path(directory), args.venues, args.symbols, args.update_hz) as sim, \
            started_cluster(workers=args.nodes - 1) as cluster:
        for shards in shard_counts:
            try:
                results[shards] = run_shards(shards, sim, cluster.address, args, Path(directory))
            except Exception as exc:  # e.g. actors not up in time on an overloaded host: the other Ks still count
                failed[shards] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
                print(f"K={shards}: not measured: {failed[shards]}", file=sys.stderr)
    figures = [f for shards, result in results.items() for f in figures_of(shards, result)]
    print(json.dumps({f"K={k}": {f.name.split(" ", 1)[1]: f.value for f in figures if f.name.startswith(f"K={k} ")}
                      for k in results} | {"seconds": round(time.monotonic() - started),
                                           "not_measured": {f"K={k}": why for k, why in failed.items()}}, indent=2))
    command = "python -m benchmarks.bench_scale_out " + " ".join(argv if argv is not None else sys.argv[1:])
    record("scale_out", f"Scale-out: detector shards on {args.nodes} Ray nodes, {args.venues} venues x "
                        f"{args.symbols} symbols", command.strip(), figures, path=args.results,
           notes=f"One host: {args.nodes} Ray nodes of one CPU each share its cores. Simulator asked for "
                 f"{args.update_hz:g} updates/s per venue and symbol; run.profile {args.profile}; trading on."
                 + "".join(f" K={k} not measured: {why}." for k, why in failed.items()))
    if failed:
        raise SystemExit(f"scale-out: K={', K='.join(map(str, failed))} not measured")


if __name__ == "__main__":
    main()
