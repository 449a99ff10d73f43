"""RayarbMetrics on a private registry: names, units, label sets, and each metric moving when its event happens."""
from __future__ import annotations

from decimal import Decimal

import ccxt
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from execution.types import OrderType, Side
from metrics.definitions import (
    ARBITRAGE_OUTCOMES,
    CHANNEL_REFUSALS,
    ERROR_CLASSES,
    LATENCY_BUCKETS_S,
    ORDER_OUTCOMES,
    OTHER,
    REPLY_FIELDS,
    SKIP_REASONS,
    RayarbMetrics,
    assets_of,
    error_class_label,
    exchange_actor,
)

EXCHANGES = ("binance_a", "binance_b")
SYMBOLS = ("BTC/USDT", "ETH/USDT")


@pytest.fixture
def metrics() -> RayarbMetrics:
    m = RayarbMetrics(CollectorRegistry())
    m.init_labels(EXCHANGES, SYMBOLS)
    return m


def value(m: RayarbMetrics, name: str, **labels: str) -> float:
    result = m.registry.get_sample_value(name, labels)
    assert result is not None, f"no sample {name}{labels}"
    return result


def exposition(m: RayarbMetrics) -> str:
    return generate_latest(m.registry).decode()


def test_names_are_prefixed_and_counters_end_in_total(metrics):
    families = list(text_string_to_metric_families(exposition(metrics)))
    assert len(families) >= 20
    for family in families:
        assert family.name.startswith("rayarb_"), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds"), family.name
        for sample in family.samples:
            if family.type == "counter" and not sample.name.endswith("_created"):
                assert sample.name.endswith("_total"), sample.name


def test_buckets_cover_a_tenth_of_a_millisecond_to_ten_seconds(metrics):
    assert LATENCY_BUCKETS_S[0] == 0.0001 and LATENCY_BUCKETS_S[-1] == 10.0
    assert list(LATENCY_BUCKETS_S) == sorted(LATENCY_BUCKETS_S)
    bounds = {s.labels["le"] for f in text_string_to_metric_families(exposition(metrics))
              if f.name == "rayarb_tick_to_order_seconds" for s in f.samples if s.name.endswith("_bucket")}
    assert {"0.0001", "10.0", "+Inf"} <= bounds


def test_init_labels_creates_every_known_series_at_zero(metrics):
    for exchange in EXCHANGES:
        for field in REPLY_FIELDS:
            assert value(metrics, "rayarb_reply_mismatches_total", exchange=exchange, field=field) == 0
        for side in ("buy", "sell"):
            for outcome in ORDER_OUTCOMES:
                assert value(metrics, "rayarb_orders_total", exchange=exchange, side=side, outcome=outcome) == 0
        for order_type in ("limit", "market"):
            assert value(metrics, "rayarb_order_ack_seconds_count", exchange=exchange, order_type=order_type) == 0
        assert value(metrics, "rayarb_exchange_errors_total", exchange=exchange, error_class="InsufficientFunds") == 0
        for symbol in SYMBOLS:
            assert value(metrics, "rayarb_tick_to_order_seconds_count", exchange=exchange, symbol=symbol) == 0
            assert value(metrics, "rayarb_fills_total", exchange=exchange, symbol=symbol, side="sell") == 0
    for symbol in SYMBOLS:
        for reason in SKIP_REASONS:
            assert value(metrics, "rayarb_opportunities_skipped_total", symbol=symbol, reason=reason) == 0
        for outcome in ARBITRAGE_OUTCOMES:
            assert value(metrics, "rayarb_arbitrage_outcomes_total", symbol=symbol, outcome=outcome) == 0
    assert value(metrics, "rayarb_actor_restarts_total", actor=exchange_actor("binance_b")) == 0
    assert value(metrics, "rayarb_actor_restarts_total", actor="order_manager") == 0
    for reason in CHANNEL_REFUSALS:
        assert value(metrics, "rayarb_channel_refused_total", reason=reason) == 0


