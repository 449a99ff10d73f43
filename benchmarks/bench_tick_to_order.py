"""Tick-to-order latency of the whole actor system: `rayarb run` on a local Ray against three simulator venues.

Tick-to-order is "book update received by the exchange actor -> first leg's request sent" (the order-entry session
hands the built and signed request to the kernel), measured per taken opportunity by the order manager, with its four
stages: detect (exchange actor -> detector, detection), handoff (detector -> order manager), submit (order manager ->
exchange actor, journal write included) and request (the order request built, signed and written). Also printed:
tick-to-venue, the same book arrival -> the venue's receipt of that first leg (`receivedTimeUs` in /_sim/orders),
which adds the loopback and the venue's own wake-up and parsing.

    python -m benchmarks.bench_tick_to_order --seconds 60 [--channels off] [--realtime-priority 0] [--venue-priority 0]
                                             [--cpu-wake-latency off]

``--channels off`` sends every hot-path message as a Ray actor call instead of over the direct channels;
``--realtime-priority 0`` leaves the hot-path threads under the normal scheduling policy; ``--cpu-wake-latency off``
lets idle CPUs sleep as deeply as they like (run.cpu_wake_latency_us: null); the venues run real-time at priority 20
(they stand for exchanges on other machines) unless ``--venue-priority`` says otherwise. The report's
order round trip (leg sent -> venue's answer) is printed too, and the slowest samples stage by stage.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from orchestration.report import load_run_report, summarize_latencies  # noqa: E402
from simulator.launcher import VenueProcess  # noqa: E402
from tests.integration.runs import account_orders, make_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--channels", default="auto", help="run.channels: auto (direct channels) or off (Ray calls)")
    parser.add_argument("--realtime-priority", type=int, default=10,
                        help="run.realtime_priority: SCHED_FIFO priority of the hot-path threads (0: normal policy)")
    parser.add_argument("--cpu-wake-latency", default="0",
                        help="run.cpu_wake_latency_us: microseconds, or off (idle CPUs not limited)")
    parser.add_argument("--venue-priority", type=int, default=20,
                        help="SCHED_FIFO priority of the venues, as if on their own machine (0: normal policy)")
    args = parser.parse_args()
    with VenueProcess(("alpha", "beta", "gamma"), seed=args.seed, realtime_priority=args.venue_priority) as venues, \
            tempfile.TemporaryDirectory(prefix="rayarb-bench-") as run_dir:
        venues.start(timeout_s=60)
        run = {"profile": "latency", "channels": args.channels, "realtime_priority": args.realtime_priority,
               "cpu_wake_latency_us": None if args.cpu_wake_latency == "off" else int(args.cpu_wake_latency)}
        job = make_job(venues.venues, Path(run_dir), duration_s=args.seconds, run=run, cooldown_s=0.0)
        job.run()
        report = load_run_report(job.run_dir).report
        received_us = {(v.name, o["clientOrderId"]): o["receivedTimeUs"] for v in venues.venues
                       for o in account_orders(v.url)}
    to_venue = summarize_latencies(
        received_us[(leg["exchange"], leg["client_order_id"])] / 1e6 - leg["book_received_at"]
        for leg in report["tick_to_order_first_legs"] if (leg["exchange"], leg["client_order_id"]) in received_us)
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    latency = report["latency"]["tick_to_order"]
    result = {
        "seconds": args.seconds,
        "hot_path": report["hot_path"],
        "opportunities_detected": report["opportunities_detected"],
        "opportunities_taken": report["opportunities_taken"],
        "outcomes": report["outcomes"],
        "tick_to_order_ms": {"count": latency["count"], "p50": ms(latency["p50"]), "p90": ms(latency["p90"]),
                             "p99": ms(latency["p99"]), "max": ms(latency["max"])},
        "tick_to_venue_ms": {"count": to_venue["count"], "p50": ms(to_venue["p50"]), "p90": ms(to_venue["p90"]),
                             "p99": ms(to_venue["p99"]), "max": ms(to_venue["max"])},
        "stages_ms": {stage: {"p50": ms(s["p50"]), "p99": ms(s["p99"])}
                      for stage, s in report["tick_to_order_stages"].items()},
        "order_round_trip_ms": {q: ms(report["order_round_trip"][q]) for q in ("p50", "p90", "p99")},
        "slowest_ms": [{"at": round(sample["book_received_at"], 3), "total": ms(sample["tick_to_order_s"]),
                        **{stage: ms(seconds) for stage, seconds in sample["stages_s"].items()}}
                       for sample in report["tick_to_order_slowest"]],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
