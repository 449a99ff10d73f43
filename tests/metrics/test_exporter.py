"""The multiprocess export without Ray: real writer processes, a real HTTP endpoint, SIGKILL, file_sd output."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from metrics.exporter import (
    ExportTarget,
    MetricsDirError,
    enable_multiprocess,
    node_metrics_dir,
    prune_dead_processes,
    run_base_dir,
    serve_directory,
    write_file_sd,
)

REPO = Path(__file__).resolve().parents[2]

# A rayarb process: prometheus_client is imported BEFORE the switch (as ray.init does in a driver), then metrics are
# written, then the process waits for a line on stdin (so the test can SIGKILL it while alive).
WRITER = textwrap.dedent("""
    import os, sys, time, json
    from decimal import Decimal
    import prometheus_client  # imported first on purpose
    from metrics.exporter import enable_multiprocess
    from metrics.definitions import RayarbMetrics
    from prometheus_client import Gauge
    args = json.loads(sys.argv[1])
    path = enable_multiprocess(args["base_dir"], node_id=args["node_id"])
    m = RayarbMetrics(None)
    m.init_labels(["a", "b"], ["BTC/USDT"])
    for seconds in args["latencies"]:
        m.observe_tick_to_order("a", "BTC/USDT", seconds)
    for _ in range(args["orders"]):
        m.count_order("b", "sell", "accepted")
    if "position" in args:
        m.set_position("a", "BTC", Decimal(args["position"]))
    live = Gauge("rayarb_test_live_gauge", "x", registry=None, multiprocess_mode="livesum")
    live.set(1)
    t = time.perf_counter()
    for _ in range(20000):  # per-observation cost on the hot path; the test counts these observations too
        m.observe_tick_to_order("a", "BTC/USDT", 0.001)
    cost_us = (time.perf_counter() - t) / 20000 * 1e6
    print(json.dumps({"pid": os.getpid(), "path": path, "cost_us": cost_us}), flush=True)
    sys.stdin.readline()
