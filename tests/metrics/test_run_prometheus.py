"""End to end: a real Prometheus scrapes a short `rayarb run` against simulator venues.

Prometheus runs the shipped metrics/prometheus.yml with its file_sd glob narrowed to the JSON this run writes (other
runs on the machine write theirs beside it), so targets are found the way an operator's Prometheus finds them. While
the run trades, every target must be up, every expression of the Grafana dashboard must return data, and every
target's exposition must pass `promtool check metrics` and hold no venue key or secret. After the run, the counters
read through Prometheus must equal the run's report and CSVs, and the tick-to-order p99 of the histogram must lie
within one bucket of the report's exact p99.

Under CI=true a missing prometheus/promtool binary fails the test (prometheus_harness.require_binary).
"""
from __future__ import annotations

import bisect
import json
import logging
import math
import os
import shutil
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from prometheus_client import values

from metrics.definitions import LATENCY_BUCKETS_S
from metrics.exporter import MULTIPROC_ENV, default_file_sd_path
from orchestration.main_job import MainJob
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import BackgroundRun, make_job
from tests.metrics.prometheus_harness import (
    PrometheusHarness,
    check_metrics_exposition,
    dashboard_expressions,
    promtool,
)

logger = logging.getLogger(__name__)

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "metrics" / "prometheus.yml"
DASHBOARD = REPO / "metrics" / "grafana" / "dashboards" / "rayarb.json"
TRADING_S = 15.0  # enough for every metric the dashboard reads to move (orders, fills, latency)
STARTUP_TIMEOUT_S = 150.0  # venues are already up; Ray and the actors on a loaded 2-core machine
FINAL_SCRAPE_TIMEOUT_S = 15.0
# Metrics that a trading run without faults must move within a minute; the dashboard expressions reading them must
# show a value > 0, not only a series. Others (errors, resubmissions, restarts, PnL) may rightly be 0 or negative.
ACTIVE_METRICS = ("rayarb_fills_total", "rayarb_filled_quote_total", "rayarb_opportunities_detected_total",
                  "rayarb_opportunities_taken_total", "rayarb_orders_total", "rayarb_book_updates",
                  "rayarb_actor_up", 'up{job="rayarb"}')
# How the order manager's outcomes (execution.arbitrage_executor.Outcome) map to the metric's outcome label.
OUTCOME_LABEL = {"both_filled": "both_filled", "one_legged": "one_legged", "partial": "partial",
                 "both_missed": "none", "unresolved": "none"}


class RunScrapedToTheEnd(MainJob):
    """A MainJob whose metrics endpoint stays up until Prometheus has scraped it once after the report was written,
    so the last scrape holds the run's final counts (teardown closes the endpoint right after ``_finish``)."""

    def __init__(self, options, **kwargs) -> None:
        super().__init__(options, **kwargs)
        self.prometheus: PrometheusHarness | None = None
        self.final_scrape_at: float | None = None

    def _finish(self) -> None:
        super()._finish()
        finished_at = time.time()

        def scraped_after_finish():
            stamps = [float(r["value"][1]) for r in self.prometheus.query(
                'timestamp(up{job="rayarb"}) and up{job="rayarb"} == 1')]
            if stamps and len(stamps) == len(self.metrics_export.targets) and min(stamps) > finished_at:
                return min(stamps)
            return None

        self.final_scrape_at = self.prometheus.wait_for(scraped_after_finish, FINAL_SCRAPE_TIMEOUT_S,
                                                        what="a scrape of every target after the report")


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=11) as process:
        process.start(timeout_s=60)
        yield process.venues


