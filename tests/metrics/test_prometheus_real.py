"""A real Prometheus scraping rayarb metrics written by real Ray actors on two nodes of ray.cluster_utils.Cluster
(the head node being the driver's local node, served by the driver as in `rayarb run --metrics-port`), with the
shipped prometheus.yml; promtool on that file and on the exposition. One cluster and one Prometheus for the module
keep it near 30 s on two cores.

Under CI=true a missing prometheus/promtool binary fails these tests (prometheus_harness.require_binary).
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest, values

from metrics.definitions import RayarbMetrics
from metrics.exporter import ClusterMetricsExport, run_base_dir
from tests.metrics.prometheus_harness import (
    PrometheusHarness,
    check_metrics_exposition,
    dashboard_expressions,
    promtool,
)

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS_YML = REPO / "metrics" / "prometheus.yml"
DASHBOARD = REPO / "metrics" / "grafana" / "dashboards" / "rayarb.json"
EXCHANGES = ["binance_a", "binance_b"]
SYMBOLS = ["BTC/USDT", "ETH/USDT"]
LATENCIES = [0.00123, 0.0456, 0.789, 1.234, 0.0000777, 0.3333]
TIMEOUT_S = 30


def config_for(file_sd_path: str) -> dict:
    """metrics/prometheus.yml itself, with the discovery glob pointed at this test's file."""
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    config["scrape_configs"][0]["file_sd_configs"][0]["files"] = [file_sd_path]
    return config


@pytest.fixture(scope="module")
def workdir():
    """A short directory for the module (Ray's socket paths must stay under the Unix limit, so not tmp_path).

    RAY_TMPDIR keeps Cluster's ray_current_cluster file in it too, away from the shared /tmp/ray.
    """
    path = tempfile.mkdtemp(prefix="rrm")
    os.makedirs(os.path.join(path, "ray"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", path)
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def prometheus(workdir):
    """Started before Ray: Prometheus applies discovery changes at most every 5 s, so it should be running early."""
    with PrometheusHarness(config_for(os.path.join(workdir, "sd", "rayarb-test.json"))) as prom:
        yield prom


@pytest.fixture(scope="module")
def cluster(workdir, prometheus):
    """Two Ray nodes on this host (head + one worker), the driver connected, the metrics export started.

    ClusterMetricsExport switches the driver (this pytest process) to multiprocess values; that is undone afterwards.
    """
    import ray
    from ray.cluster_utils import Cluster

    saved_class, saved_env = values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    nodes = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"head_node": 1}, "object_store_memory": 100 * 1024 * 1024,
        "include_dashboard": False, "temp_dir": os.path.join(workdir, "ray")})
    export = None
    try:
        nodes.add_node(num_cpus=1, resources={"worker_node": 1}, object_store_memory=100 * 1024 * 1024)
        nodes.wait_for_nodes(timeout=TIMEOUT_S)
        ray.init(address=nodes.address, logging_level="warning", log_to_driver=False)
        base_dir = run_base_dir(os.path.join(workdir, "run"), root=workdir)
        export = ClusterMetricsExport(base_dir, os.path.join(workdir, "sd", "rayarb-test.json"), local_port=0)
        export.start()
        yield {"export": export, "base_dir": base_dir}
    finally:
        if export is not None:
            export.stop()
        ray.shutdown()
        nodes.shutdown()
        values.ValueClass = saved_class
        if saved_env is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved_env


