"""A worker node that stops answering, as a host gone without closing its connections (every process of it stopped:
its sockets stay open, nothing answers and nothing is refused), is declared dead in seconds, as one that crashed is:
each health check counts as missed after 500 ms (``orchestration.local_cluster.FAST_NODE_DEATH``, ray_cluster.yaml's
system config). With Ray's 10 s check timeout the same node was declared dead after 31 s, and its actors stayed where
nothing answered them until then."""
from __future__ import annotations

import time

import pytest
import ray

pytestmark = [pytest.mark.ray, pytest.mark.cluster]

# ~3 s expected (three checks of 500 ms timeout + 500 ms period); 31 s with Ray's default timeout
DECLARED_DEAD_WITHIN_S = 15.0


def test_a_worker_node_that_stops_answering_is_declared_dead_in_seconds(node_cluster):
    ray.init(address=node_cluster.address)
    try:
        victim = next(iter(node_cluster.workers))
        assert victim in node_cluster.alive_node_ids()
        node_cluster.silence_worker(victim)
        try:
            deadline = time.monotonic() + DECLARED_DEAD_WITHIN_S
            while victim in node_cluster.alive_node_ids():
                assert time.monotonic() < deadline, f"a silent node still alive after {DECLARED_DEAD_WITHIN_S:.0f} s"
                time.sleep(0.1)
        finally:
            node_cluster.remove_worker(victim)
        assert node_cluster.alive_node_ids() >= {node_cluster.head_node_id, *node_cluster.workers}
    finally:
        ray.shutdown()