@pytest.fixture
def private_driver(monkeypatch):
    """This pytest process as the run's Ray driver, on its own.

    A fresh, short RAY_TMPDIR keeps the run's Ray session files and its ray_current_cluster file away from the Rays of
    tests running beside it (an address-less ray.init elsewhere would join the one named there). The run also
    switches this process to multiprocess metrics, undone afterwards.
    """
    ray_tmp = tempfile.mkdtemp(prefix="rrp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    saved_class, saved_env = values.ValueClass, os.environ.get(MULTIPROC_ENV)
    yield
    values.ValueClass = saved_class
    if saved_env is None:
        os.environ.pop(MULTIPROC_ENV, None)
    else:
        os.environ[MULTIPROC_ENV] = saved_env
    shutil.rmtree(ray_tmp, ignore_errors=True)


def prometheus_config(file_sd_path: str) -> dict:
    """metrics/prometheus.yml itself, its discovery glob narrowed to this run's file."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    (job,) = config["scrape_configs"]
    (sd,) = job["file_sd_configs"]
    assert sd["files"] == [os.path.join(os.path.dirname(file_sd_path), "*.json")], "the shipped glob moved"
    sd["files"] = [file_sd_path]
    return config


def wait_until(predicate, timeout_s: float, what: str, run: BackgroundRun | None = None):
    """Poll ``predicate`` until truthy; fail early when the run thread died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        if run is not None and not run.thread.is_alive():
            run.join(0)  # re-raises the run's error
            pytest.fail(f"the run ended (exit {run.result}) before: {what}")
        time.sleep(0.25)
    pytest.fail(f"not within {timeout_s} s: {what}")


def sample(result: list[dict]) -> float:
    return float(result[0]["value"][1])


def dashboard_state(prom: PrometheusHarness, expressions: list[str]) -> dict[str, list[dict]]:
    return {expr: prom.query(expr) for expr in expressions}


def dashboard_problems(state: dict[str, list[dict]]) -> list[str]:
    """What the dashboard still lacks: an empty expression, a quantile with no observation in its window, or an
    expression over a metric a trading run must move that shows nothing above 0."""
    problems = []
    for expr, result in state.items():
        numbers = [float(r["value"][1]) for r in result]
        if not result:
            problems.append(f"empty: {expr}")
        elif "histogram_quantile" in expr and not any(math.isfinite(v) for v in numbers):
            problems.append(f"no observations: {expr}")
        elif any(name in expr for name in ACTIVE_METRICS) and not any(v > 0 for v in numbers):
            problems.append(f"not above 0: {expr}")
    return problems


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read().decode()


def bucket_index(seconds: float) -> int:
    """Index of the histogram bucket (metrics.definitions.LATENCY_BUCKETS_S, le semantics) holding ``seconds``;
    len(LATENCY_BUCKETS_S) is the +Inf bucket."""
    return bisect.bisect_left(LATENCY_BUCKETS_S, seconds)


def test_prometheus_scrapes_a_short_run_and_agrees_with_its_report(venues, tmp_path, private_driver):
    began = time.monotonic()
    secrets = [s for e in venues for s in (e.api_key, e.secret)]
    assert all(len(s) >= 8 for s in secrets), "keys this short could match by chance"
    job = RunScrapedToTheEnd(make_job(venues, tmp_path, duration_s=TRADING_S).options, status_stream=_Lines())
    file_sd_path = default_file_sd_path(job.run_id)
    os.makedirs(os.path.dirname(file_sd_path), exist_ok=True)  # so Prometheus watches the directory from the start
    expressions = dashboard_expressions(DASHBOARD)
    assert expressions and not any("$" in e for e in expressions)

    with PrometheusHarness(prometheus_config(file_sd_path)) as prom:
        job.prometheus = prom
        checked = promtool("check", "config", str(prom.config_path))
        assert checked.returncode == 0, checked.stdout + checked.stderr

        run = BackgroundRun(job).start()
        try:
            # --- discovery: the run's file_sd JSON, and every target in it up in Prometheus
            wait_until(lambda: os.path.exists(file_sd_path), STARTUP_TIMEOUT_S, "the run writes its file_sd", run)
            discovered_s = time.monotonic() - began
            entries = json.loads(Path(file_sd_path).read_text())
            addresses = {address for entry in entries for address in entry["targets"]}
            assert addresses and all(a.startswith("127.0.0.1:") for a in addresses), entries
            targets = prom.wait_for_healthy_targets(len(addresses), timeout_s=30)
            assert {t["discoveredLabels"]["__address__"] for t in targets} == addresses
            assert {t["labels"]["job"] for t in targets} == {"rayarb"}
            assert all(t["labels"].get("node_id") for t in targets), "file_sd labels reach the series"

            # --- while trading: every dashboard expression returns data through the HTTP API
            wait_until(lambda: "trading " in job.status_stream.text(), STARTUP_TIMEOUT_S, "trading starts", run)
            trading_since = time.monotonic()
            trading_after_s = trading_since - began
            state: dict[str, list[dict]] = {}

            def dashboard_complete():
                state.update(dashboard_state(prom, expressions))
                return not dashboard_problems(state)

            try:
                wait_until(dashboard_complete, TRADING_S, "every dashboard expression has data", run)
            except pytest.fail.Exception:
                pytest.fail(f"dashboard expressions without data: {dashboard_problems(state)}")
            dashboard_after_s = time.monotonic() - trading_since
            prom.wait_for_healthy_targets(len(addresses), timeout_s=10)

            # --- every target's exposition: promtool's lint, and no key or secret anywhere in it
            for target in prom.targets():
                exposition = scrape(target["scrapeUrl"])
                assert "rayarb_tick_to_order_seconds_bucket" in exposition
                linted = check_metrics_exposition(exposition)
                assert linted.returncode == 0 and not linted.stdout.strip(), linted.stdout + linted.stderr
                leaked = [i for i, s in enumerate(secrets) if s in exposition]
                assert not leaked, f"credential #{leaked} appears in the exposition of {target['scrapeUrl']}"
            assert run.thread.is_alive(), "the checks above must run while the run is live"

            job.stop()  # everything live is checked: the run ends (Ctrl-C's path) rather than trading out its duration
            run.join(120)
        finally:
            job.stop()
            run.thread.join(120)
            if os.path.exists(file_sd_path):
                os.remove(file_sd_path)
        assert run.result == 0
        run_s = time.monotonic() - began

        # --- after the run: Prometheus's last scrape against the report (evaluated at that scrape)
        at = job.final_scrape_at
        assert at is not None

        def values_at(expr: str) -> dict[tuple[str, ...], float]:
            data = prom.api("query", query=expr, time=f"{at:.3f}")
            assert data["resultType"] == "vector", data
            return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["result"]}

        def total(expr: str) -> float:
            found = values_at(expr)
            assert len(found) == 1, (expr, found)
            return next(iter(found.values()))

        # no label value Prometheus stored holds a key or a secret
        for name in prom.api("labels"):
            for value in prom.api(f"label/{name}/values"):
                assert not any(s in value for s in secrets), f"a credential is a value of label {name}"

        report_run = load_run_report(job.run_dir)
        report = report_run.report
        assert report["fills"]["count"] > 0 and report["opportunities_taken"] > 0, report

        # counters only went up during the run
        for counter in ("rayarb_orders_total", "rayarb_fills_total", "rayarb_filled_quote_total",
                        "rayarb_opportunities_detected_total", "rayarb_opportunities_taken_total",
                        "rayarb_book_updates_total", "rayarb_tick_to_order_seconds_count"):
            assert total(f"sum(resets({counter}[10m]))") == 0, counter
        # ... and equal what the journal and the report say, exactly
        accepted, rejected = Counter(), Counter()
        for row in report_run.orders:
            key = (row["exchange"], row["side"])
            if row["status"] == "rejected":
                rejected[key] += 1
            elif row["exchange_order_id"]:  # the venue acknowledged it
                accepted[key] += 1
        orders = {(dict(k)["exchange"], dict(k)["side"], dict(k)["outcome"]): v
                  for k, v in values_at("sum by (exchange, side, outcome) (rayarb_orders_total)").items()}
        for exchange in {e.name for e in venues}:
            for side in ("buy", "sell"):
                assert orders[(exchange, side, "accepted")] == accepted[(exchange, side)], (exchange, side)
                assert orders[(exchange, side, "rejected")] == rejected[(exchange, side)], (exchange, side)
        assert sum(v for (_e, _s, outcome), v in orders.items() if outcome == "accepted") == sum(accepted.values())

        fills = Counter((f["exchange"], f["symbol"], f["side"]) for f in report_run.fills)
        by_fill = {tuple(dict(k)[n] for n in ("exchange", "symbol", "side")): v
                   for k, v in values_at("sum by (exchange, symbol, side) (rayarb_fills_total)").items() if v}
        assert by_fill == dict(fills)
        assert total("sum(rayarb_filled_base_total)") == pytest.approx(
            float(sum((f["amount"] for f in report_run.fills), Decimal(0))), rel=1e-9)
        assert total("sum(rayarb_filled_quote_total)") == pytest.approx(
            float(sum((f["amount"] * f["price"] for f in report_run.fills), Decimal(0))), rel=1e-9)

        assert total("sum(rayarb_opportunities_detected_total)") == report["opportunities_detected"]
        assert total("sum(rayarb_opportunities_taken_total)") == report["opportunities_taken"]
        skipped = {dict(k)["reason"]: v
                   for k, v in values_at("sum by (reason) (rayarb_opportunities_skipped_total)").items() if v}
        assert skipped == {reason: n for reason, n in report["opportunities_skipped"].items() if n}
        outcomes = Counter()
        for outcome, n in report["outcomes"].items():
            outcomes[OUTCOME_LABEL[outcome]] += n
        by_outcome = {dict(k)["outcome"]: v
                      for k, v in values_at("sum by (outcome) (rayarb_arbitrage_outcomes_total)").items() if v}
        assert by_outcome == dict(outcomes)

        # --- tick to order: the histogram through Prometheus against the report's exact samples
        latency = report["latency"]["tick_to_order"]
        assert total("sum(rayarb_tick_to_order_seconds_count)") == latency["count"] > 0
        if latency.get("samples_s") is not None:
            assert total("sum(rayarb_tick_to_order_seconds_sum)") == pytest.approx(math.fsum(latency["samples_s"]),
                                                                                   rel=1e-9)
        p99_prometheus = total("histogram_quantile(0.99, sum by (le) (rayarb_tick_to_order_seconds_bucket))")
        p99_report = latency["p99"]
        assert abs(bucket_index(p99_prometheus) - bucket_index(p99_report)) <= 1, (p99_prometheus, p99_report)
        slowest_scrape_s = total('max(max_over_time(scrape_duration_seconds{job="rayarb"}[10m]))')

    print(f"\nrun {run_s:.1f} s (file_sd at {discovered_s:.1f} s, trading from {trading_after_s:.1f} s for "
          f"{report['duration_s']} s); slowest scrape {slowest_scrape_s * 1000:.0f} ms; "
          f"dashboard complete {dashboard_after_s:.1f} s into trading; {latency['count']} tick-to-order samples; p99 Prometheus {p99_prometheus * 1000:.2f} ms "
          f"(bucket {bucket_index(p99_prometheus)}), report {p99_report * 1000:.2f} ms "
          f"(bucket {bucket_index(p99_report)}); orders {sum(accepted.values())} accepted, "
          f"{sum(rejected.values())} rejected; fills {sum(fills.values())}")


class _Lines:
    """A thread-safe text sink for the run's status output (the run writes from its thread, the test reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: list[str] = []

    def write(self, text: str) -> int:
        with self._lock:
            self._parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)
