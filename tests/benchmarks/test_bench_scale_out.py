"""benchmarks/bench_scale_out.py at a tiny size: two nodes, K = 1 and 2, and it records sane figures."""
import json

import pytest

from benchmarks import bench_scale_out

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]  # a cluster and two runs: ~60 s


def test_the_scale_out_benchmark_records_each_k_with_its_shards_on_distinct_nodes(tmp_path):
    results = tmp_path / "results.json"
    bench_scale_out.main(["--shards", "1,2", "--venues", "2", "--symbols", "2", "--nodes", "2", "--seconds", "3",
                          "--warmup", "1", "--results", str(results)])
    entry = json.loads(results.read_text())["benchmarks"]["scale_out"]
    figures = {f["name"]: f for f in entry["figures"]}
    for k in (1, 2):
        assert figures[f"K={k} ingest into the detectors"]["value"] > 0
        assert 0 <= figures[f"K={k} book age at use p99"]["value"] < 5000
        assert figures[f"K={k} shard nodes (distinct)"]["value"] == k  # one shard per node
    assert figures["K=1 opportunities taken"]["unit"] == "count"
