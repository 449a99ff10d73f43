"""Venue order throughput: signed ``create_order`` calls per second and their latency, seen by async ccxt clients.

The venue runs in a separate process (``simulator.launcher.VenueProcess``, i.e. ``rayarb sim``) so that the clients'
CPU does not count against it; its own CPU use is read from /proc and reported, which tells whether the venue or the
clients are the bottleneck. Each worker owns one ccxt async client (rate limiter off, as ``make_exchange`` sets for a
local URL) and sends IOC limit orders that cross the spread, alternating buy and sell, so every order matches,
fills, moves balances and emits a depth update: the venue's full order path.

    python -m benchmarks.bench_venue_orders [--concurrency 1,16] [--seconds 5] [--warmup 1] [--rate 800]

Closed loop by default: each worker sends its next order when the previous one is answered, so the figures are the
most the clients and the venue can do together, and the latency is that of a saturated system (Little's law: 16
orders in flight at N orders/s wait 16/N s on average, whatever the venue does). ``--rate N`` offers N orders/s in
total instead (open loop, the workers' clients as a pool of at most ``concurrency`` orders in flight): the latency
of each order is counted from the moment it was due, so an order that waited for a free client, or for a venue that
fell behind, shows that wait (no coordinated omission).

The issue's target (>= 800 orders/s at concurrency 16 with p99 <= 15 ms) is measured with the 16 clients in two
processes, so that the load generator keeps headroom (one ccxt process doing 800 orders/s runs at ~80 % of a core, and
its own queue then makes the p99: BENCHMARKS.md):

    python -m benchmarks.bench_venue_orders --concurrency 16 --rate 800 --processes 2 --seconds 60

Not a test: it prints a table (and ``--json`` figures) to record in BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results import Figure, record  # noqa: E402
from execution.api.venue import make_exchange  # noqa: E402
from simulator.launcher import VenueEndpoint, VenueProcess  # noqa: E402

SYMBOL = "BTC/USDT"
ORDER_QTY = 0.0002  # ~12 USDT at 60000: above the 5 USDT minimum notional
PRICE_MARGIN = Decimal("0.005")  # IOC limits 0.5 % through the touch: they always fill
CLIENT_TIMEOUT_MS = 10_000


def machine() -> dict[str, Any]:
    import aiohttp
    import ccxt

    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio"
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version(), "ccxt": ccxt.__version__,
            "aiohttp": aiohttp.__version__, "loop": loop, "platform": platform.platform()}


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


class RawOrderClient:
    """A minimal signed-order client (aiohttp, no ccxt): shows what the venue does without ccxt's client cost."""

    def __init__(self, venue: VenueEndpoint) -> None:
        import aiohttp

        self.venue = venue
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_MS / 1000))
        self._order_id = 0

    async def load_markets(self) -> None:
        return None

    async def fetch_ticker(self, symbol: str) -> dict[str, Any]:
        async with self.session.get(f"{self.venue.url}/api/v3/ticker/bookTicker?symbol=BTCUSDT") as response:
            book = await response.json()
        return {"ask": book["askPrice"], "bid": book["bidPrice"]}

    async def create_order(self, symbol: str, order_type: str, side: str, amount: float, price: float,
                           params: dict[str, Any]) -> dict[str, Any]:
        self._order_id += 1
        query = urlencode({"symbol": "BTCUSDT", "side": side.upper(), "type": "LIMIT", "timeInForce": "IOC",
                           "quantity": f"{amount:.5f}", "price": f"{price:.2f}",
                           "newOrderRespType": params.get("newOrderRespType", "FULL"),
                           "newClientOrderId": f"raw-{id(self)}-{self._order_id}",
                           "timestamp": int(time.time() * 1000), "recvWindow": 10000})
        signature = hmac.new(self.venue.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        async with self.session.post(f"{self.venue.url}/api/v3/order", data=f"{query}&signature={signature}",
                                     headers={"X-MBX-APIKEY": self.venue.api_key,
                                              "Content-Type": "application/x-www-form-urlencoded"}) as response:
            body = await response.json(content_type=None)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status} code {body.get('code')}")
            return body

    async def close(self) -> None:
        await self.session.close()


