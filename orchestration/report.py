"""The run report (report.json, orders.csv, fills.csv in the run directory), its tables, and the live status block.

``write_run_report`` writes the three files atomically (temporary files, fsync, rename; report.json removed first and
renamed into place last, holding the CSVs' sha256), so a crash never leaves half a report: a present report.json means
the CSVs beside it are complete and are the ones it describes. Decimals are written as
their exact strings and read back as Decimal.

The ``summary`` given to ``write_run_report`` uses these keys (all optional; others are copied as they are):

==========================  ==================================================================================
``mode``                    "paper" | "live" | "local-sim"
``duration_s``              seconds the run lasted
``started_at_ms``           epoch ms
``venues``                  {venue: url} or {venue: {"exchange": id, "url": url or None}}
``symbols``                 ["BTC/USDT", ...]
``opportunities_detected``  int
``opportunities_taken``     int
``one_legged``              int (defaults to len(one_legged_outcomes))
``one_legged_outcomes``     [dict] one per one-legged outcome (what filled, how it was unwound)
``pnl``                     {venue: Decimal} realised PnL per venue in ``pnl_currency``; the total is computed
``pnl_currency``            "USDT"
``positions``               {venue: {asset: Decimal}} net position change per venue and asset
``tick_to_order_s``         [float] raw tick-to-order latency samples in seconds
==========================  ==================================================================================

In report.json ``pnl`` becomes {"currency", "per_venue", "total"}; ``tick_to_order_s`` becomes
``latency.tick_to_order`` = {"unit": "s", count, min, p50, p90, p99, max, mean (``summarize_latencies``), "samples_s"
(omitted beyond ``MAX_RAW_SAMPLES``), "histogram": {"le": [bounds in s..., "+Inf"], "cumulative_counts": [...]}};
``orders`` / ``fills`` hold counts and ``files`` the CSVs' sha256.

CSV timestamps (``ts``, ``created_ts``, ``updated_ts``, ``sent_ts``, ``ack_ts``) are epoch milliseconds. Given as an
int they are taken as ms; given as a float they are epoch seconds (the journal's ``time.time()`` clock) and converted.
"""
from __future__ import annotations

import csv
import dataclasses
import enum
import hashlib
import io
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

logger = logging.getLogger(__name__)

REPORT_FORMAT = "rayarb.run-report.v1"
REPORT_JSON = "report.json"
ORDERS_CSV = "orders.csv"
FILLS_CSV = "fills.csv"
MAX_RAW_SAMPLES = 10_000
# Upper bounds (s) of the latency histogram buckets; a last "+Inf" bucket holds everything.
HISTOGRAM_BOUNDS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)

ORDER_COLUMNS = (
    "client_order_id", "exchange_order_id", "exchange", "symbol", "side", "type", "tif", "amount", "price",
    "status", "filled", "created_ts", "updated_ts", "sent_ts", "ack_ts",
)
FILL_COLUMNS = (
    "ts", "exchange", "symbol", "side", "price", "amount", "fee", "fee_asset", "trade_id", "client_order_id",
    "exchange_order_id",
)
_DECIMAL_COLUMNS = frozenset({"amount", "price", "filled", "fee"})
_TS_COLUMNS = frozenset({"ts", "created_ts", "updated_ts", "sent_ts", "ack_ts"})
# Names the domain types use for the same columns (OrderSnapshot.ts_ms is the last update).
_ORDER_ALIASES = {"order_type": "type", "time_in_force": "tif", "ts_ms": "updated_ts", "created_ts_ms": "created_ts",
                  "updated_ts_ms": "updated_ts", "sent_ts_ms": "sent_ts", "ack_ts_ms": "ack_ts"}
_FILL_ALIASES = {"ts_ms": "ts", "timestamp": "ts"}


class ReportError(ValueError):
    """A run report cannot be written or read: a malformed summary, or a run directory without a complete report."""


@dataclass(frozen=True, slots=True)
class RunReportPaths:
    report_json: Path
    orders_csv: Path
    fills_csv: Path


