"""The run report's files: report.json, orders.csv and fills.csv in the run directory, written and read back.

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
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from orchestration.report.errors import ReportError
from orchestration.report.latency import latency_histogram, summarize_latencies

logger = logging.getLogger(__name__)

REPORT_FORMAT = "rayarb.run-report.v1"
REPORT_JSON = "report.json"
ORDERS_CSV = "orders.csv"
FILLS_CSV = "fills.csv"
MAX_RAW_SAMPLES = 10_000

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


# ------------------------------------------------------------------------------------------------------- writing


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


# ------------------------------------------------------------------------------------------------------- reading


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
    if directory.exists() and not directory.is_dir():
        raise ReportError(f"{directory}: a file, not a run directory")
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