@pytest.mark.parametrize("event, sample, labels, expected", [
    (lambda m: m.observe_tick_to_order("binance_a", "BTC/USDT", 0.0042),
     "rayarb_tick_to_order_seconds_sum", {"exchange": "binance_a", "symbol": "BTC/USDT"}, 0.0042),
    (lambda m: m.observe_order_ack("binance_b", OrderType.LIMIT, 0.013),
     "rayarb_order_ack_seconds_sum", {"exchange": "binance_b", "order_type": "limit"}, 0.013),
    (lambda m: m.observe_order_fill("binance_a", "ETH/USDT", 0.25),
     "rayarb_order_fill_seconds_sum", {"exchange": "binance_a", "symbol": "ETH/USDT"}, 0.25),
    (lambda m: m.observe_detection("ETH/USDT", 0.0007),
     "rayarb_detection_seconds_sum", {"symbol": "ETH/USDT"}, 0.0007),
    (lambda m: m.observe_book_age("binance_b", "BTC/USDT", 0.031),
     "rayarb_book_age_seconds_sum", {"exchange": "binance_b", "symbol": "BTC/USDT"}, 0.031),
    (lambda m: m.count_order("binance_a", Side.SELL, "rejected"),
     "rayarb_orders_total", {"exchange": "binance_a", "side": "sell", "outcome": "rejected"}, 1),
    (lambda m: m.count_opportunity_detected("BTC/USDT"),
     "rayarb_opportunities_detected_total", {"symbol": "BTC/USDT"}, 1),
    (lambda m: m.count_opportunity_taken("BTC/USDT"),
     "rayarb_opportunities_taken_total", {"symbol": "BTC/USDT"}, 1),
    (lambda m: m.count_opportunity_skipped("ETH/USDT", "stale_book"),
     "rayarb_opportunities_skipped_total", {"symbol": "ETH/USDT", "reason": "stale_book"}, 1),
    (lambda m: m.count_arbitrage_outcome("BTC/USDT", "one_legged"),
     "rayarb_arbitrage_outcomes_total", {"symbol": "BTC/USDT", "outcome": "one_legged"}, 1),
    (lambda m: m.count_exchange_error("binance_b", ccxt.InsufficientFunds("no money")),
     "rayarb_exchange_errors_total", {"exchange": "binance_b", "error_class": "InsufficientFunds"}, 1),
    (lambda m: m.count_resubmission("binance_b"),
     "rayarb_orders_resubmitted_total", {"exchange": "binance_b"}, 1),
    (lambda m: m.count_reconciliation("binance_a"),
     "rayarb_reconciliations_total", {"exchange": "binance_a"}, 1),
    (lambda m: m.count_actor_restart(exchange_actor("binance_a")),
     "rayarb_actor_restarts_total", {"actor": "exchange:binance_a"}, 1),
    (lambda m: m.count_order_connection("binance_b"),
     "rayarb_order_connections_opened_total", {"exchange": "binance_b"}, 1),
    (lambda m: m.count_reply_mismatch("binance_b", "side"),
     "rayarb_reply_mismatches_total", {"exchange": "binance_b", "field": "side"}, 1),
    (lambda m: m.count_book_update("binance_a", "ETH/USDT"),
     "rayarb_book_updates_total", {"exchange": "binance_a", "symbol": "ETH/USDT"}, 1),
    (lambda m: m.count_channel_refused("handshake_failed"),
     "rayarb_channel_refused_total", {"reason": "handshake_failed"}, 1),
    (lambda m: m.set_pnl("USDT", Decimal("12.345"), Decimal("-0.5")),
     "rayarb_pnl_realized", {"asset": "USDT"}, 12.345),
    (lambda m: m.set_pnl("USDT", Decimal("12.345"), Decimal("-0.5")),
     "rayarb_pnl_unrealized", {"asset": "USDT"}, -0.5),
    (lambda m: m.set_position("binance_b", "BTC", Decimal("-0.00123")),
     "rayarb_position", {"exchange": "binance_b", "asset": "BTC"}, -0.00123),
    (lambda m: m.set_actor_up("detector", True),
     "rayarb_actor_up", {"actor": "detector"}, 1),
    (lambda m: m.observe_heartbeat("order_manager", 0.0042),
     "rayarb_heartbeat_seconds_sum", {"actor": "order_manager"}, 0.0042),
    (lambda m: m.set_book_update_rate("binance_b", "ETH/USDT", 37.5),
     "rayarb_book_updates_per_second", {"exchange": "binance_b", "symbol": "ETH/USDT"}, 37.5),
])
def test_each_event_moves_its_metric_with_its_labels(metrics, event, sample, labels, expected):
    before = generate_latest(metrics.registry)
    event(metrics)
    assert value(metrics, sample, **labels) == pytest.approx(expected, rel=1e-12)
    # Nothing else moved: only samples of the same family differ.
    changed = {line.split("{")[0].split(" ")[0] for line in
               set(generate_latest(metrics.registry).decode().splitlines()) ^ set(before.decode().splitlines())
               if not line.startswith("#")}
    family = sample.rsplit("_", 1)[0] if sample.endswith(("_sum", "_count", "_total")) else sample
    if family.startswith("rayarb_pnl_"):  # set_pnl sets realized and unrealized together
        family = "rayarb_pnl_"
    assert changed and all(name.startswith(family) for name in changed), changed


