"""Charts of a finished run, drawn from the files in its run directory (formats in docs/metrics.md).

``plot_run(run_dir)`` writes ``plots/pnl.png`` (PnL over time), ``plots/positions.png`` (positions per exchange and
asset over time) and ``plots/latency.png`` (tick-to-order distribution, plus order acknowledgement latency when
orders.csv has the timestamps). PnL and positions are computed from fills.csv in Decimal; values become floats only to
be drawn. Uses matplotlib's Agg canvas directly, so no display and no global backend switch are needed.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

FILL_COLUMNS = ("ts", "exchange", "symbol", "side", "price", "amount", "fee", "fee_asset", "trade_id",
                "client_order_id")


@dataclass(frozen=True, slots=True)
class FillRow:
    ts_ms: int
    exchange: str
    symbol: str
    side: str
    price: Decimal
    amount: Decimal
    fee: Decimal
    fee_asset: str

    @property
    def base(self) -> str:
        return self.symbol.split(":")[0].split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split(":")[0].split("/")[1]


def read_fills(path: Path) -> list[FillRow]:
    """fills.csv rows in time order; a repeated trade id (same exchange) is counted once."""
    if not path.exists():
        return []
    rows: list[FillRow] = []
    seen: set[tuple[str, str]] = set()
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in FILL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        for record in reader:
            key = (record["exchange"], record["trade_id"])
            if record["trade_id"] and key in seen:
                continue
            seen.add(key)
            rows.append(FillRow(
                ts_ms=int(record["ts"]), exchange=record["exchange"], symbol=record["symbol"],
                side=record["side"].lower(), price=Decimal(record["price"]), amount=Decimal(record["amount"]),
                fee=Decimal(record["fee"] or "0"), fee_asset=record["fee_asset"]))
    rows.sort(key=lambda r: r.ts_ms)
    return rows


def positions_over_time(fills: list[FillRow]) -> dict[tuple[str, str], list[tuple[int, Decimal]]]:
    """(exchange, asset) -> [(ts_ms, balance change since start)] after each fill touching it; fees deducted."""
    balance: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    series: dict[tuple[str, str], list[tuple[int, Decimal]]] = defaultdict(list)
    for fill in fills:
        sign = Decimal(1) if fill.side == "buy" else Decimal(-1)
        changes = {(fill.exchange, fill.base): sign * fill.amount,
                   (fill.exchange, fill.quote): -sign * fill.amount * fill.price}
        if fill.fee and fill.fee_asset:
            key = (fill.exchange, fill.fee_asset)
            changes[key] = changes.get(key, Decimal(0)) - fill.fee
        for key, change in changes.items():
            balance[key] += change
            series[key].append((fill.ts_ms, balance[key]))
    return dict(series)


def pnl_over_time(fills: list[FillRow]) -> dict[str, list[tuple[int, Decimal]]]:
    """quote asset -> [(ts_ms, PnL)]: quote cash flow plus net base inventory marked at the symbol's last fill price,
    fees deducted (a fee in the base asset is valued at the fill price)."""
    cash: dict[str, Decimal] = defaultdict(Decimal)
    inventory: dict[str, Decimal] = defaultdict(Decimal)  # symbol -> net base amount over all exchanges
    last_price: dict[str, Decimal] = {}
    symbols_of_quote: dict[str, set[str]] = defaultdict(set)
    series: dict[str, list[tuple[int, Decimal]]] = defaultdict(list)
    for fill in fills:
        sign = Decimal(1) if fill.side == "buy" else Decimal(-1)
        quote = fill.quote
        symbols_of_quote[quote].add(fill.symbol)
        inventory[fill.symbol] += sign * fill.amount
        cash[quote] -= sign * fill.amount * fill.price
        if fill.fee_asset == quote:
            cash[quote] -= fill.fee
        elif fill.fee_asset == fill.base:
            inventory[fill.symbol] -= fill.fee
        last_price[fill.symbol] = fill.price
        marked = sum((inventory[s] * last_price[s] for s in symbols_of_quote[quote]), Decimal(0))
        series[quote].append((fill.ts_ms, cash[quote] + marked))
    return dict(series)


def latency_samples(report: dict, name: str = "tick_to_order") -> tuple[list[float], list[tuple[float, int]]]:
    """From report.json's ``latency.<name>``: raw samples in seconds, and/or a histogram as [(le_s, cumulative)]."""
    entry = (report.get("latency") or {}).get(name) or {}
    samples = [float(s) for s in entry.get("samples_s", [])]
    histogram = entry.get("histogram") or {}
    buckets = [(math.inf if str(le) == "+Inf" else float(le), int(count))
               for le, count in zip(histogram.get("le", []), histogram.get("cumulative_counts", []))]
    return samples, buckets


LATENCY_BINS = 40


def latency_bins(samples_ms: list[float]) -> tuple[list[float], bool]:
    """Bin edges spanning the samples (ms), and whether the axis is logarithmic: log-spaced when the samples cover
    more than a factor of 30 (a tail of stalls beside a sub-millisecond body), evenly spaced otherwise."""
    low, high = min(samples_ms), max(samples_ms)
    if high <= low:
        return [low * 0.9, high * 1.1 if high > 0 else 1.0], False
    if low > 0 and high / low > 30:
        ratio = (high / low) ** (1 / LATENCY_BINS)
        return [low * ratio ** i for i in range(LATENCY_BINS + 1)], True
    step = (high - low) / LATENCY_BINS
    return [low + step * i for i in range(LATENCY_BINS + 1)], False


