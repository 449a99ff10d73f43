"""benchmarks/bench_order_pipeline.py at a tiny size: it runs end to end and records sane figures (it cannot rot)."""
import json

import pytest

from benchmarks import bench_order_pipeline

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # a whole run: ~30 s


def test_the_order_pipeline_benchmark_records_legs_per_second_latency_and_a_journal_that_agrees(tmp_path):
    results = tmp_path / "results.json"
    result = bench_order_pipeline.main(["--rate", "20", "--seconds", "3", "--warmup", "1", "--symbols", "2",
                                        "--update-hz", "2", "--profile", "latency", "--results", str(results)])
    entry = json.loads(results.read_text())["benchmarks"]["order_pipeline"]
    figures = {f["name"]: f for f in entry["figures"]}
    assert entry["command"].startswith("python -m benchmarks.bench_order_pipeline --rate 20")
    legs = figures["legs per second received by the venues (sustained)"]
    assert legs["unit"] == "legs/s" and 0 < legs["value"] <= 40 * 1.2
    p50 = figures["opportunity due -> leg received by its venue p50"]["value"]
    assert 0 < p50 <= figures["opportunity due -> leg received by its venue p99"]["value"] < 5000
    assert figures["venue orders not journaled exactly once"]["value"] == 0
    assert result["sent"] == 80 and result["answered"] == 80 and result["dropped_by_sender"] == 0
    assert result["venue_orders"] >= 2 * result["answers"].get("both_filled", 0) > 0
    # the sender stands in for the detector: under the latency profile it asks for the detector's real-time priority
    assert result["feeder_scheduling"] == "realtime 10" or result["feeder_scheduling"].startswith("normal (")
    assert "run.profile latency (the sender too: " in entry["notes"]