@dataclass(frozen=True, slots=True)
class RunReport:
    """A run report as read back: report.json as plain data, CSV rows with Decimal money and int timestamps."""

    run_dir: Path
    report: dict[str, Any]
    orders: list[dict[str, Any]]
    fills: list[dict[str, Any]]


# ------------------------------------------------------------------------------------------------------- latency


def _nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The smallest sample with at least ``percent``% of all samples at or below it (nearest-rank method)."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_latencies(samples: Iterable[float]) -> dict[str, Any]:
    """Exact percentiles of latency samples (any one unit) by the nearest-rank method: no interpolation, every reported
    percentile is an observed sample. Returns count, min, p50, p90, p99, max, mean (None when there are no samples).
    """
    values = [float(s) for s in samples]
    bad = next((v for v in values if not math.isfinite(v) or v < 0), None)
    if bad is not None:
        raise ReportError(f"latency samples must be finite and >= 0, got {bad}")
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "min": None, "p50": None, "p90": None, "p99": None, "max": None, "mean": None,
                "method": "nearest-rank"}
    return {
        "count": len(ordered),
        "min": ordered[0],
        "p50": _nearest_rank(ordered, 50),
        "p90": _nearest_rank(ordered, 90),
        "p99": _nearest_rank(ordered, 99),
        "max": ordered[-1],
        "mean": math.fsum(ordered) / len(ordered),
        "method": "nearest-rank",
    }


def slowest_ticks(tick_to_order_s: Sequence[float], stages_s: Mapping[str, Sequence[float]],
                  first_legs: Sequence[tuple[str, str, float]], count: int = 10) -> list[dict[str, Any]]:
    """The ``count`` slowest tick-to-order samples, slowest first, each with where its time went: its first leg's
    venue and client order id, the book's arrival (epoch s) and every stage's share in seconds. The three sequences
    are aligned (one entry per taken opportunity, in the same order), as the order manager keeps them."""
    if len(first_legs) != len(tick_to_order_s) or any(len(s) != len(tick_to_order_s) for s in stages_s.values()):
        raise ReportError("tick-to-order samples, their stages and their first legs must be aligned")
    slowest = sorted(range(len(tick_to_order_s)), key=tick_to_order_s.__getitem__, reverse=True)[:count]
    return [{"exchange": first_legs[i][0], "client_order_id": first_legs[i][1], "book_received_at": first_legs[i][2],
             "tick_to_order_s": tick_to_order_s[i], "stages_s": {stage: s[i] for stage, s in stages_s.items()}}
            for i in slowest]


def latency_histogram(samples_s: Iterable[float]) -> dict[str, list[Any]]:
    """A cumulative histogram like Prometheus's: ``{"le": [bounds in s..., "+Inf"], "cumulative_counts": [...]}``."""
    counts = [0] * (len(HISTOGRAM_BOUNDS_S) + 1)
    for sample in samples_s:
        index = next((i for i, bound in enumerate(HISTOGRAM_BOUNDS_S) if sample <= bound), len(HISTOGRAM_BOUNDS_S))
        counts[index] += 1
    cumulative, running = [], 0
    for count in counts:
        running += count
        cumulative.append(running)
    return {"le": [*HISTOGRAM_BOUNDS_S, "+Inf"], "cumulative_counts": cumulative}


# -------------------------------------------------------------------------------------------------------- writing


def _jsonable(value: Any) -> Any:
    """Plain JSON data: Decimal -> exact string, Enum -> value, dataclass -> dict, non-finite float -> None."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(_jsonable(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _money(value: Any, key: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        raise ReportError(f"summary.{key}: expected a decimal amount, got {type(value).__name__}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ReportError(f"summary.{key}: expected a decimal amount, got {value!r}") from None
    if not amount.is_finite():
        raise ReportError(f"summary.{key}: must be finite, got {value!r}")
    return amount


def _count(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError(f"summary.{key}: expected a count (int >= 0), got {value!r}")
    return value


def _ts_ms(value: Any, column: str) -> int:
    """Epoch ms from an int (ms) or a float (epoch seconds, the journal's clock)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ReportError(f"column {column}: expected epoch ms (int) or epoch seconds (float), got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value) or value > 1e11:  # 1e11 s is the year 5138: this is ms given as a float
            raise ReportError(f"column {column}: a float timestamp is epoch seconds, got {value!r}")
        return round(value * 1000)
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)  # Decimal keeps its exact digits; float gives its shortest round-trip form


