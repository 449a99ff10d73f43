"""Journal commit latency on the hot path: SQLite's own checkpoints against checkpoints on a worker thread.

Each commit is what the order manager writes before an order leaves (``record_submitted_order``), paced at a fixed
rate; with ``--background`` a thread calls ``Journal.checkpoint()`` every second, as the order manager does.

    python -m benchmarks.bench_journal_commits [--orders 4000] [--rate 300] [--background]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from execution.journal import Journal, JournaledOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce


def order(i: int, now: float) -> JournaledOrder:
    return JournaledOrder(f"rx-bench-{i:08d}", "alpha", "BTC/USDT", Side.BUY, OrderType.LIMIT, TimeInForce.IOC,
                          Decimal("0.0123"), Decimal("60000.12"), OrderStatus.INITIALIZED, None, f"op-{i}",
                          Decimal(0), 0, None, now, now)


def run(orders: int, rate: float, background: bool, directory: Path) -> dict:
    journal = Journal(directory / "journal.sqlite", checkpoint_in_background=background)
    stop = threading.Event()
    checkpoints: list[float] = []

    def checkpoint_every_second() -> None:
        while not stop.wait(1.0):
            began = time.perf_counter()
            journal.checkpoint()
            checkpoints.append(time.perf_counter() - began)

    worker = threading.Thread(target=checkpoint_every_second, daemon=True)
    if background:
        worker.start()
    commits = []
    try:
        for i in range(orders):
            now = time.time()
            began = time.perf_counter()
            journal.record_submitted_order(order(i, now), ts_event=now, ts_init=now)
            commits.append(time.perf_counter() - began)
            time.sleep(1 / rate)
    finally:
        stop.set()
        if background:
            worker.join(30)
        journal.close()
    commits.sort()
    ms = lambda q: round(commits[min(len(commits) - 1, int(len(commits) * q))] * 1000, 3)  # noqa: E731
    return {"background_checkpoints": background, "commits": len(commits), "p50_ms": ms(0.5), "p99_ms": ms(0.99),
            "p99_9_ms": ms(0.999), "max_ms": round(commits[-1] * 1000, 3),
            "commits_over_2ms": sum(c > 0.002 for c in commits),
            "checkpoint_ms_max": round(max(checkpoints) * 1000, 1) if checkpoints else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=300.0, help="commits per second (a busy run makes ~30)")
    parser.add_argument("--background", action="store_true", help="checkpoint on a worker thread every second")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rayarb-journal-") as directory:
        print(json.dumps(run(args.orders, args.rate, args.background, Path(directory))))


if __name__ == "__main__":
    main()