def recorder_class():
    import ray

    @ray.remote(num_cpus=0, max_restarts=1, max_task_retries=0)
    class Recorder:
        """Stands in for a rayarb actor: switches to multiprocess metrics first thing (in the run's ``metrics_dir``,
        as ``Deployment.metrics_dir`` names it to rayarb's actors), then records."""

        def __init__(self, role: str, metrics_dir: str) -> None:
            from metrics.exporter import enable_multiprocess

            self.path = enable_multiprocess(metrics_dir)
            self.metrics = RayarbMetrics(None)
            self.metrics.init_labels(EXCHANGES, SYMBOLS)
            if ray.get_runtime_context().was_current_actor_reconstructed:
                self.metrics.count_actor_restart(role)
            self.metrics.set_actor_up(role, True)

        def where(self) -> dict:
            return {"pid": os.getpid(), "path": self.path, "node_id": ray.get_runtime_context().get_node_id()}

        def observe(self, symbol: str, latencies: list[float]) -> None:
            for seconds in latencies:
                self.metrics.observe_tick_to_order("binance_a", symbol, seconds)

        def orders(self, exchange: str, count: int) -> None:
            for _ in range(count):
                self.metrics.count_order(exchange, "sell", "accepted")

        def drive_everything(self) -> None:
            from decimal import Decimal

            m = self.metrics
            for exchange in EXCHANGES:
                m.observe_tick_to_order(exchange, "BTC/USDT", 0.003)
                m.observe_order_ack(exchange, "limit", 0.012)
                m.observe_order_fill(exchange, "BTC/USDT", 0.05)
                m.observe_book_age(exchange, "BTC/USDT", 0.02)
                m.record_fill(exchange, "BTC/USDT", "buy", Decimal("0.01"), Decimal("65000"))
                m.count_book_update(exchange, "BTC/USDT")
                m.set_book_update_rate(exchange, "BTC/USDT", 20.0)
                m.set_position(exchange, "BTC", Decimal("0.01"))
            m.observe_detection("BTC/USDT", 0.0008)
            m.observe_heartbeat("detector", 0.002)
            m.count_opportunity_detected("BTC/USDT")
            m.count_opportunity_taken("BTC/USDT")
            m.count_opportunity_skipped("BTC/USDT", "stale_book")
            m.count_arbitrage_outcome("BTC/USDT", "both_filled")
            m.count_exchange_error("binance_a", "RequestTimeout")
            m.set_pnl("USDT", Decimal("1.25"), Decimal("-0.1"))

    return Recorder