def _latency_histogram(axes: Any, samples_s: list[float], title: str) -> None:
    samples_ms = [s * 1e3 for s in samples_s]
    edges, log_axis = latency_bins(samples_ms)
    axes.hist(samples_ms, bins=edges)
    if log_axis:
        axes.set_xscale("log")
    ordered = sorted(samples_ms)
    p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    for value, style in ((p50, "--"), (p99, ":")):
        axes.axvline(value, color="black", linestyle=style, linewidth=1)
    axes.set_title(f"{title}\nn={len(samples_ms)}  p50 {p50:.2f} ms (dashed)  p99 {p99:.2f} ms (dotted)", fontsize=10)
    axes.set_xlabel("ms")


def ack_latencies(path: Path) -> dict[str, list[float]]:
    """exchange -> order acknowledgement latencies (s) from orders.csv's sent_ts / ack_ts (ms) where both are set."""
    if not path.exists():
        return {}
    result: dict[str, list[float]] = defaultdict(list)
    with path.open(newline="") as handle:
        for record in csv.DictReader(handle):
            sent, ack = record.get("sent_ts"), record.get("ack_ts")
            if sent and ack:
                result[record.get("exchange", "?")].append((int(ack) - int(sent)) / 1000.0)
    return dict(result)


def _from_zero(points: list[tuple[int, Decimal]], start_ms: int) -> tuple[list[datetime], list[float]]:
    """x/y to draw: the series starts at zero at the run's first fill, so a single change is still a visible step."""
    points = [(start_ms, Decimal(0))] + points
    return ([datetime.fromtimestamp(ts / 1000.0, tz=timezone.utc) for ts, _ in points],
            [float(value) for _, value in points])


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    return path


def _empty_note(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes)


def plot_run(run_dir: str | Path) -> dict[str, Path]:
    """Draw the run's charts into ``<run_dir>/plots/``; returns {"pnl"|"positions"|"latency": png path}."""
    run_dir = Path(run_dir)
    out = run_dir / "plots"
    out.mkdir(parents=True, exist_ok=True)
    fills = read_fills(run_dir / "fills.csv")
    report_path = run_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    charts: dict[str, Path] = {}
    start_ms = fills[0].ts_ms if fills else 0

    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot()
    pnl = pnl_over_time(fills)
    for quote, points in sorted(pnl.items()):
        axes.step(*_from_zero(points, start_ms), where="post", marker=".", label=f"PnL ({quote})")
    if not pnl:
        _empty_note(axes, "no fills")
    else:
        axes.legend()
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.set_title("PnL over time (marked at last fill price, net of fees)")
    axes.set_xlabel("time (UTC)")
    charts["pnl"] = _save(figure, out / "pnl.png")

    positions = positions_over_time(fills)
    assets = sorted({asset for _, asset in positions})
    figure = Figure(figsize=(10, 3 * max(1, len(assets))), layout="constrained")
    for index, asset in enumerate(assets or ["-"]):
        axes = figure.add_subplot(max(1, len(assets)), 1, index + 1)
        for (exchange, key_asset), points in sorted(positions.items()):
            if key_asset == asset:
                axes.step(*_from_zero(points, start_ms), where="post", marker=".", label=exchange)
        if assets:
            axes.set_title(f"{asset} position per exchange")
            axes.legend()
        else:
            _empty_note(axes, "no fills")
    charts["positions"] = _save(figure, out / "positions.png")

    samples, buckets = latency_samples(report)
    round_trips, _ = latency_samples(report, "order_round_trip")
    figure = Figure(figsize=(10, 4), layout="constrained")
    axes = figure.add_subplot(1, 2, 1)
    if samples:
        _latency_histogram(axes, samples, "tick to order")
    elif buckets:
        finite = [(le, count) for le, count in buckets if math.isfinite(le)]
        per_bucket = [count - (finite[i - 1][1] if i else 0) for i, (_, count) in enumerate(finite)]
        axes.bar(range(len(finite)), per_bucket)
        axes.set_xticks(range(len(finite)), [f"{le * 1e3:g}" for le, _ in finite], rotation=60)
        axes.set_title("tick to order (histogram, le in ms)")
    else:
        _empty_note(axes, "no tick-to-order latency in report.json")
    axes = figure.add_subplot(1, 2, 2)
    acks = {} if round_trips else ack_latencies(run_dir / "orders.csv")
    if round_trips:
        _latency_histogram(axes, round_trips, "order round trip: request sent -> answer")
    elif acks:  # reports written before round trips were kept: whole milliseconds from orders.csv
        axes.boxplot([acks[e] for e in sorted(acks)], tick_labels=sorted(acks))
        axes.set_yscale("log")
        axes.set_title("order acknowledgement latency (s, whole ms)")
    else:
        _empty_note(axes, "no order round trips in report.json")
    charts["latency"] = _save(figure, out / "latency.png")
    logger.info("run charts written to %s", out)
    return charts