def test_histogram_counts_observations_in_the_right_bucket(metrics):
    for seconds in (0.00005, 0.0003, 0.0003, 7.0, 42.0):
        metrics.observe_order_ack("binance_a", "market", seconds)
    labels = {"exchange": "binance_a", "order_type": "market"}
    assert value(metrics, "rayarb_order_ack_seconds_count", **labels) == 5
    assert value(metrics, "rayarb_order_ack_seconds_sum", **labels) == pytest.approx(49.00065, rel=1e-12)
    assert value(metrics, "rayarb_order_ack_seconds_bucket", le="0.0001", **labels) == 1
    assert value(metrics, "rayarb_order_ack_seconds_bucket", le="0.0005", **labels) == 3
    assert value(metrics, "rayarb_order_ack_seconds_bucket", le="10.0", **labels) == 4
    assert value(metrics, "rayarb_order_ack_seconds_bucket", le="+Inf", **labels) == 5


def test_fill_counts_base_and_quote_from_decimals(metrics):
    metrics.record_fill("binance_a", "BTC/USDT", Side.BUY, Decimal("0.015"), Decimal("64123.45"))
    metrics.record_fill("binance_a", "BTC/USDT", "buy", Decimal("0.005"), Decimal("64000"))
    labels = {"exchange": "binance_a", "symbol": "BTC/USDT", "side": "buy"}
    assert value(metrics, "rayarb_fills_total", **labels) == 2
    assert value(metrics, "rayarb_filled_base_total", **labels) == pytest.approx(0.02)
    assert value(metrics, "rayarb_filled_quote_total", **labels) == pytest.approx(float(
        Decimal("0.015") * Decimal("64123.45") + Decimal("0.005") * Decimal("64000")))
    assert value(metrics, "rayarb_fills_total", exchange="binance_a", symbol="BTC/USDT", side="sell") == 0


def test_values_outside_the_declared_sets_are_recorded_as_other(metrics, caplog):
    metrics.count_order("unconfigured_venue", "buy", "exploded")
    metrics.count_order("unconfigured_venue", "buy", "exploded")
    metrics.count_opportunity_skipped("DOGE/USDT", "because I said so")
    metrics.count_exchange_error("binance_a", ValueError("not a ccxt error"))
    assert value(metrics, "rayarb_orders_total", exchange=OTHER, side="buy", outcome=OTHER) == 2
    assert value(metrics, "rayarb_opportunities_skipped_total", symbol=OTHER, reason=OTHER) == 1
    assert value(metrics, "rayarb_exchange_errors_total", exchange="binance_a", error_class=OTHER) == 1
    # Logged once per unknown value, not once per event, without the value.
    assert sum("label exchange got a value (18 chars)" in r.getMessage() for r in caplog.records) == 1
    assert not any("unconfigured_venue" in r.getMessage() for r in caplog.records)


def test_every_label_value_in_the_exposition_is_from_its_bounded_set(metrics):
    metrics.count_order("somewhere_else", "sideways", "maybe")
    metrics.set_position("binance_a", "XRP", Decimal(1))
    metrics.set_actor_up("some_random_actor", False)
    metrics.count_exchange_error("binance_b", ccxt.RequestTimeout("timeout"))
    allowed = metrics.label_sets()
    seen = 0
    for family in text_string_to_metric_families(exposition(metrics)):
        for sample in family.samples:
            for name, label_value in sample.labels.items():
                if name == "le":
                    continue
                assert name in allowed, f"{family.name}: unbounded label {name}"
                assert label_value in allowed[name], f"{family.name}: {name}={label_value!r}"
                seen += 1
    assert seen > 500


def test_error_class_label_walks_the_ccxt_hierarchy():
    class VenueSpecificTimeout(ccxt.RequestTimeout):
        pass

    assert error_class_label(ccxt.OrderNotFound("x")) == "OrderNotFound"
    assert error_class_label(VenueSpecificTimeout("x")) == "RequestTimeout"
    assert error_class_label(ccxt.InvalidOrder) == "InvalidOrder"
    assert error_class_label(TimeoutError()) == "TimeoutError"
    assert error_class_label(KeyError("x")) == OTHER
    assert error_class_label("NetworkError") == "NetworkError"
    assert error_class_label("apiKey=abc") == OTHER
    assert set(ERROR_CLASSES) >= {"ExchangeError", "NetworkError", "InsufficientFunds", "RateLimitExceeded"}


