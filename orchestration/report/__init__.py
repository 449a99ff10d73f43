"""The run report: what a run leaves in its directory, how it is read back and printed, and the live status.

One job per module:

- ``errors``: ``ReportError``, the one error every part raises (the CLI prints it as one line);
- ``latency``: nearest-rank percentiles, the latency histogram, the slowest tick-to-order samples;
- ``files``: report.json, orders.csv and fills.csv, written atomically and read back with exact Decimals;
- ``shown``: how amounts are printed (money to its currency's precision, milliseconds);
- ``tables``: the report as text tables (``rayarb report RUN_DIR``);
- ``live``: the live status of a running run and how a terminal or a log shows it.

Every name is importable from ``orchestration.report`` itself.
"""
from orchestration.report.errors import ReportError
from orchestration.report.files import (FILL_COLUMNS, FILLS_CSV, MAX_RAW_SAMPLES, ORDER_COLUMNS, ORDERS_CSV,
                                        REPORT_FORMAT, REPORT_JSON, RunReport, RunReportPaths, build_report,
                                        load_run_report, write_run_report)
from orchestration.report.latency import HISTOGRAM_BOUNDS_S, latency_histogram, slowest_ticks, summarize_latencies
from orchestration.report.live import LiveStatus, StatusDisplay
from orchestration.report.shown import DEFAULT_MONEY_DECIMALS, MONEY_DECIMALS, shown_ms, shown_money
from orchestration.report.tables import format_report

__all__ = [
    "DEFAULT_MONEY_DECIMALS", "FILLS_CSV", "FILL_COLUMNS", "HISTOGRAM_BOUNDS_S", "LiveStatus", "MAX_RAW_SAMPLES",
    "MONEY_DECIMALS", "ORDERS_CSV", "ORDER_COLUMNS", "REPORT_FORMAT", "REPORT_JSON", "ReportError", "RunReport",
    "RunReportPaths", "StatusDisplay", "build_report", "format_report", "latency_histogram", "load_run_report", "shown_ms",
    "shown_money", "slowest_ticks", "summarize_latencies", "write_run_report",
]
