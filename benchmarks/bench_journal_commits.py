"""Journal write latency on the hot path: SQLite's own checkpoints against checkpoints on a worker thread, and a
SQLite commit against an append to the intent log.

Each write is what the order manager does before an order leaves (``record_submitted_order``), paced at a fixed
rate; with ``--background`` a thread calls ``Journal.checkpoint()`` every second, as the order manager does. With
``--intent-log`` that write is the intent log's append, and the SQLite commit that follows the send (``flush()``)
is timed apart ("after_send").

    python -m benchmarks.bench_journal_commits [--orders 4000] [--rate 300] [--background] [--intent-log]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from benchmarks.results import Figure, record
from execution.journal import Journal, JournaledOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce


def order(i: int, now: float) -> JournaledOrder:
    return JournaledOrder(f"rx-bench-{i:08d}", "alpha", "BTC/USDT", Side.BUY, OrderType.LIMIT, TimeInForce.IOC,
                          Decimal("0.0123"), Decimal("60000.12"), OrderStatus.INITIALIZED, None, f"op-{i}",
                          Decimal(0), 0, None, now, now)


def percentiles_ms(samples: list[float]) -> dict:
    samples = sorted(samples)
    ms = lambda q: round(samples[min(len(samples) - 1, int(len(samples) * q))] * 1000, 3)  # noqa: E731
    return {"p50_ms": ms(0.5), "p99_ms": ms(0.99), "p99_9_ms": ms(0.999), "max_ms": round(samples[-1] * 1000, 3),
            "over_2ms": sum(s > 0.002 for s in samples)}


def run(orders: int, rate: float, background: bool, intent_log: bool, directory: Path) -> dict:
    journal = Journal(directory / "journal.sqlite", checkpoint_in_background=background, intent_log=intent_log)
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
    before_send, after_send = [], []
    try:
        for i in range(orders):
            now = time.time()
            began = time.perf_counter()
            journal.record_submitted_order(order(i, now), ts_event=now, ts_init=now)
            sent = time.perf_counter()
            before_send.append(sent - began)
            if intent_log:
                journal.flush()
                after_send.append(time.perf_counter() - sent)
            time.sleep(1 / rate)
    finally:
        stop.set()
        if background:
            worker.join(30)
        journal.close()
    return {"background_checkpoints": background, "intent_log": intent_log, "orders": orders,
            "before_send": percentiles_ms(before_send),
            "after_send": percentiles_ms(after_send) if after_send else None,
            "checkpoint_ms_max": round(max(checkpoints) * 1000, 1) if checkpoints else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=4000)
    parser.add_argument("--rate", type=float, default=300.0, help="commits per second (a busy run makes ~30)")
    parser.add_argument("--background", action="store_true", help="checkpoint on a worker thread every second")
    parser.add_argument("--intent-log", action="store_true", help="write new orders ahead to the intent log")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rayarb-journal-") as directory:
        result = run(args.orders, args.rate, args.background, args.intent_log, Path(directory))
    print(json.dumps(result))
    before = result["before_send"]
    figures = [Figure("write before the send, p50", before["p50_ms"], "ms"),
               Figure("write before the send, p99", before["p99_ms"], "ms"),
               Figure("write before the send, p99.9", before["p99_9_ms"], "ms"),
               Figure("write before the send, max", before["max_ms"], "ms")]
    if result["after_send"]:
        figures.append(Figure("commit after the send, p99", result["after_send"]["p99_ms"], "ms"))
    if result["checkpoint_ms_max"] is not None:
        figures.append(Figure("checkpoint, max", result["checkpoint_ms_max"], "ms"))
    flags = " ".join(f for f, on in (("--background", args.background), ("--intent-log", args.intent_log)) if on)
    record("journal", "Journal write on the order path (intent log, checkpoints on a worker thread)",
           f"python -m benchmarks.bench_journal_commits --orders {args.orders} --rate {args.rate:g} {flags}".strip(),
           figures)


if __name__ == "__main__":
    main()
