"""Detector ingest: how many book updates per second reach the detector, and how old each book is when it uses it.

What it measures, per load (venues x symbols, default 3x10 and 5x20), with the simulator quoting every venue's every
symbol ``--update-hz`` times a second:
- **ingest**: book updates per second taken in by the detector (all shards together), over a measurement window after
  a warm-up; beside it the books per second the exchange actors received from the venues (what the simulator really
  produced on this machine: it falls behind its nominal rate when the CPU is short) and the books conflated away
  (a newer book replaced one still waiting for the detector: dropped on purpose, never queued).
- **book age at use**: for every book the detector screened in the window, the detector's clock when it screened it
  minus ``received_at``, the moment the exchange actor received that book from ccxt. So it covers the exchange actor's
  checks, the channel hop and any wait in the detector's loop; not the venue's stream or ccxt's parsing before it.
  p50 / p99 / max.
- **detector capacity**: one detector's own ceiling, apart from the simulator: books recorded from the run's venues
  (each exchange actor's latest book per symbol, sampled during the window) fed as fast as it takes them, in one
  process, through what a book costs the detector's process: the channel frame decoded into a FloatBook
  (``actors.transport.wire``) and screened by ``execution.detector`` (enabled, every crossing sized). No socket
  and no event loop: an upper bound for one detector shard on one core.
- **through its channel**: the same recorded books, stamped fresh, sent to the running detector shard over its own
  channel as the exchange actors send them (``on_book``), from one connection with ``CHANNEL_WINDOW`` in flight, as
  fast as it answers, the sender under the profile's real-time priority as the exchange actors are: the real path
  (socket, frames, the actor's event loop, screening, the answer), with the live venues' books still arriving. Its
  books per second and the detector's CPU meanwhile (near a whole core: the detector's ceiling, not the sender's).

How: ``rayarb run`` (MainJob, local Ray) against ``rayarb sim`` venues in a subprocess (``benchmarks.loads``), with
``detector.shards`` = ``--shards``. By default nothing is traded (``strategy.min_profit_bps`` 10000: every book is still
screened and every crossing sized, none is profitable enough): the figure is ingest alone; ``--trade`` trades as usual.

    python -m benchmarks.bench_ingest [--loads 3x10,5x20] [--update-hz 200] [--seconds 30] [--warmup 10]
                                      [--shards 1] [--capacity-seconds 5] [--profile standard] [--trade]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from benchmarks.loads import start_venues, unified_symbols  # noqa: E402
from benchmarks.results import RESULTS, Figure, record  # noqa: E402
from orchestration.config.models import PROFILES  # noqa: E402
from orchestration.report import summarize_latencies  # noqa: E402
from tests.integration.runs import BackgroundRun, actor, make_job, wait_for  # noqa: E402

STARTUP_S = 300.0  # a large load on a loaded 2-core machine starts slowly
NO_TRADING_BPS = 10_000  # min_profit_bps no crossing reaches: every book screened, nothing traded
RECORDED_ROUNDS = 5  # latest-book samples per venue and symbol for the capacity run
CHANNEL_WINDOW = 32  # books in flight to the detector when it is fed through its channel


def parse_load(text: str) -> tuple[int, int]:
    venues, _, symbols = text.lower().partition("x")
    return int(venues), int(symbols)


def _get(ref: Any, timeout_s: float = 30.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout_s)


def counts(deployment: Any) -> dict[str, Any]:
    """Books taken in by every detector shard and received / conflated by every exchange actor, now."""
    shards = {name: _get(actor(name).ingest.remote(0))["updates"] for name in deployment.detector_names}
    received = conflated = 0
    for venue in deployment.venue_names:
        books = _get(actor(f"exchange:{venue}").health.remote())["books"]
        received += books["received"]
        conflated += books["conflated"]
    return {"at": time.monotonic(), "shards": shards, "received": received, "conflated": conflated}


def market_rules(deployment: Any) -> dict[tuple[str, str], Any]:
    """Every venue's market rules (fees included) per (venue, symbol), as the detector loads them."""
    return {(venue, symbol): rules for venue in deployment.venue_names
            for symbol, rules in _get(actor(f"exchange:{venue}").market_rules.remote()).items()}


def recorded_books(deployment: Any) -> list[Any]:
    """Each exchange actor's latest book of every symbol, as the FloatBook the detector receives."""
    from execution.types import FloatBook

    books = []
    for venue in deployment.venue_names:
        for symbol in deployment.symbols:
            book = _get(actor(f"exchange:{venue}").latest_book.remote(symbol))
            if book is not None and book.bids and book.asks:
                books.append(FloatBook(venue, symbol, tuple((float(p), float(a)) for p, a in book.bids),
                                       tuple((float(p), float(a)) for p, a in book.asks)))
    return books