def test_assets_come_from_symbols():
    assert assets_of(["BTC/USDT", "ETH/USDT", "ETH/BTC", "BTC/USDT:USDT"]) == ("BTC", "USDT", "ETH")


# ---- run charts (metrics.plots); here until a tests/metrics/test_plots.py is assigned
def test_plot_run_draws_pnl_positions_and_latency_from_the_run_files(tmp_path):
    import json

    from metrics.plots import pnl_over_time, plot_run, positions_over_time, read_fills

    (tmp_path / "fills.csv").write_text(
        "ts,exchange,symbol,side,price,amount,fee,fee_asset,trade_id,client_order_id\n"
        "1700000000000,binance_a,BTC/USDT,buy,100.0,0.5,0.05,USDT,t1,c1\n"
        "1700000000100,binance_b,BTC/USDT,sell,101.0,0.5,0.0005,BTC,t2,c2\n"
        "1700000000100,binance_b,BTC/USDT,sell,101.0,0.5,0.0005,BTC,t2,c2\n")  # a replayed trade id is ignored
    (tmp_path / "orders.csv").write_text(
        "ts,client_order_id,exchange,symbol,side,type,price,amount,status,sent_ts,ack_ts\n"
        "1700000000000,c1,binance_a,BTC/USDT,buy,limit,100.0,0.5,filled,1700000000000,1700000000012\n"
        "1700000000000,c2,binance_b,BTC/USDT,sell,limit,101.0,0.5,filled,1700000000001,1700000000020\n")
    (tmp_path / "report.json").write_text(json.dumps({"latency": {"tick_to_order": {
        "samples_s": [0.002, 0.003, 0.0025, 0.05]}}}))
    fills = read_fills(tmp_path / "fills.csv")
    assert len(fills) == 2
    positions = positions_over_time(fills)
    assert positions[("binance_a", "BTC")][-1][1] == Decimal("0.5")
    assert positions[("binance_a", "USDT")][-1][1] == Decimal("-50.05")
    assert positions[("binance_b", "BTC")][-1][1] == Decimal("-0.5005")
    assert positions[("binance_b", "USDT")][-1][1] == Decimal("50.5")
    # Cash -50.05 + 50.5; inventory 0.5 - 0.5 - 0.0005 BTC marked at 101.
    assert pnl_over_time(fills)["USDT"][-1][1] == Decimal("0.45") - Decimal("0.0505")
    charts = plot_run(tmp_path)
    assert set(charts) == {"pnl", "positions", "latency"}
    for path in charts.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_latency_bins_span_the_samples_and_show_their_distribution():
    import numpy as np

    from metrics.plots import LATENCY_BINS, latency_bins

    body = list(np.random.default_rng(7).normal(2.3, 0.3, 2000))  # ms: a run's tick-to-order
    edges, log_axis = latency_bins(body)
    counts, _ = np.histogram(body, bins=edges)
    assert not log_axis and edges[0] == min(body) and edges[-1] == max(body) and len(edges) == LATENCY_BINS + 1
    assert (counts > 0).sum() > LATENCY_BINS // 2 and counts.max() < len(body) / 5  # many bins used, none holds all
    with_stalls = body + [80.0, 120.0]  # a few stalls two orders of magnitude out: log-spaced, the body still spread
    edges, log_axis = latency_bins(with_stalls)
    counts, _ = np.histogram(with_stalls, bins=edges)
    assert log_axis and edges[-1] == pytest.approx(120.0) and counts.max() < len(with_stalls) / 2
    assert latency_bins([3.0, 3.0]) == ([2.7, 3.3000000000000003], False)


def test_the_report_keeps_order_round_trips_for_the_plot(tmp_path):
    from metrics.plots import latency_samples, plot_run
    from orchestration.report import load_run_report, write_run_report

    write_run_report(tmp_path, summary={"mode": "local-sim", "tick_to_order_s": [0.002, 0.0031],
                                        "order_round_trip_s": [0.0012, 0.00137, 0.0016]}, orders=[], fills=[])
    report = load_run_report(tmp_path).report
    assert latency_samples(report, "order_round_trip")[0] == [0.0012, 0.00137, 0.0016]  # sub-millisecond, not whole ms
    assert report["latency"]["order_round_trip"]["count"] == 3
    assert plot_run(tmp_path)["latency"].stat().st_size > 5000


def test_plot_run_on_an_empty_run_still_draws_labelled_charts(tmp_path):
    from metrics.plots import plot_run

    charts = plot_run(tmp_path)
    assert all(path.exists() for path in charts.values())


def test_reply_fields_are_the_domain_s():
    from execution.replies import FIELDS

    assert REPLY_FIELDS == FIELDS