def _row(record: Any, columns: Sequence[str], aliases: Mapping[str, str]) -> dict[str, str]:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        record = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    if not isinstance(record, Mapping):
        raise ReportError(f"an order or fill must be a mapping or a dataclass, got {type(record).__name__}")
    merged = dict(record)
    for alias, column in aliases.items():
        if alias in merged and column not in merged:
            merged[column] = merged[alias]
    return {column: _cell(_ts_ms(merged[column], column) if column in _TS_COLUMNS and merged.get(column) is not None
                          else merged.get(column))
            for column in columns}


def _csv_text(rows: Iterable[Any], columns: Sequence[str], aliases: Mapping[str, str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for record in rows:
        writer.writerow(_row(record, columns, aliases))
    return buffer.getvalue()


def _write_temp(path: Path, text: str) -> Path:
    """Write ``text`` durably to a temporary file beside ``path`` and return its name."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        _unlink_quietly(Path(tmp_name))
        raise
    return Path(tmp_name)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def build_report(summary: Mapping[str, Any], orders: Sequence[Any], fills: Sequence[Any]) -> dict[str, Any]:
    """The report.json content (plain JSON data) for a summary and its orders and fills."""
    if not isinstance(summary, Mapping):
        raise ReportError(f"summary must be a mapping, got {type(summary).__name__}")
    report: dict[str, Any] = {"format": REPORT_FORMAT, "written_at_ms": int(time.time() * 1000)}
    rest = dict(summary)

    report["mode"] = rest.pop("mode", None)
    report["duration_s"] = rest.pop("duration_s", None)
    report["started_at_ms"] = rest.pop("started_at_ms", None)
    venues = rest.pop("venues", {}) or {}
    report["venues"] = {str(name): (dict(info) if isinstance(info, Mapping) else {"url": info})
                        for name, info in venues.items()}
    report["symbols"] = list(rest.pop("symbols", []) or [])
    report["opportunities_detected"] = _count(rest.pop("opportunities_detected", 0), "opportunities_detected")
    report["opportunities_taken"] = _count(rest.pop("opportunities_taken", 0), "opportunities_taken")
    outcomes = list(rest.pop("one_legged_outcomes", []) or [])
    report["one_legged"] = _count(rest.pop("one_legged", len(outcomes)), "one_legged")
    report["one_legged_outcomes"] = outcomes

    per_venue = {str(venue): _money(amount, f"pnl.{venue}") for venue, amount in (rest.pop("pnl", {}) or {}).items()}
    report["pnl"] = {"currency": rest.pop("pnl_currency", None), "per_venue": per_venue,
                     "total": sum(per_venue.values(), Decimal(0))}
    report["positions"] = {
        str(venue): {str(asset): _money(amount, f"positions.{venue}.{asset}") for asset, amount in assets.items()}
        for venue, assets in (rest.pop("positions", {}) or {}).items()
    }

    report["latency"] = {}
    for name in ("tick_to_order", "order_round_trip"):  # book received -> first leg sent; a leg's request -> answer
        if f"{name}_s" not in rest and name != "tick_to_order":
            continue
        samples = [float(s) for s in (rest.pop(f"{name}_s", []) or [])]
        latency = {"unit": "s", **summarize_latencies(samples), "histogram": latency_histogram(samples)}
        if len(samples) <= MAX_RAW_SAMPLES:
            latency["samples_s"] = samples
        report["latency"][name] = latency

    order_rows = [_row(o, ORDER_COLUMNS, _ORDER_ALIASES) for o in orders]
    fill_rows = [_row(f, FILL_COLUMNS, _FILL_ALIASES) for f in fills]
    by_status: dict[str, int] = {}
    for row in order_rows:
        by_status[row["status"] or "?"] = by_status.get(row["status"] or "?", 0) + 1
    by_exchange: dict[str, int] = {}
    for row in fill_rows:
        by_exchange[row["exchange"] or "?"] = by_exchange.get(row["exchange"] or "?", 0) + 1
    report["orders"] = {"count": len(order_rows), "by_status": dict(sorted(by_status.items()))}
    report["fills"] = {"count": len(fill_rows), "by_exchange": dict(sorted(by_exchange.items()))}
    for key, value in rest.items():
        report.setdefault(str(key), value)
    return _jsonable(report)


def write_run_report(
    run_dir: str | os.PathLike[str], *, summary: Mapping[str, Any], orders: Sequence[Any], fills: Sequence[Any]
) -> RunReportPaths:
    """Write report.json, orders.csv and fills.csv into ``run_dir`` (created if needed), each atomically.

    ``orders`` and ``fills`` are mappings or dataclasses (e.g. ``OrderSnapshot`` / ``Fill``) with the CSV column names
    (``ORDER_COLUMNS``, ``FILL_COLUMNS``). The CSVs are written first and report.json last.
    """
    directory = Path(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    report = build_report(summary, orders, fills)
    paths = RunReportPaths(directory / REPORT_JSON, directory / ORDERS_CSV, directory / FILLS_CSV)
    orders_text = _csv_text(orders, ORDER_COLUMNS, _ORDER_ALIASES)
    fills_text = _csv_text(fills, FILL_COLUMNS, _FILL_ALIASES)
    report["files"] = {ORDERS_CSV: {"sha256": _sha256(orders_text)}, FILLS_CSV: {"sha256": _sha256(fills_text)}}
    report_text = json.dumps(report, indent=2, allow_nan=False) + "\n"
    temps: list[Path] = []
    try:
        for path, text in ((paths.orders_csv, orders_text), (paths.fills_csv, fills_text),
                           (paths.report_json, report_text)):
            temps.append(_write_temp(path, text))
        # report.json goes first and comes back last: a crash in between leaves no report.json (an unfinished report
        # that load_run_report names), never an old report.json beside new CSVs.
        _unlink_quietly(paths.report_json)
        for temp, path in zip(temps, (paths.orders_csv, paths.fills_csv, paths.report_json)):
            os.replace(temp, path)
    finally:
        for temp in temps:
            _unlink_quietly(temp)
    _fsync_dir(directory)
    logger.info("run report written to %s (%d orders, %d fills)", directory, len(orders), len(fills))
    return paths


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -------------------------------------------------------------------------------------------------------- reading


def _typed_row(row: Mapping[str, str], where: str) -> dict[str, Any]:
    typed: dict[str, Any] = {}
    for column, text in row.items():
        if text == "" or text is None:
            typed[column] = None
        elif column in _DECIMAL_COLUMNS:
            try:
                typed[column] = Decimal(text)
            except InvalidOperation:
                raise ReportError(f"{where}: column {column} holds {text!r}, not a decimal") from None
        elif column in _TS_COLUMNS:
            try:
                typed[column] = int(text)
            except ValueError:
                raise ReportError(f"{where}: column {column} holds {text!r}, not an integer") from None
        else:
            typed[column] = text
    return typed


def _read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, Any]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or list(reader.fieldnames) != list(columns):
                raise ReportError(f"{path}: unexpected columns {reader.fieldnames}")
            return [_typed_row(row, f"{path} line {index + 2}") for index, row in enumerate(reader)]
    except OSError as e:
        raise ReportError(f"{path}: cannot read ({e.strerror or e})") from None


def load_run_report(run_dir: str | os.PathLike[str]) -> RunReport:
    """Read a run report back: report.json as plain data, orders and fills with Decimal money columns."""
    directory = Path(run_dir)
    report_path = directory / REPORT_JSON
    if not directory.is_dir():
        raise ReportError(f"{directory}: no such run directory")
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{directory}: no {REPORT_JSON} (the run did not finish writing its report)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise ReportError(f"{report_path}: cannot read ({e})") from None
    if not isinstance(report, dict) or report.get("format") != REPORT_FORMAT:
        raise ReportError(f"{report_path}: not a rayarb run report ({REPORT_FORMAT})")
    for name in (ORDERS_CSV, FILLS_CSV):
        expected = ((report.get("files") or {}).get(name) or {}).get("sha256")
        try:
            actual = _sha256((directory / name).read_text(encoding="utf-8"))
        except OSError as e:
            raise ReportError(f"{directory / name}: cannot read ({e.strerror or e})") from None
        if expected != actual:
            raise ReportError(f"{directory / name} does not match {REPORT_JSON} (changed after the report was written)")
    return RunReport(directory, report, _read_csv(directory / ORDERS_CSV, ORDER_COLUMNS),
                     _read_csv(directory / FILLS_CSV, FILL_COLUMNS))


# ------------------------------------------------------------------------------------------------------- printing


# Decimal places a currency's amounts are shown with: crypto assets (USDT included) carry 8 at Binance and OKX.
# report.json keeps every amount exact; only what is printed is rounded.
MONEY_DECIMALS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
DEFAULT_MONEY_DECIMALS = 8


def shown_money(amount: Any, currency: str | None) -> Decimal | str:
    """``amount`` rounded (half to even) to ``currency``'s precision when it has more places; as given otherwise."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    places = MONEY_DECIMALS.get((currency or "").upper(), DEFAULT_MONEY_DECIMALS)
    if value.is_finite() and value.as_tuple().exponent < -places:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return value


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _table(title: str, frame: Any) -> str:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_colwidth", 60):
        body = "(none)" if frame.empty else frame.to_string()
    return f"{title}\n{'-' * len(title)}\n{body}\n"


def format_report(run_dir: str | os.PathLike[str]) -> str:
    """The report of a run as text tables (pandas): overview, venues, latency, orders and fills."""
    import pandas as pd

    loaded = load_run_report(run_dir)
    report = loaded.report
    pnl = report.get("pnl") or {}
    currency = pnl.get("currency") or ""
    latency = (report.get("latency") or {}).get("tick_to_order") or {}
    overview = pd.DataFrame(
        [
            ("mode", report.get("mode")),
            ("duration (s)", report.get("duration_s")),
            ("symbols", ", ".join(report.get("symbols") or [])),
            ("opportunities detected", report.get("opportunities_detected")),
            ("opportunities taken", report.get("opportunities_taken")),
            ("orders", (report.get("orders") or {}).get("count")),
            ("fills", (report.get("fills") or {}).get("count")),
            ("one-legged outcomes", report.get("one_legged")),
            ("kill switch", report.get("kill_switch") or "off"),  # why trading stopped, if it did
            (f"PnL total {currency}".rstrip(), shown_money(pnl.get("total"), currency)),
        ],
        columns=["item", "value"],
    ).set_index("item")
    overview.index.name = None

    venue_names = sorted(set(report.get("venues") or {}) | set(pnl.get("per_venue") or {})
                         | set(report.get("positions") or {}))
    assets = sorted({asset for positions in (report.get("positions") or {}).values() for asset in positions})
    venue_rows = []
    for name in venue_names:
        info = (report.get("venues") or {}).get(name) or {}
        row = {"venue": name, "exchange": info.get("exchange") or "", "url": info.get("url") or "",
               f"pnl {currency}".rstrip(): shown_money((pnl.get("per_venue") or {}).get(name), currency)}
        for asset in assets:
            row[asset] = ((report.get("positions") or {}).get(name) or {}).get(asset, "")
        venue_rows.append(row)
    venues = pd.DataFrame(venue_rows).set_index("venue") if venue_rows else pd.DataFrame()

    latency_frame = pd.DataFrame(
        [{key: (latency.get(key) if key == "count" else _ms(None if latency.get(key) is None else latency[key] * 1000))
          for key in ("count", "min", "p50", "p90", "p99", "max", "mean")}],
        index=["tick-to-order (ms)"])

    orders = pd.DataFrame(loaded.orders, columns=list(ORDER_COLUMNS))
    if orders.empty:
        order_table = pd.DataFrame()
    else:
        order_table = pd.crosstab([orders["exchange"], orders["symbol"]], orders["status"].fillna("?"),
                                  margins=True, margins_name="total")

    fills = pd.DataFrame(loaded.fills, columns=list(FILL_COLUMNS))
    if fills.empty:
        fill_table = pd.DataFrame()
    else:
        fills["notional"] = [p * a for p, a in zip(fills["price"], fills["amount"])]
        fill_table = fills.groupby(["exchange", "symbol", "side"]).agg(
            fills=("trade_id", "count"),
            amount=("amount", lambda s: sum(s, Decimal(0))),
            notional=("notional", lambda s: sum(s, Decimal(0))),
        )
        fees = fills.groupby(["exchange", "symbol", "side", "fee_asset"])["fee"].apply(lambda s: sum(s, Decimal(0)))
        fee_text = fees.reset_index().groupby(["exchange", "symbol", "side"]).apply(
            lambda g: ", ".join(f"{fee} {asset}" for fee, asset in zip(g["fee"], g["fee_asset"])),
            include_groups=False)
        fill_table["fees"] = fee_text

    parts = [
        f"rayarb run report: {loaded.run_dir}\n",
        _table("Overview", overview),
        _table("Venues (PnL and net position change)", venues),
        _table("Latency", latency_frame),
        _table("Orders by venue, symbol and status", order_table),
        _table("Fills by venue, symbol and side", fill_table),
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------- live status


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """A snapshot of a running run, rendered as the terminal status block."""

    uptime_s: float
    mode: str
    book_age_ms: Mapping[str, float | None] = field(default_factory=dict)  # venue -> age of its freshest book
    opportunities_detected: int = 0
    opportunities_taken: int = 0
    orders: int = 0
    fills: int = 0
    one_legged: int = 0
    pnl_total: Decimal = Decimal(0)
    pnl_currency: str = "USDT"
    tick_to_order_p50_ms: float | None = None
    tick_to_order_p99_ms: float | None = None
    max_book_age_ms: float | None = None  # books older than this are marked stale
    kill_switch: str | None = None  # why the kill switch tripped, if it did

    def render(self) -> str:
        """Two or three compact lines: counters, venues with book age, and the kill switch when tripped (a terminal
        redraws them in place)."""
        return "\n".join(self._lines())

    def render_line(self) -> str:
        """The same as one line, for a log or a pipe: one line per interval."""
        return " | ".join(self._lines())

    def _lines(self) -> list[str]:
        seconds = int(self.uptime_s)
        uptime = f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        pnl_total = shown_money(self.pnl_total, self.pnl_currency)
        pnl = f"{'+' if pnl_total >= 0 else ''}{pnl_total}"
        lines = [
            f"rayarb {self.mode} up {uptime} | opps {self.opportunities_detected} detected / "
            f"{self.opportunities_taken} taken | orders {self.orders} fills {self.fills} "
            f"one-legged {self.one_legged} | PnL {pnl} {self.pnl_currency}",
        ]
        venues = []
        for venue, age in sorted(self.book_age_ms.items()):
            if age is None:
                venues.append(f"{venue} no book")
            elif self.max_book_age_ms is not None and age > self.max_book_age_ms:
                venues.append(f"{venue} STALE {age:.0f}ms")
            else:
                venues.append(f"{venue} {age:.0f}ms")
        lines.append(f"books: {'  '.join(venues) or '-'} | tick->order p50 {_ms(self.tick_to_order_p50_ms)}ms "
                     f"p99 {_ms(self.tick_to_order_p99_ms)}ms")
        if self.kill_switch:
            lines.append(f"KILL SWITCH: {self.kill_switch}")
        return lines
