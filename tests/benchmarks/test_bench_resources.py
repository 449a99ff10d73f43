"""benchmarks/bench_resources.py at a tiny size: it runs end to end, rayarb and then the in-process bot, and records
sane figures (it cannot rot)."""
import json

import pytest

from benchmarks import bench_resources

pytestmark = [pytest.mark.ray, pytest.mark.slow]  # a whole run and a bot's: ~45 s


def test_the_resources_benchmark_records_memory_per_actor_and_cpu_per_book_update(tmp_path):
    results = tmp_path / "results.json"
    result = bench_resources.main(["--loads", "2x2", "--update-hz", "10", "--seconds", "3", "--warmup", "1",
                                   "--results", str(results)])["2x2"]
    entry = json.loads(results.read_text())["benchmarks"]["resources"]
    figures = {f["name"]: f for f in entry["figures"]}
    assert set(result["rss_mib"]) == {"exchange:alpha", "exchange:beta", "detector", "order_manager",
                                      "position_tracker", "supervisor"}
    assert all(20 < rss < 4096 for rss in result["rss_mib"].values())  # a Python process with Ray in it
    every = figures["2x2 RSS every actor (baseline: the bot's one process)"]
    each = figures["2x2 RSS exchange actor (each, mean)"]
    assert each["unit"] == "MiB" and 20 < each["value"] < every["value"]
    assert 20 < every["baseline"] < every["value"]  # one process against six
    assert every["ratio"] == round(every["value"] / every["baseline"], 2)
    books = figures["2x2 book updates in the window"]
    assert books["value"] > 0 and books["baseline"] > 0
    per_books = figures["2x2 CPU per 1,000 book updates (exchange actors + detector)"]
    assert per_books["unit"] == "ms" and 0 < per_books["value"] < 100_000
    every_per_books = figures["2x2 CPU per 1,000 book updates, every actor and Ray's processes (baseline: the bot's)"]
    assert per_books["value"] <= every_per_books["value"] and 0 < every_per_books["baseline"] < 100_000
    share = figures["2x2 CPU of every actor and Ray's processes (baseline: the bot's)"]
    assert figures["2x2 CPU of every actor"]["value"] <= share["value"] < 100 * 64 and 0 < share["baseline"] < 100 * 64
    assert result["bot"]["books"] > 0 and result["bot"]["window_s"] >= 2.9