def measure_window(job: Any, warmup_s: float, seconds: float, record_books: bool = True) -> dict[str, Any]:
    """Ingest over ``seconds`` after ``warmup_s``, in a running job: rates, ages at use, recorded books."""
    deployment = job.deployment
    wait_for("every detector shard taking books", lambda: job.deployment is not None and all(
        _get(actor(name).ingest.remote(0))["updates"] > 0 for name in job.deployment.detector_names),
        timeout_s=STARTUP_S, interval_s=0.5)
    deployment = job.deployment
    time.sleep(warmup_s)
    first = counts(deployment)
    books: list[Any] = []
    deadline = first["at"] + seconds
    rounds = RECORDED_ROUNDS if record_books else 0
    for round_ in range(rounds):  # spread over the window
        time.sleep(max(0.0, (deadline - time.monotonic()) / (rounds - round_ + 1)))
        books += recorded_books(deployment)
    time.sleep(max(0.0, deadline - time.monotonic()))
    last = counts(deployment)
    elapsed = last["at"] - first["at"]
    ages: list[float] = []
    per_shard = {}
    for name in deployment.detector_names:
        taken = last["shards"][name] - first["shards"][name]
        per_shard[name] = taken / elapsed
        if taken > 0:  # one host, one clock: a negative age is the clock's resolution
            ages += [max(0.0, a) for a in _get(actor(name).ingest.remote(taken), 60)["book_ages_s"]]
    return {
        "seconds": elapsed,
        "ingest_per_s": sum(last["shards"][n] - first["shards"][n] for n in deployment.detector_names) / elapsed,
        "per_shard_per_s": per_shard,
        "received_per_s": (last["received"] - first["received"]) / elapsed,
        "conflated_per_s": (last["conflated"] - first["conflated"]) / elapsed,
        "age": summarize_latencies(ages),
        "books": books,
        "rules": market_rules(deployment) if record_books else {},
    }


def detector_capacity(books: list[Any], rules: dict[tuple[str, str], Any], seconds: float) -> float:
    """Books per second one detector decodes from channel frames and screens, fed as fast as it takes them."""
    from decimal import Decimal

    from actors.transport.methods import HOT_PATH
    from actors.transport.wire import HEADER, decode_request, encode_request
    from execution.detector import ArbitrageDetector

    if not books:
        return 0.0
    detector = ArbitrageDetector(rules, min_profit_bps=Decimal(NO_TRADING_BPS), max_book_age_s=1e9,
                                 max_notional=Decimal("500"))
    for venue in {b.exchange for b in books}:
        detector.set_inventory(venue, {asset: Decimal(10**9) for r in rules.values() for asset in (r.base, r.quote)})
    interface = {b"on_book": (HOT_PATH.args_decoder(b"on_book"),)}
    frames = [bytes(encode_request(i, b"on_book", (book,)))[HEADER.size:] for i, book in enumerate(books)]
    taken = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for frame in frames:
            _, _, _, (book,) = decode_request(frame, interface)
            for detection in detector.on_book(book):
                detector.release((detection.opportunity.symbol, detection.opportunity.buy_exchange,
                                  detection.opportunity.sell_exchange))
        taken += len(frames)
    return taken / (time.perf_counter() - started)


def channel_ingest(deployment: Any, books: list[Any], seconds: float, realtime_priority: int) -> dict[str, float]:
    """One detector shard fed through its own channel from here, as fast as it answers (``CHANNEL_WINDOW`` books in
    flight), each pass over the recorded books stamped fresh: the real path (socket, frames, the actor's event loop,
    screening, the answer). Books per second it took in (the venues' own books included) and its CPU meanwhile."""
    import asyncio

    import psutil
    import uvloop

    shard = deployment.detector_names[0]
    process = psutil.Process(_get(actor(shard).health.remote())["pid"])
    before, cpu_before = _get(actor(shard).ingest.remote(0))["updates"], process.cpu_times()
    started = time.monotonic()
    failure: list[BaseException] = []

    def feed() -> None:  # its own thread: the real-time priority it takes ends with it
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                runner.run(_feed_books(deployment, shard, books, seconds, realtime_priority))
        except BaseException as exc:  # raised below, in the benchmark's thread
            failure.append(exc)

    thread = threading.Thread(target=feed, name="book-feeder", daemon=True)
    thread.start()
    thread.join(seconds + 120)
    if failure or thread.is_alive():
        raise RuntimeError("feeding the detector through its channel failed") from (failure[0] if failure else None)
    elapsed = time.monotonic() - started
    after, cpu_after = _get(actor(shard).ingest.remote(0))["updates"], process.cpu_times()
    busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    return {"per_s": (after - before) / elapsed, "detector_cpu": busy / elapsed}


