"""benchmarks/bench_ingest.py at a tiny size: it runs end to end and records sane figures (it cannot rot)."""
import json

import pytest

from benchmarks import bench_ingest

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # a whole run: ~30 s


def test_the_ingest_benchmark_records_rates_ages_and_capacity(tmp_path):
    results = tmp_path / "results.json"
    bench_ingest.main(["--loads", "2x2", "--update-hz", "20", "--seconds", "3", "--warmup", "1",
                       "--capacity-seconds", "0.3", "--results", str(results)])
    entry = json.loads(results.read_text())["benchmarks"]["ingest"]
    figures = {f["name"]: f for f in entry["figures"]}
    assert entry["command"].startswith("python -m benchmarks.bench_ingest --loads 2x2")
    ingest = figures["2x2 ingest into the detector"]
    assert ingest["unit"] == "updates/s" and 0 < ingest["value"] <= figures["2x2 books from the venues"]["value"] * 1.1
    assert figures["2x2 offered by the simulator (nominal)"]["value"] == 80
    age = figures["2x2 book age at use p99"]
    assert age["unit"] == "ms" and 0 <= figures["2x2 book age at use p50"]["value"] <= age["value"] < 5000
    assert figures["2x2 detector capacity (decode + screen, one core)"]["value"] > 1000
    # fed through its own channel: more than the venues give, and the detector busy meanwhile
    through = figures["2x2 detector ingest fed through its channel as fast as it answers"]
    assert through["unit"] == "updates/s" and through["value"] > 5 * figures["2x2 books from the venues"]["value"]
    assert 10 <= figures["2x2 detector's CPU meanwhile"]["value"] <= 200
