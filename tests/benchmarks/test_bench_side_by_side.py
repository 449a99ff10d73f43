"""benchmarks/bench_side_by_side.py at a tiny size: rayarb and the baseline each take a turn on the same venues and
sane figures are recorded for both (it cannot rot)."""
import json

import pytest

from benchmarks import bench_side_by_side

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # a rayarb run and a baseline run: ~90 s on 2 loaded cores


def test_the_side_by_side_benchmark_records_both_sides_at_both_end_points(tmp_path):
    results = tmp_path / "results.json"
    bench_side_by_side.main(["--load", "3x2", "--seconds", "8", "--rounds", "1", "--results", str(results)])
    entry = json.loads(results.read_text())["benchmarks"]["side_by_side.3x2"]
    assert entry["command"] == "python -m benchmarks.bench_side_by_side --load 3x2 --seconds 8 --rounds 1"
    figures = {f["name"]: f for f in entry["figures"]}
    counted = figures["opportunities measured"]
    assert counted["value"] > 0 and counted["baseline"] > 0
    for end in ("sent", "at the venue"):
        p50, p99 = figures[f"book -> first leg {end} p50"], figures[f"book -> first leg {end} p99"]
        for figure in (p50, p99):  # both sides measured, in milliseconds, with the ratio
            assert figure["unit"] == "ms" and 0 < figure["value"] < 1000 and 0 < figure["baseline"] < 1000
            assert figure["ratio"] == round(figure["value"] / figure["baseline"], 2)
        assert p50["value"] <= p99["value"] and p50["baseline"] <= p99["baseline"]
        assert p99["target"] == "<= 1.3x"
    sent, venue = figures["book -> first leg sent p50"], figures["book -> first leg at the venue p50"]
    assert sent["value"] <= venue["value"] and sent["baseline"] <= venue["baseline"]  # the venue receives it after
    stages = [figures[f"rayarb stage {s} p50"]["value"] for s in ("detect", "handoff", "submit", "request")]
    assert all(0 <= s < 1000 for s in stages)
