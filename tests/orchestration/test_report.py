"""orchestration.report: the run report round trip (exact Decimals as strings, CSV columns), atomic writes,
nearest-rank latency percentiles, the report tables and the live status block."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from decimal import Decimal

import pytest

from execution.types import Fill, OrderSnapshot, OrderStatus, Side
from orchestration.report import files as report_module  # where the report files are written
from orchestration.report import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    LiveStatus,
    shown_money,
    ReportError,
    format_report,
    latency_histogram,
    load_run_report,
    slowest_ticks,
    summarize_latencies,
    write_run_report,
)

BUY_FILL = Fill("alpha", "BTC/USDT", Side.BUY, Decimal("50000.10"), Decimal("0.00100000"), Decimal("0.000001"),
                "BTC", "t-1", "arb-1-buy", "101", 1_700_000_000_123)
SELL_FILL = Fill("beta", "BTC/USDT", Side.SELL, Decimal("50020.3"), Decimal("0.001"), Decimal("0.0500203"),
                 "USDT", "t-9", "arb-1-sell", "202", 1_700_000_000_456)
BUY_ORDER = OrderSnapshot("alpha", "BTC/USDT", Side.BUY, "arb-1-buy", "101", OrderStatus.FILLED, Decimal("0.00100000"),
                          Decimal("0.00100000"), Decimal("50000.10"), Decimal("50000.10"), (BUY_FILL,),
                          1_700_000_000_200)
SELL_ORDER = {
    "client_order_id": "arb-1-sell", "exchange_order_id": "202", "exchange": "beta", "symbol": "BTC/USDT",
    "side": Side.SELL, "type": "limit", "tif": "IOC", "amount": Decimal("0.001"), "price": Decimal("50020.3"),
    "status": OrderStatus.FILLED, "filled": Decimal("0.001"), "created_ts_ms": 1_700_000_000_100,
    "updated_ts_ms": 1_700_000_000_460, "sent_ts": 1_700_000_000_101, "ack_ts": 1_700_000_000_104,
    "journal_seq": 7,
}
DENIED_ORDER = {
    "client_order_id": "arb-2-buy", "exchange_order_id": None, "exchange": "alpha", "symbol": "ETH/USDT",
    "side": "buy", "type": "limit", "tif": "IOC", "amount": Decimal("0.05"), "price": Decimal("3000.01"),
    "status": "denied", "filled": Decimal("0"), "created_ts": 1_700_000_001.25, "updated_ts": None,
}
SUMMARY = {
    "mode": "local-sim",
    "duration_s": 61.25,
    "started_at_ms": 1_700_000_000_000,
    "venues": {"alpha": {"exchange": "binance", "url": "http://127.0.0.1:18800"}, "beta": "http://127.0.0.1:18801"},
    "symbols": ["BTC/USDT", "ETH/USDT"],
    "opportunities_detected": 17,
    "opportunities_taken": 1,
    "one_legged_outcomes": [{"client_order_id": "arb-0-buy", "unwound": True, "loss": Decimal("0.12")}],
    "pnl": {"alpha": Decimal("-50.000100"), "beta": Decimal("50.0000000000000000001")},
    "pnl_currency": "USDT",
    "positions": {"alpha": {"BTC": Decimal("0.000999"), "USDT": Decimal("-50.0001")},
                  "beta": {"BTC": Decimal("-0.001"), "USDT": "49.9702797"}},
    "tick_to_order_s": [0.0035, 0.00125, 0.002, 0.00975],
    "kill_switch": None,
}


@pytest.fixture
def run_dir(tmp_path):
    directory = tmp_path / "run-1"
    write_run_report(directory, summary=SUMMARY, orders=[BUY_ORDER, SELL_ORDER, DENIED_ORDER],
                     fills=[BUY_FILL, SELL_FILL])
    return directory


def test_round_trip_keeps_decimals_exact_as_strings(run_dir):
    raw = json.loads((run_dir / "report.json").read_text())
    assert raw["pnl"]["per_venue"] == {"alpha": "-50.000100", "beta": "50.0000000000000000001"}
    assert raw["pnl"]["total"] == "-0.0000999999999999999"  # 1e-4 - 1e-19, exact
    assert raw["positions"]["beta"] == {"BTC": "-0.001", "USDT": "49.9702797"}
    assert raw["one_legged"] == 1 and raw["one_legged_outcomes"][0]["loss"] == "0.12"
    assert raw["orders"] == {"count": 3, "by_status": {"denied": 1, "filled": 2}}
    assert raw["fills"] == {"count": 2, "by_exchange": {"alpha": 1, "beta": 1}}
    assert raw["venues"]["beta"] == {"url": "http://127.0.0.1:18801"}
    assert raw["mode"] == "local-sim" and raw["duration_s"] == 61.25 and raw["kill_switch"] is None

    loaded = load_run_report(run_dir)
    assert loaded.report == raw
    buy = loaded.orders[0]
    assert buy["amount"] == Decimal("0.00100000") and str(buy["amount"]) == "0.00100000"
    assert buy["price"] == Decimal("50000.10") and str(buy["price"]) == "50000.10"
    assert buy["status"] == "filled" and buy["side"] == "buy"
    assert buy["updated_ts"] == 1_700_000_000_200 and buy["created_ts"] is None  # OrderSnapshot.ts_ms
    denied = loaded.orders[2]
    assert denied["exchange_order_id"] is None and denied["filled"] == Decimal("0")
    assert denied["created_ts"] == 1_700_000_001_250  # a float timestamp is epoch seconds (the journal's clock)
    fill = loaded.fills[1]
    assert fill == {
        "ts": 1_700_000_000_456, "exchange": "beta", "symbol": "BTC/USDT", "side": "sell",
        "price": Decimal("50020.3"), "amount": Decimal("0.001"), "fee": Decimal("0.0500203"), "fee_asset": "USDT",
        "trade_id": "t-9", "client_order_id": "arb-1-sell", "exchange_order_id": "202",
    }


def test_csv_columns_are_exactly_the_documented_ones(run_dir):
    with (run_dir / "orders.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(ORDER_COLUMNS) == [
        "client_order_id", "exchange_order_id", "exchange", "symbol", "side", "type", "tif", "amount", "price",
        "status", "filled", "created_ts", "updated_ts", "sent_ts", "ack_ts"]
    assert rows[2] == ["arb-1-sell", "202", "beta", "BTC/USDT", "sell", "limit", "IOC", "0.001", "50020.3", "filled",
                       "0.001", "1700000000100", "1700000000460", "1700000000101", "1700000000104"]
    with (run_dir / "fills.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(FILL_COLUMNS) == [
        "ts", "exchange", "symbol", "side", "price", "amount", "fee", "fee_asset", "trade_id", "client_order_id",
        "exchange_order_id"]
    assert rows[1] == ["1700000000123", "alpha", "BTC/USDT", "buy", "50000.10", "0.00100000", "0.000001", "BTC",
                       "t-1", "arb-1-buy", "101"]
    assert len(rows) == 3


def test_latency_summary_and_histogram_in_report(run_dir):
    latency = load_run_report(run_dir).report["latency"]["tick_to_order"]
    assert latency["unit"] == "s"
    assert (latency["count"], latency["p50"], latency["p99"], latency["min"], latency["max"]) == (
        4, 0.002, 0.00975, 0.00125, 0.00975)
    assert latency["samples_s"] == [0.0035, 0.00125, 0.002, 0.00975]
    histogram = dict(zip(latency["histogram"]["le"], latency["histogram"]["cumulative_counts"]))
    assert (histogram[0.001], histogram[0.002], histogram[0.005], histogram[0.01], histogram["+Inf"]) == (0, 2, 3, 4, 4)


def test_raw_samples_are_dropped_beyond_the_limit_but_stats_are_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "MAX_RAW_SAMPLES", 10)
    write_run_report(tmp_path, summary={"tick_to_order_s": list(range(1, 101))}, orders=[], fills=[])
    latency = load_run_report(tmp_path).report["latency"]["tick_to_order"]
    assert "samples_s" not in latency and latency["histogram"]["cumulative_counts"][-1] == 100
    assert (latency["count"], latency["p50"], latency["p90"], latency["p99"]) == (100, 50.0, 90.0, 99.0)


def test_summarize_latencies_nearest_rank():
    assert summarize_latencies(range(100, 0, -1))["p99"] == 99.0
    assert summarize_latencies([5.0])["p50"] == summarize_latencies([5.0])["p99"] == 5.0
    two = summarize_latencies([10.0, 1.0])
    assert (two["p50"], two["p99"], two["mean"]) == (1.0, 10.0, 5.5)
    odd = summarize_latencies([3, 1, 2])
    assert odd["p50"] == 2.0 and odd["method"] == "nearest-rank"
    empty = summarize_latencies([])
    assert empty["count"] == 0 and empty["p50"] is None
    with pytest.raises(ReportError):
        summarize_latencies([1.0, float("nan")])
    with pytest.raises(ReportError):
        summarize_latencies([-1.0, 2.0])


def test_latency_histogram_edges():
    histogram = latency_histogram([0.0005, 0.00051, 0.001, 6.0])
    cumulative = dict(zip(histogram["le"], histogram["cumulative_counts"]))
    assert cumulative[0.0005] == 1 and cumulative[0.001] == 3 and cumulative[5.0] == 3 and cumulative["+Inf"] == 4


def test_slowest_ticks_keep_each_sample_with_its_stages_and_first_leg():
    totals = [0.002, 0.009, 0.001, 0.005]
    stages = {"detect": [0.0005, 0.004, 0.0002, 0.001], "request": [0.0015, 0.005, 0.0008, 0.004]}
    legs = [("alpha", "rx-a", 1.0), ("beta", "rx-b", 2.0), ("gamma", "rx-c", 3.0), ("alpha", "rx-d", 4.0)]
    slowest = slowest_ticks(totals, stages, legs, count=2)
    assert slowest == [
        {"exchange": "beta", "client_order_id": "rx-b", "book_received_at": 2.0, "tick_to_order_s": 0.009,
         "stages_s": {"detect": 0.004, "request": 0.005}},
        {"exchange": "alpha", "client_order_id": "rx-d", "book_received_at": 4.0, "tick_to_order_s": 0.005,
         "stages_s": {"detect": 0.001, "request": 0.004}},
    ]
    assert slowest_ticks([], {"detect": []}, []) == []
    with pytest.raises(ReportError, match="aligned"):
        slowest_ticks(totals, {"detect": stages["detect"][:3]}, legs)


def test_timestamps_must_be_int_ms_or_float_seconds(tmp_path):
    with pytest.raises(ReportError, match="column ts: a float timestamp is epoch seconds"):
        write_run_report(tmp_path, summary={}, orders=[], fills=[{"ts": 1_700_000_000_000.0}])
    with pytest.raises(ReportError, match="column created_ts: expected epoch ms"):
        write_run_report(tmp_path, summary={}, orders=[{"created_ts": "yesterday"}], fills=[])


def test_a_write_interrupted_before_report_json_leaves_an_unfinished_report_and_no_temp_files(run_dir, monkeypatch):
    real_replace = os.replace

    def crash_on_report(src, dst):
        if str(dst).endswith("report.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(report_module.os, "replace", crash_on_report)
    with pytest.raises(OSError):
        write_run_report(run_dir, summary={**SUMMARY, "opportunities_detected": 99}, orders=[], fills=[])
    # Never an old report.json beside the new CSVs: the report is visibly unfinished.
    assert sorted(p.name for p in run_dir.iterdir()) == ["fills.csv", "orders.csv"]
    with pytest.raises(ReportError, match="no report.json"):
        load_run_report(run_dir)
    monkeypatch.setattr(report_module.os, "replace", real_replace)
    write_run_report(run_dir, summary={**SUMMARY, "opportunities_detected": 99}, orders=[], fills=[BUY_FILL])
    loaded = load_run_report(run_dir)
    assert loaded.report["opportunities_detected"] == 99 and loaded.orders == [] and len(loaded.fills) == 1


def test_csvs_changed_after_the_report_are_detected(run_dir):
    orders = run_dir / "orders.csv"
    orders.write_text(orders.read_text().replace("50020.3", "50020.4"))
    with pytest.raises(ReportError, match=r"orders\.csv does not match report\.json"):
        load_run_report(run_dir)


def test_a_bad_summary_writes_nothing(tmp_path):
    target = tmp_path / "bad"
    with pytest.raises(ReportError, match=r"summary\.pnl\.alpha: must be finite"):
        write_run_report(target, summary={"pnl": {"alpha": float("nan")}}, orders=[], fills=[])
    with pytest.raises(ReportError, match=r"summary\.opportunities_taken: expected a count"):
        write_run_report(target, summary={"opportunities_taken": -1}, orders=[], fills=[])
    assert not any(target.iterdir())


def test_load_refuses_incomplete_or_foreign_directories(tmp_path, run_dir):
    with pytest.raises(ReportError, match="no such run directory"):
        load_run_report(tmp_path / "missing")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "orders.csv").write_text(",".join(ORDER_COLUMNS) + "\n")
    with pytest.raises(ReportError, match="no report.json"):
        load_run_report(tmp_path / "half")
    (run_dir / "fills.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ReportError, match=r"fills\.csv does not match report\.json"):
        load_run_report(run_dir)
    raw = json.loads((run_dir / "report.json").read_text())
    raw["files"]["fills.csv"]["sha256"] = hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    (run_dir / "report.json").write_text(json.dumps(raw))
    with pytest.raises(ReportError, match="unexpected columns"):
        load_run_report(run_dir)
    (run_dir / "report.json").write_text("{}")
    with pytest.raises(ReportError, match="not a rayarb run report"):
        load_run_report(run_dir)


def test_format_report_prints_every_table_with_exact_values_and_pnl_at_the_currencys_precision(run_dir):
    text = format_report(run_dir)
    for title in ("Overview", "Venues (PnL and net position change)", "Latency", "Orders by venue, symbol and status",
                  "Fills by venue, symbol and side"):
        assert title in text
    assert "local-sim" in text and "-0.00010000" in text and "-0.0000999999999999999" not in text  # USDT: 8 places
    assert load_run_report(run_dir).report["pnl"]["total"] == "-0.0000999999999999999"  # kept exact in the file
    assert "http://127.0.0.1:18800" in text and "-50.000100" in text
    assert "0.0500203 USDT" in text and "0.000001 BTC" in text
    assert "denied" in text and "9.750" in text  # p99 in ms


def test_format_report_of_an_empty_run(tmp_path):
    write_run_report(tmp_path, summary={"mode": "paper"}, orders=[], fills=[])
    text = format_report(tmp_path)
    assert "paper" in text and text.count("(none)") >= 3


def test_live_status_renders_a_compact_block():
    status = LiveStatus(uptime_s=3725.9, mode="local-sim", book_age_ms={"beta": None, "alpha": 12.4, "gamma": 950.0},
                        opportunities_detected=40, opportunities_taken=3, orders=6, fills=7, one_legged=1,
                        pnl_total=Decimal("-1.50"), tick_to_order_p50_ms=3.1, tick_to_order_p99_ms=12.25,
                        max_book_age_ms=500, kill_switch="loss limit 50 USDT reached")
    lines = status.render().splitlines()
    assert lines[0] == ("rayarb local-sim up 1:02:05 | opps 40 detected / 3 taken | orders 6 fills 7 one-legged 1 "
                        "| PnL -1.50 USDT")
    assert lines[1] == "books: alpha 12ms  beta no book  gamma STALE 950ms | tick->order p50 3.100ms p99 12.250ms"
    assert lines[2] == "KILL SWITCH: loss limit 50 USDT reached"
    quiet = LiveStatus(uptime_s=5, mode="paper", pnl_total=Decimal("0.25")).render().splitlines()
    assert len(quiet) == 2 and "PnL +0.25 USDT" in quiet[0] and "p50 -ms" in quiet[1]
    assert status.render_line() == " | ".join(lines)  # one line per interval where stderr is not a terminal
    long = LiveStatus(uptime_s=5, mode="paper", pnl_total=Decimal("0.5760854269833333333333333667"))
    assert "PnL +0.57608543 USDT" in long.render_line()


def test_money_is_shown_at_its_currencys_precision():
    assert str(shown_money(Decimal("0.5760854269833333333333333667"), "USDT")) == "0.57608543"
    assert str(shown_money(Decimal("-1.50"), "USDT")) == "-1.50"  # never padded or cut when already short
    assert str(shown_money("12.345", "USD")) == "12.34" and str(shown_money("12.355", "USD")) == "12.36"
    assert shown_money(None, "USDT") == "" and str(shown_money("3", "BTC")) == "3"
