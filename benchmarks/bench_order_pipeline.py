"""Order pipeline: legs per second through order manager -> exchange actors -> venues, with the journal on, sustained.

What it measures: a whole `rayarb run` (MainJob on a local Ray: real actors, the journal with its intent log, real
simulator venues in a subprocess speaking both dialects: alpha and gamma Binance, beta OKX) is fed opportunities at a
fixed offered rate, open loop: opportunity i is due at start + i / rate and sent then (or at once if the sender is
late), whatever happened to the earlier ones. The detector cannot produce hundreds of opportunities a second from a
simulated market, so the opportunities are synthetic but valid (a symbol, two venues, an amount on the step grid above
the minimum notional, limit prices 1 % through the venues' books so both legs fill at once) and they travel the
detector's own way: an ``on_opportunity`` request over the order manager's direct channel (``actors.transport``:
the same ``Channels`` class, frame types and method). The run's own detector is on but trades nothing
(``min_profit_bps`` out of reach), and ``cooldown_s`` is 0, so the only limit left is the order manager's own (one leg
in flight per venue, symbol and side: the opportunities rotate over every symbol and venue pair).

Figures, over the window after ``--warmup``:
- **legs per second**: orders the venues received (their receipt times, ``/_sim/orders``) per second, with the offered
  rate (2 legs per opportunity) beside it;
- **latency**: opportunity due -> each leg's receipt at its venue (p50 / p99), and due -> the order manager's answer
  (both legs answered and settled; p50 / p99);
- **correct work**: after the run, every order a venue holds is journaled exactly once with the venue's order id, and
  every leg the journal holds as sent reached its venue; denials (the order manager's own refusals) are counted.

    python -m benchmarks.bench_order_pipeline [--rate 250] [--seconds 30] [--warmup 5] [--symbols 20]
                                              [--update-hz 5] [--profile standard]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from decimal import ROUND_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from benchmarks.loads import sim_config, symbol_specs, unified_symbols  # noqa: E402
from benchmarks.results import RESULTS, Figure, record  # noqa: E402
from orchestration.config.models import PROFILES  # noqa: E402
from orchestration.report import load_run_report, summarize_latencies  # noqa: E402
from simulator.launcher import VenueProcess  # noqa: E402
from tests.integration.runs import BackgroundRun, account_orders, actor, make_job, wait_for  # noqa: E402

VENUES = (("alpha", "binance"), ("beta", "okx"), ("gamma", "binance"))
STARTUP_S = 240.0
NO_DETECTION_BPS = 10_000  # the run's detector screens every book and takes nothing
THROUGH_BOOK = Decimal("0.01")  # limit prices this far through the book: both legs take liquidity at once
LEG_NOTIONAL = Decimal("12")  # quote currency per leg (the simulator's minimum notional is 5)
MAX_OUTSTANDING = 5_000  # opportunities sent and not answered yet (bounded: beyond it the sender records a drop)
ANSWER_TIMEOUT_S = 30.0


def venue_config(directory: Path, symbols: int, update_hz: float) -> Path:
    """A simulator config of the three venues, beta speaking OKX's dialect."""
    config = sim_config(len(VENUES), symbols, update_hz)
    for venue, (name, dialect) in zip(config["venues"], VENUES):
        venue["name"] = name
        venue["dialect"] = dialect
        if dialect == "okx":
            venue["accounts"][0]["passphrase"] = "BenchPassphrase1"
    path = directory / "sim-order-pipeline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _get(ref: Any, timeout_s: float = 60.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout_s)


def trade_plans(venues: list[str], symbols: list[str]) -> list[tuple[str, str, str]]:
    """(symbol, buy venue, sell venue), symbols turning fastest: a venue's side of a symbol comes back as late as can
    be, and each pair is followed by its reverse so inventories stay level."""
    pairs = [(a, b) for i, a in enumerate(venues) for b in venues[i + 1:]]
    plans = []
    for a, b in pairs:
        for buy, sell in ((a, b), (b, a)):
            plans += [(symbol, buy, sell) for symbol in symbols]
    return plans