async def _client_side(venue: VenueEndpoint, concurrency: int, measure_from: float, stop_at: float,
                       worker_offset: int, client_kind: str = "ccxt", response: str = "FULL",
                       rate: float = 0.0) -> dict[str, Any]:
    """One client process: ``concurrency`` workers, each with its own client, until wall time ``stop_at``; closed
    loop, or ``rate`` orders/s offered (open loop) when it is above zero."""
    if client_kind == "raw":
        clients: list[Any] = [RawOrderClient(venue) for _ in range(concurrency)]
    else:
        clients = [make_exchange(url=venue.url, flavour="async", api_key=venue.api_key, secret=venue.secret,
                                 timeout_ms=CLIENT_TIMEOUT_MS) for _ in range(concurrency)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    cpu_at_start: list[float] = []
    try:
        await asyncio.gather(*(client.load_markets() for client in clients))
        gc.freeze()  # the clients' markets and sessions live for the run: keep full collections off them
        ticker = await clients[0].fetch_ticker(SYMBOL)
        buy_price = float(Decimal(str(ticker["ask"])) * (1 + PRICE_MARGIN))
        sell_price = float(Decimal(str(ticker["bid"])) * (1 - PRICE_MARGIN))

        async def send(client: Any, side_buy: bool, since: float, measured: bool) -> None:
            """One order; its latency counted from ``since``, its failure counted (not fatal: the figures say how
            many failed)."""
            try:
                await client.create_order(SYMBOL, "limit", "buy" if side_buy else "sell", ORDER_QTY,
                                          buy_price if side_buy else sell_price,
                                          {"timeInForce": "IOC", "newOrderRespType": response})
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            else:
                if measured:
                    latencies.append(time.perf_counter() - since)

        async def worker(index: int, client: Any) -> None:
            side_buy = index % 2 == 0
            while True:
                now = time.time()
                if now >= stop_at:
                    return
                measured = now >= measure_from
                if measured and not cpu_at_start:
                    cpu_at_start.append(time.process_time())
                await send(client, side_buy, time.perf_counter(), measured)
                side_buy = not side_buy

        async def offered(scheduled: float, measured: bool, client: Any, side_buy: bool,
                          free: asyncio.Queue) -> None:
            try:
                await send(client, side_buy, scheduled, measured)  # from when it was due
            finally:
                free.put_nowait(client)

        async def open_loop() -> None:
            free: asyncio.Queue = asyncio.Queue(maxsize=len(clients))  # the pool: at most one order per client
            for client in clients:
                free.put_nowait(client)
            wall_to_perf = time.perf_counter() - time.time()
            start = time.perf_counter()
            sends: set[asyncio.Task] = set()
            side_buy = worker_offset % 2 == 0
            for k in itertools.count():
                scheduled = start + k / rate
                if scheduled >= stop_at + wall_to_perf:
                    break
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
                client = await free.get()  # late when every client is busy: that wait is in the latency
                measured = scheduled >= measure_from + wall_to_perf
                if measured and not cpu_at_start:
                    cpu_at_start.append(time.process_time())
                task = asyncio.get_running_loop().create_task(offered(scheduled, measured, client, side_buy, free))
                sends.add(task)
                task.add_done_callback(sends.discard)
                side_buy = not side_buy
            await asyncio.gather(*sends)

        if rate > 0:
            await open_loop()
        else:
            await asyncio.gather(*(worker(worker_offset + i, c) for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    client_cpu = time.process_time() - cpu_at_start[0] if cpu_at_start else 0.0
    return {"latencies": latencies, "errors": errors, "client_cpu_s": client_cpu}


def _client_process(venue: VenueEndpoint, concurrency: int, measure_from: float, stop_at: float,
                    worker_offset: int, client_kind: str, response: str, rate: float) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(_client_side(venue, concurrency, measure_from, stop_at, worker_offset, client_kind, response,
                                    rate))


def run_level(venue: VenueEndpoint, pid: int, concurrency: int, processes: int, seconds: float,
              warmup: float, client_kind: str = "ccxt", response: str = "FULL", rate: float = 0.0) -> dict[str, Any]:
    """Measure one concurrency level, its workers (and the offered ``rate``, if any) spread over ``processes``
    client processes."""
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    start_up_s = 2.0 + 0.5 * concurrency  # client processes import ccxt and load markets before measuring
    measure_from = time.time() + start_up_s + warmup
    stop_at = measure_from + seconds
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        pending = [pool.apply_async(_client_process,
                                    (venue, share, measure_from, stop_at, sum(shares[:i]), client_kind, response,
                                     rate * share / concurrency))
                   for i, share in enumerate(shares)]
        time.sleep(max(0.0, measure_from - time.time()))
        venue_cpu_start = process_cpu_seconds(pid)
        time.sleep(max(0.0, stop_at - time.time()))
        venue_cpu = process_cpu_seconds(pid) - venue_cpu_start
        parts = [job.get(timeout=start_up_s + warmup + seconds + 60) for job in pending]
    latencies = sorted(latency for part in parts for latency in part["latencies"])
    errors: dict[str, int] = {}
    for part in parts:
        for name, count in part["errors"].items():
            errors[name] = errors.get(name, 0) + count
    client_cpu = sum(part["client_cpu_s"] for part in parts)
    return {
        "client": client_kind,
        "response": response,
        "concurrency": concurrency,
        "offered_per_s": rate or "closed loop",
        "client_processes": processes,
        "orders": len(latencies),
        "seconds": seconds,
        "orders_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "p999_ms": round(percentile(latencies, 0.999) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else float("nan"),
        "venue_cpu_pct": round(100 * venue_cpu / seconds, 1),
        "venue_cpu_ms_per_order": round(1000 * venue_cpu / len(latencies), 3) if latencies else float("nan"),
        "client_cpu_pct": round(100 * client_cpu / seconds, 1),
        "errors": errors,
    }


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    process = VenueProcess(("alpha",), base_port=0, seed=args.seed, log_level="WARNING",
                           realtime_priority=args.venue_priority)
    venue = process.start(timeout_s=60)[0]
    assert process.pid is not None
    try:
        return [run_level(venue, process.pid, c, args.processes, args.seconds, args.warmup, args.client, args.response,
                          args.rate) for c in args.concurrency]
    finally:
        process.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,16", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per concurrency level")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first")
    parser.add_argument("--processes", type=int, default=1,
                        help="client processes the workers of a level are spread over (default 1)")
    parser.add_argument("--client", choices=("ccxt", "raw"), default="ccxt",
                        help="ccxt async clients (the benchmark), or a minimal aiohttp client to see the venue alone")
    parser.add_argument("--response", choices=("FULL", "RESULT", "ACK"), default="FULL",
                        help="newOrderRespType: FULL (with the fills, what rayarb asks for), RESULT or ACK")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="orders/s offered in total (open loop, latency from when each order was due); "
                             "0: closed loop, as fast as the workers go")
    parser.add_argument("--venue-priority", type=int, default=0,
                        help="SCHED_FIFO priority of the venue's process, as if it had a machine of its own (0: the "
                             "normal policy, sharing the cores with the clients)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    results = run_all(args)
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu']}; python {info['python']}, ccxt {info['ccxt']}, "
          f"aiohttp {info['aiohttp']}, client loop {info['loop']}")
    print(f"client: {args.client}, newOrderRespType {args.response}, venue priority {args.venue_priority or 'normal'}")
    print("| concurrency | offered/s | client procs | orders | orders/s | p50 ms | p99 ms | p99.9 ms | venue CPU % "
          "| venue CPU ms/order | client CPU % | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        print(f"| {r['concurrency']} | {r['offered_per_s']} | {r['client_processes']} | {r['orders']} "
              f"| {r['orders_per_s']} | {r['p50_ms']} "
              f"| {r['p99_ms']} | {r['p999_ms']} | {r['venue_cpu_pct']} | {r['venue_cpu_ms_per_order']} "
              f"| {r['client_cpu_pct']} | {r['errors'] or '-'} |")
    if args.json:
        print(json.dumps({"machine": info, "results": results}, indent=2))
    command = " ".join(["python -m benchmarks.bench_venue_orders", *(argv if argv is not None else sys.argv[1:])])
    for r in results:
        load = f"{r['concurrency']} in flight" + (f", {r['offered_per_s']:g} offered/s" if args.rate else ", closed loop")
        record(f"venue_orders.c{r['concurrency']}", f"Venue order throughput (one simulated venue, ccxt clients, {load})",
               command, [Figure("orders per second", r["orders_per_s"], "1/s"),
                         Figure("latency p50", r["p50_ms"], "ms"), Figure("latency p99", r["p99_ms"], "ms"),
                         Figure("latency p99.9", r["p999_ms"], "ms"),
                         Figure("venue CPU per order", r["venue_cpu_ms_per_order"], "ms")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