def test_shipped_prometheus_yml_passes_promtool():
    result = promtool("check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(PROMETHEUS_YML.read_text())
    job = config["scrape_configs"][0]
    assert job["file_sd_configs"] and job["scrape_interval"] == "1s"


def test_exposition_passes_promtool_check_metrics():
    m = RayarbMetrics(CollectorRegistry())
    m.init_labels(EXCHANGES, SYMBOLS)
    m.observe_order_ack("binance_a", "market", 0.01)
    result = check_metrics_exposition(generate_latest(m.registry).decode())
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_dashboard_has_the_required_panels():
    expressions = dashboard_expressions(DASHBOARD)
    joined = "\n".join(expressions)
    for needed in ("rayarb_tick_to_order_seconds_bucket", "rayarb_order_ack_seconds_bucket", "rayarb_fills_total",
                   "rayarb_pnl_realized", "rayarb_position", "rayarb_opportunities_taken_total",
                   'outcome="one_legged"', "rayarb_exchange_errors_total", "rayarb_actor_up",
                   "rayarb_actor_restarts_total", "rayarb_heartbeat_seconds_bucket", "histogram_quantile(0.99"):
        assert needed in joined, needed
    assert not any("$" in expr for expr in expressions), "Grafana variables cannot be checked through the API"


@pytest.mark.cluster
def test_head_node_actor_exact_fresh_and_monotonic_across_sigkill(cluster, prometheus):
    import ray

    prom = prometheus
    recorder = recorder_class().options(resources={"head_node": 0.01}).remote(
        "order_manager", cluster["base_dir"])
    first = ray.get(recorder.where.remote(), timeout=TIMEOUT_S)
    assert first["path"] == os.path.join(cluster["base_dir"], first["node_id"])
    prom.wait_for_healthy_targets(2, timeout_s=TIMEOUT_S)

    # Exactness and freshness: the exported histogram sum is the float sum of what was observed.
    ray.get(recorder.observe.remote("BTC/USDT", LATENCIES), timeout=TIMEOUT_S)
    recorded_at = time.monotonic()
    count = 'sum(rayarb_tick_to_order_seconds_count{symbol="BTC/USDT"})'
    prom.wait_for_value(count, lambda v: v == len(LATENCIES))
    freshness_s = time.monotonic() - recorded_at
    exported_sum = float(prom.query('sum(rayarb_tick_to_order_seconds_sum{symbol="BTC/USDT"})')[0]["value"][1])
    assert exported_sum == pytest.approx(sum(LATENCIES), rel=1e-12)
    assert freshness_s < 4.0, f"new values took {freshness_s:.2f} s to reach Prometheus"
    print(f"recorded -> queryable in Prometheus: {freshness_s:.2f} s")

    # Counters across a SIGKILL and restart of the actor: 7 before, 3 after -> 10, never a reset.
    accepted = 'sum(rayarb_orders_total{exchange="binance_b",side="sell",outcome="accepted"})'
    ray.get(recorder.orders.remote("binance_b", 7), timeout=TIMEOUT_S)
    prom.wait_for_value(accepted, lambda v: v == 7)
    os.kill(first["pid"], signal.SIGKILL)
    second = prom.wait_for(lambda: _where_after_restart(recorder, first["pid"]), timeout_s=TIMEOUT_S,
                           what="actor restarted")
    assert second["node_id"] == first["node_id"]
    ray.get(recorder.orders.remote("binance_b", 3), timeout=TIMEOUT_S)
    prom.wait_for_value(accepted, lambda v: v == 10)
    resets = prom.query('sum(resets(rayarb_orders_total{exchange="binance_b",outcome="accepted",side="sell"}[1m]))')
    assert float(resets[0]["value"][1]) == 0
    prom.wait_for_value('sum(rayarb_actor_restarts_total{actor="order_manager"})', lambda v: v == 1)

    # Every dashboard expression returns data once the metrics have been driven.
    ray.get(recorder.drive_everything.remote(), timeout=TIMEOUT_S)
    prom.wait_for_value("sum(rayarb_opportunities_taken_total)", lambda v: v == 1)
    time.sleep(2.5)  # two more scrapes, so rate()/increase() have two points after the change
    empty = [expr for expr in dashboard_expressions(DASHBOARD) if not prom.query(expr)]
    assert not empty, f"dashboard expressions without data: {empty}"

    # The node endpoint's own exposition (merged from the mmap files) passes promtool.
    with urllib.request.urlopen(cluster["export"].local_server.url, timeout=5) as reply:
        exposition = reply.read().decode()
    checked = check_metrics_exposition(exposition)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _where_after_restart(recorder, old_pid: int) -> dict | None:
    import ray

    try:
        where = ray.get(recorder.where.remote(), timeout=5)
    except ray.exceptions.RayActorError:
        return None
    return where if where["pid"] != old_pid else None


@pytest.mark.cluster
def test_two_nodes_one_target_each_one_scrape_config(cluster, prometheus):
    import ray

    targets = list(cluster["export"].targets.values())
    assert len(targets) == 2 and len({t.node_id for t in targets}) == 2
    assert all(t.address.startswith("127.0.0.1:") for t in targets)
    Recorder = recorder_class()
    on_head = Recorder.options(resources={"head_node": 0.01}).remote("detector", cluster["base_dir"])
    on_worker = Recorder.options(resources={"worker_node": 0.01}).remote("detector", cluster["base_dir"])
    head_node = ray.get(on_head.where.remote(), timeout=TIMEOUT_S)["node_id"]
    worker_node = ray.get(on_worker.where.remote(), timeout=TIMEOUT_S)["node_id"]
    assert head_node != worker_node
    ray.get([on_head.orders.remote("binance_a", 4), on_worker.orders.remote("binance_a", 5),
             on_head.observe.remote("ETH/USDT", LATENCIES[:2]), on_worker.observe.remote("ETH/USDT", LATENCIES[2:])],
            timeout=TIMEOUT_S)

    prometheus.wait_for_healthy_targets(2, timeout_s=TIMEOUT_S)
    accepted = 'rayarb_orders_total{exchange="binance_a",side="sell",outcome="accepted"}'
    prometheus.wait_for_value(f"sum({accepted})", lambda v: v == 9)
    per_node = {r["metric"]["node_id"]: float(r["value"][1])
                for r in prometheus.query(f"sum by (node_id) ({accepted})")}
    assert per_node == {head_node: 4.0, worker_node: 5.0}
    # Each node's observations may land a scrape after its orders (one scrape can fall between the two calls).
    exported_sum = prometheus.wait_for_value('sum(rayarb_tick_to_order_seconds_sum{symbol="ETH/USDT"})',
                                             lambda v: v == pytest.approx(sum(LATENCIES), rel=1e-12))
    assert exported_sum == pytest.approx(sum(LATENCIES), rel=1e-12)