""")
COST_LOOP_OBSERVATIONS = 20000


class Writer:
    def __init__(self, base_dir: str, node_id: str, **args) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        payload = json.dumps({"base_dir": base_dir, "node_id": node_id, "latencies": [], "orders": 0, **args})
        self.process = subprocess.Popen([sys.executable, "-c", WRITER, payload], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        assert line, f"writer failed (exit {self.process.poll()})"
        self.info = json.loads(line)

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(timeout=10)


@pytest.fixture
def writers():
    started: list[Writer] = []

    def start(*args, **kwargs) -> Writer:
        writer = Writer(*args, **kwargs)
        started.append(writer)
        return writer

    yield start
    for writer in started:
        if writer.process.poll() is None:
            writer.kill()


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def sample(samples, name, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_one_endpoint_serves_exact_sums_of_all_processes_of_its_node(tmp_path, writers):
    base = str(tmp_path)
    first = writers(base, "node-a", latencies=[0.00123, 0.0456, 0.789], orders=3)
    second = writers(base, "node-a", latencies=[1.234, 0.0000777], orders=4)
    other_node = writers(base, "node-b", latencies=[9.0], orders=100)
    assert first.info["path"] == second.info["path"] == node_metrics_dir(base, "node-a")
    assert other_node.info["path"] == node_metrics_dir(base, "node-b")
    server = serve_directory(node_metrics_dir(base, "node-a"))
    try:
        samples = scrape(server.url)
        labels = {"exchange": "a", "symbol": "BTC/USDT"}
        loop = 2 * COST_LOOP_OBSERVATIONS
        assert sample(samples, "rayarb_tick_to_order_seconds_count", **labels) == 5 + loop
        # Exact: the float sum of the observations, not a bucket approximation.
        expected_sum = (0.00123 + 0.0456 + 0.789) + (1.234 + 0.0000777) + 0.001 * loop
        assert sample(samples, "rayarb_tick_to_order_seconds_sum", **labels) == pytest.approx(expected_sum, rel=1e-9)
        assert sample(samples, "rayarb_orders_total", exchange="b", side="sell", outcome="accepted") == 7
        assert sample(samples, "rayarb_orders_total", exchange="a", side="buy", outcome="rejected") == 0
    finally:
        server.close()


def test_counters_survive_a_sigkill_and_live_gauges_of_dead_processes_are_dropped(tmp_path, writers):
    base = str(tmp_path)
    before = writers(base, "node-a", orders=5, position="1.5")
    server = serve_directory(node_metrics_dir(base, "node-a"))
    try:
        assert sample(scrape(server.url), "rayarb_test_live_gauge") == 1
        before.kill()
        after_kill = scrape(server.url)
        assert sample(after_kill, "rayarb_orders_total", exchange="b", side="sell", outcome="accepted") == 5
        assert sample(after_kill, "rayarb_test_live_gauge") is None  # pruned: its process is gone
        assert sample(after_kill, "rayarb_position", exchange="a", asset="BTC") == 1.5  # last known value

        # The restarted actor is a new process: counts go on from 5, never back to 0; its gauge value wins.
        time.sleep(0.01)
        writers(base, "node-a", orders=2, position="-0.25")
        restarted = scrape(server.url)
        assert sample(restarted, "rayarb_orders_total", exchange="b", side="sell", outcome="accepted") == 7
        assert sample(restarted, "rayarb_position", exchange="a", asset="BTC") == -0.25
        assert sample(restarted, "rayarb_test_live_gauge") == 1
    finally:
        server.close()


def test_prune_keeps_counter_files_of_dead_processes(tmp_path, writers):
    path = node_metrics_dir(str(tmp_path), "node-a")
    writer = writers(str(tmp_path), "node-a", orders=1)
    pid = writer.info["pid"]
    assert prune_dead_processes(path) == []
    writer.kill()
    assert prune_dead_processes(path) == [pid]
    names = sorted(os.listdir(path))
    assert f"counter_{pid}.db" in names and f"histogram_{pid}.db" in names
    assert not any(name.startswith("gauge_live") for name in names)


def test_observation_cost_in_multiprocess_mode_is_a_few_microseconds(tmp_path, writers):
    writer = writers(str(tmp_path), "node-a")
    # Figure recorded in docs/metrics.md (about 3 us here); the bound only catches a gross regression.
    assert 0 < writer.info["cost_us"] < 100


def test_enable_multiprocess_without_a_base_dir_changes_nothing(monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    assert enable_multiprocess(None) is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ


def test_file_sd_lists_one_target_per_node(tmp_path):
    path = tmp_path / "sd" / "rayarb-run1.json"
    write_file_sd(str(path), [ExportTarget("n2", "127.0.0.1:9002", "10.0.0.2"),
                              ExportTarget("n1", "127.0.0.1:9001", "10.0.0.1")])
    entries = json.loads(path.read_text())
    assert entries == [
        {"targets": ["127.0.0.1:9001"], "labels": {"node_id": "n1", "node_ip": "10.0.0.1"}},
        {"targets": ["127.0.0.1:9002"], "labels": {"node_id": "n2", "node_ip": "10.0.0.2"}},
    ]
    write_file_sd(str(path), [])
    assert json.loads(path.read_text()) == []
    assert [p.name for p in path.parent.iterdir()] == ["rayarb-run1.json"]  # no temp file left behind


def test_every_driver_of_one_run_directory_serves_the_same_private_metrics_directory(tmp_path):
    """A ``rayarb run --resume`` serves the files its adopted actors go on writing (they were told the first
    driver's directory); another run directory gets its own; a path there that is not this user's private directory
    is refused, never written into."""
    root = tmp_path / "tmp"
    root.mkdir()
    first = run_base_dir(tmp_path / "runs" / "a", root=str(root))
    assert run_base_dir(tmp_path / "runs" / ".." / "runs" / "a", root=str(root)) == first
    assert run_base_dir(tmp_path / "runs" / "b", root=str(root)) != first
    assert os.stat(first).st_mode & 0o777 == 0o700
    os.chmod(first, 0o755)  # made readable by others: not private any more
    with pytest.raises(MetricsDirError, match="exists but is not a private directory of this user"):
        run_base_dir(tmp_path / "runs" / "a", root=str(root))
    decoy = run_base_dir(tmp_path / "runs" / "c", root=str(root))
    os.rmdir(decoy)
    os.symlink(tmp_path, decoy)  # a link planted where the run's directory goes
    with pytest.raises(MetricsDirError):
        run_base_dir(tmp_path / "runs" / "c", root=str(root))