def prices(venues: list[str], symbols: list[str]) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(venue, symbol) -> (buy limit, sell limit): 1 % through the current best ask and bid, on the tick grid."""
    limits = {}
    for venue in venues:
        rules = _get(actor(f"exchange:{venue}").market_rules.remote())
        for symbol in symbols:
            book = _get(actor(f"exchange:{venue}").latest_book.remote(symbol))
            tick = rules[symbol].price_tick
            ask, bid = Decimal(book.asks[0][0]), Decimal(book.bids[0][0])
            limits[(venue, symbol)] = ((ask * (1 + THROUGH_BOOK)).quantize(tick, ROUND_UP),
                                       (bid * (1 - THROUGH_BOOK)).quantize(tick))
    return limits


def amounts(symbols: int) -> dict[str, Decimal]:
    out = {}
    for spec, symbol in zip(symbol_specs(symbols), unified_symbols(symbols)):
        step = Decimal(spec["step_size"])
        out[symbol] = (LEG_NOTIONAL / Decimal(spec["fair_price"]) / step).to_integral_value(ROUND_UP) * step
    return out


class Feeder:
    """Sends opportunities to the order manager over its channel at a fixed rate, open loop, in its own thread."""

    def __init__(self, deployment: Any, plans: list[tuple[str, str, str]],
                 limits: dict[tuple[str, str], tuple[Decimal, Decimal]], amount: dict[str, Decimal],
                 rate: float, seconds: float, realtime_priority: int = 0) -> None:
        self.deployment, self.plans, self.limits, self.amount = deployment, plans, limits, amount
        self.rate, self.seconds, self.realtime_priority = rate, seconds, realtime_priority
        self.scheduling = "normal"
        self.due: dict[str, float] = {}  # opportunity id -> when it was due (wall clock)
        self.answers: dict[str, tuple[float, str]] = {}  # opportunity id -> (answered at, answer)
        self.dropped = 0  # not sent: MAX_OUTSTANDING unanswered already
        self.late_s: list[float] = []  # how late each was sent after its due time
        self.started_at = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        from actors.hot_path import run_in_realtime

        try:
            # it stands in for the detector, whose thread runs under the profile's real-time priority
            self.scheduling = run_in_realtime(self.realtime_priority)
            asyncio.run(self._feed())
        except BaseException as exc:  # reported by the benchmark
            self.error = exc

    async def _feed(self) -> None:
        from actors.common import ORDER_MANAGER
        from actors.peers import Peers
        from actors.transport import Channels
        from execution.messages import ArbitrageDetected

        channels = Channels(Peers(), self.deployment.channels)
        await channels.connect(ORDER_MANAGER)
        pending: set[asyncio.Task] = set()

        async def settle(opportunity_id: str, answer: Any) -> None:
            try:
                result = await answer
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                result = f"error:{type(exc).__name__}"
            self.answers[opportunity_id] = (time.time(), str(result))

        self.started_at = time.time()
        count = int(self.rate * self.seconds)
        for i in range(count):
            due = self.started_at + i / self.rate
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            opportunity_id = f"bench-{i}"
            if len(pending) >= MAX_OUTSTANDING:
                self.dropped += 1
                continue
            symbol, buy, sell = self.plans[i % len(self.plans)]
            now = time.time()
            message = ArbitrageDetected(
                opportunity_id=opportunity_id, symbol=symbol, buy_exchange=buy, sell_exchange=sell,
                amount=self.amount[symbol], buy_price=self.limits[(buy, symbol)][0],
                sell_price=self.limits[(sell, symbol)][1], expected_profit=Decimal("0"), detected_at=now,
                buy_book_received_at=now, sell_book_received_at=now)
            self.due[opportunity_id] = due
            self.late_s.append(now - due)
            task = asyncio.get_running_loop().create_task(settle(opportunity_id, channels.request(
                ORDER_MANAGER, "on_opportunity", message, timeout_s=ANSWER_TIMEOUT_S)))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending, timeout=ANSWER_TIMEOUT_S + 5)
        channels.close()


def measure(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    symbols = unified_symbols(args.symbols)
    with VenueProcess(None, config_path=venue_config(directory, args.symbols, args.update_hz), seed=21,
                      realtime_priority=args.venue_priority) as sim:
        sim.start(timeout_s=120)
        job = make_job(sim.venues, directory / "run", duration_s=None, run={"profile": args.profile},
                       symbols=symbols, min_profit_bps=NO_DETECTION_BPS, cooldown_s=0.0,
                       max_notional_per_trade="100", risk={"loss_limit": "1000000000", "max_one_legged": 1_000_000,
                                                           "max_open_exposure": "1000000000"})
        run = BackgroundRun(job).start()
        try:
            wait_for("every venue's books in the exchange actors", lambda: run.error is None and getattr(
                job, "baseline", None) is not None and all(
                _get(actor(f"exchange:{v}").latest_book.remote(s)) is not None
                for v, _ in VENUES for s in symbols), timeout_s=STARTUP_S, interval_s=0.5)
            venues = [v for v, _ in VENUES]
            feeder = Feeder(job.deployment, trade_plans(venues, symbols), prices(venues, symbols),
                            amounts(args.symbols), args.rate, args.warmup + args.seconds,
                            PROFILES[args.profile]["realtime_priority"])
            thread = threading.Thread(target=feeder.run, name="opportunity-feeder", daemon=True)
            thread.start()
            thread.join(args.warmup + args.seconds + ANSWER_TIMEOUT_S + 60)
            if feeder.error is not None:
                raise feeder.error
            wait_for("the order manager idle", lambda: _get(actor("order_manager").health.remote())["in_flight"] == 0,
                     timeout_s=120, interval_s=0.2)
        finally:
            job.stop()
            run.join(300)
        venue_orders = {v.name: account_orders(v.url) for v in sim.venues}
    from execution.journal import Journal

    journal = Journal(job.deployment.journal_path)
    try:
        journaled = journal.orders()
    finally:
        journal.close()
    report = load_run_report(job.run_dir).report
    return summarize(args, feeder, venue_orders, journaled, report)


def summarize(args: argparse.Namespace, feeder: Feeder, venue_orders: dict[str, list[dict]], journaled: list[Any],
              report: dict[str, Any]) -> dict[str, Any]:
    window_start = feeder.started_at + args.warmup
    window_end = feeder.started_at + args.warmup + args.seconds
    by_cid = Counter((o.exchange, o.client_order_id) for o in journaled)
    journal_rows = {(o.exchange, o.client_order_id): o for o in journaled}
    received = {}
    placed_twice = 0
    for venue, orders in venue_orders.items():
        counted = Counter(o["clientOrderId"] for o in orders)
        placed_twice += sum(1 for n in counted.values() if n > 1)
        for o in orders:
            received[(venue, o["clientOrderId"])] = o
    not_journaled = [key for key in received if key not in journal_rows]
    wrong_id = [key for key, o in received.items() if key in journal_rows
                and journal_rows[key].exchange_order_id not in (None, str(o["orderId"]))]
    sent_not_received = [key for key, o in journal_rows.items() if o.exchange_order_id and key not in received]
    leg_latency, in_window = [], 0
    for key, order in received.items():
        at = order["receivedTimeUs"] / 1e6
        if window_start <= at < window_end:
            in_window += 1
            row = journal_rows.get(key)
            due = feeder.due.get(row.opportunity_id) if row is not None else None
            if due is not None:
                leg_latency.append(max(0.0, at - due))
    answer_latency = [max(0.0, answered - feeder.due[oid]) for oid, (answered, _) in feeder.answers.items()
                      if window_start <= feeder.due[oid] < window_end]
    answers = Counter(answer.split(":")[0] if answer.startswith(("denied", "error")) else answer
                      for _, answer in feeder.answers.values())
    denied = Counter(answer for _, answer in feeder.answers.values() if answer.startswith(("denied", "error")))
    return {
        "offered_opportunities_per_s": args.rate, "offered_legs_per_s": 2 * args.rate,
        "legs_per_s": in_window / args.seconds, "legs_in_window": in_window,
        "leg_latency": summarize_latencies(leg_latency), "answer_latency": summarize_latencies(answer_latency),
        "sent": len(feeder.due), "answered": len(feeder.answers), "dropped_by_sender": feeder.dropped,
        "sender_late_p99_ms": round(1000 * summarize_latencies(max(0.0, s) for s in feeder.late_s)["p99"], 3)
        if feeder.late_s else None,
        "answers": dict(answers), "denied": dict(denied),
        "venue_orders": len(received), "journaled_orders": len(journaled),
        "journaled_twice": sum(1 for n in by_cid.values() if n > 1), "placed_twice_at_a_venue": placed_twice,
        "at_venue_not_journaled": len(not_journaled), "journal_venue_id_mismatch": len(wrong_id),
        "journaled_as_sent_not_at_venue": len(sent_not_received),
        "feeder_scheduling": feeder.scheduling,
        "outcomes": report.get("outcomes"), "hot_path_transport": report.get("hot_path", {}).get("transport"),
    }


def figures_of(result: dict[str, Any]) -> list[Figure]:
    ms = lambda v: None if v is None else round(v * 1000, 2)  # noqa: E731
    legs, answer = result["leg_latency"], result["answer_latency"]
    return [
        Figure("legs per second received by the venues (sustained)", round(result["legs_per_s"], 1), "legs/s",
               target=">= 500"),
        Figure("legs offered per second", result["offered_legs_per_s"], "legs/s"),
        Figure("opportunity due -> leg received by its venue p50", ms(legs["p50"]), "ms"),
        Figure("opportunity due -> leg received by its venue p99", ms(legs["p99"]), "ms"),
        Figure("opportunity due -> both legs answered p50", ms(answer["p50"]), "ms"),
        Figure("opportunity due -> both legs answered p99", ms(answer["p99"]), "ms"),
        Figure("opportunities denied by the order manager", sum(result["denied"].values()), "opportunities"),
        Figure("venue orders not journaled exactly once", result["at_venue_not_journaled"] + result["journaled_twice"]
               + result["journal_venue_id_mismatch"] + result["placed_twice_at_a_venue"], "orders", target="0"),
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=250.0, help="opportunities offered per second (2 legs each)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measurement window")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds fed before the window")
    parser.add_argument("--symbols", type=int, default=20, help="symbols the opportunities rotate over")
    parser.add_argument("--update-hz", type=float, default=5.0, help="simulator book updates per venue and symbol")
    parser.add_argument("--profile", default="standard", choices=sorted(PROFILES),
                        help="run.profile (the sender takes its real-time priority too)")
    parser.add_argument("--venue-priority", type=int, default=0, help="SCHED_FIFO priority of the venues (0: normal)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-pipeline-") as directory:
        result = measure(args, Path(directory))
    printable = {k: v for k, v in result.items() if k not in ("leg_latency", "answer_latency")}
    for name in ("leg_latency", "answer_latency"):
        printable[name + "_ms"] = {q: None if result[name][q] is None else round(result[name][q] * 1000, 2)
                                   for q in ("p50", "p90", "p99", "max")} | {"count": result[name]["count"]}
    print(json.dumps(printable, indent=2))
    command = "python -m benchmarks.bench_order_pipeline " + " ".join(argv if argv is not None else sys.argv[1:])
    record("order_pipeline", "Order pipeline: legs per second through order manager -> exchange actors -> venues, "
           "journal on", command.strip(), figures_of(result), path=args.results,
           notes=f"{args.rate:g} synthetic opportunities/s offered open loop over the order manager's channel, "
                 f"{args.symbols} symbols on 3 venues (2 Binance, 1 OKX dialect), {args.seconds:g} s window after "
                 f"{args.warmup:g} s; run.profile {args.profile} (the sender too: {result['feeder_scheduling']}); "
                 f"venues SCHED_FIFO priority {args.venue_priority or 'none'}. Latency from each opportunity's due "
                 f"time.")
    return result


if __name__ == "__main__":
    main()