async def _feed_books(deployment: Any, shard: str, books: list[Any], seconds: float, realtime_priority: int) -> None:
    """The exchange actors' own call (``on_book`` over the detector's channel), from one connection; answers are
    counted by callback, not awaited one by one, so the sender's Python is not what is measured."""
    import asyncio
    from dataclasses import replace

    from actors.hot_path import run_in_realtime
    from actors.transport import HOT_PATH, ChannelClient

    run_in_realtime(realtime_priority)  # as the exchange actors whose call this is, under the run's profile
    host, port = _get(actor(shard).channel_address.remote())
    client = await ChannelClient.connect(host, port, deployment.channels, HOT_PATH)
    outstanding, room, failures = 0, asyncio.Event(), []

    def answered(future: asyncio.Future) -> None:
        nonlocal outstanding
        outstanding -= 1
        room.set()
        if future.exception() is not None:
            failures.append(future.exception())

    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not failures:
            now = time.time()  # a pass lasts milliseconds: every book of it is well within max_book_age_ms
            for book in [replace(b, received_at=now) for b in books]:
                while outstanding >= CHANNEL_WINDOW:
                    room.clear()
                    await asyncio.wait_for(room.wait(), 30)
                _, future = client.send("on_book", (book,))
                outstanding += 1
                future.add_done_callback(answered)
        async with asyncio.timeout(30):
            while outstanding:
                room.clear()
                await room.wait()
    finally:
        client.close()
    if failures:  # a lost or failed answer is the benchmark's failure, not a figure
        raise RuntimeError(f"{len(failures)} book(s) not answered: {failures[0]!r}")


def run_load(venues: int, symbols: int, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    strategy: dict[str, Any] = {} if args.trade else {"min_profit_bps": NO_TRADING_BPS}
    with start_venues(directory, venues, symbols, args.update_hz, realtime_priority=args.venue_priority) as sim:
        job = make_job(sim.venues, directory / f"runs-{venues}x{symbols}", duration_s=None,
                       run={"profile": args.profile}, symbols=unified_symbols(symbols),
                       detector={"shards": args.shards}, **strategy)
        run = BackgroundRun(job).start()
        try:
            window = measure_window(job, args.warmup, args.seconds)
            window["channel"] = channel_ingest(job.deployment, window["books"], args.capacity_seconds,
                                               PROFILES[args.profile]["realtime_priority"])
        finally:
            job.stop()
            run.join(180)
    window["capacity_per_s"] = detector_capacity(window.pop("books"), window.pop("rules"), args.capacity_seconds)
    window["offered_per_s"] = venues * symbols * args.update_hz
    return window


def figures_of(load: str, result: dict[str, Any]) -> list[Figure]:
    ms = lambda v: None if v is None else round(v * 1000, 3)  # noqa: E731
    return [
        Figure(f"{load} ingest into the detector", round(result["ingest_per_s"]), "updates/s", target=">= 20,000"),
        Figure(f"{load} book age at use p50", ms(result["age"]["p50"]), "ms"),
        Figure(f"{load} book age at use p99", ms(result["age"]["p99"]), "ms", target="<= 20 ms"),
        Figure(f"{load} books from the venues", round(result["received_per_s"]), "updates/s"),
        Figure(f"{load} offered by the simulator (nominal)", round(result["offered_per_s"]), "updates/s"),
        Figure(f"{load} conflated (newer book replaced a waiting one)", round(result["conflated_per_s"]),
               "updates/s"),
        Figure(f"{load} detector capacity (decode + screen, one core)", round(result["capacity_per_s"]),
               "updates/s", target=">= 20,000"),
        Figure(f"{load} detector ingest fed through its channel as fast as it answers", round(
            result["channel"]["per_s"]), "updates/s", target=">= 20,000"),
        Figure(f"{load} detector's CPU meanwhile", round(100 * result["channel"]["detector_cpu"]), "% of a core"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", default="3x10,5x20", help="venues x symbols, comma-separated")
    parser.add_argument("--update-hz", type=float, default=200.0,
                        help="book updates per second per venue and symbol asked of the simulator")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window per load")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of books before the window")
    parser.add_argument("--shards", type=int, default=1, help="detector.shards")
    parser.add_argument("--capacity-seconds", type=float, default=5.0)
    parser.add_argument("--profile", default="standard", help="run.profile (standard or latency)")
    parser.add_argument("--venue-priority", type=int, default=0,
                        help="SCHED_FIFO priority of the venues (0: normal; a saturated real-time simulator "
                             "would starve rayarb of the CPU)")
    parser.add_argument("--trade", action="store_true", help="trade the crossings (default: screen only)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    results, figures = {}, []
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-ingest-") as directory:
        for load in [text for text in args.loads.split(",") if text]:
            venues, symbols = parse_load(load)
            result = run_load(venues, symbols, args, Path(directory))
            results[load] = result
            figures += figures_of(load, result)
    print(json.dumps({load: {f.name[len(load) + 1:]: f.value for f in figures if f.name.startswith(load + " ")}
                      | {"age_samples": results[load]["age"]["count"],
                         "per_shard_per_s": {n: round(v) for n, v in results[load]["per_shard_per_s"].items()}}
                      for load in results}, indent=2))
    command = "python -m benchmarks.bench_ingest " + " ".join(argv if argv is not None else sys.argv[1:])
    record("ingest", "Detector ingest: book updates per second into the detector, book age at use", command.strip(),
           figures, path=args.results,
           notes=f"Simulator asked for {args.update_hz:g} updates/s per venue and symbol; detector.shards "
                 f"{args.shards}; run.profile {args.profile}; {'trading' if args.trade else 'screening only'}. "
                 f"Age = detector's clock at screening - the exchange actor's receipt of the book.")


if __name__ == "__main__":
    main()
