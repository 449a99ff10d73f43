"""A worker node that stops answering, as a host gone without closing its connections (every process of it stopped:
its sockets stay open, nothing answers and nothing is refused), is declared dead in seconds, as one that crashed is:
each health check counts as missed after 500 ms (``orchestration.local_cluster.FAST_NODE_DEATH``, ray_cluster.yaml's
system config). With Ray's 10 s check timeout the same node was declared dead after 31 s, and its actors stayed where
nothing answered them until then. And one actor that stops answering on another node than the supervisor's is
replaced about a second after Ray is asked to kill it (``FAST_HUNG_KILL``), not after Ray's 5 s wait for an exit."""
from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest
import ray

pytestmark = [pytest.mark.ray, pytest.mark.cluster]

# ~2 s expected (three checks of 500 ms timeout, 200 ms apart); 31 s with Ray's default timeout
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


@ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=0)
class _Pid:
    def pid(self) -> int:
        import os

        return os.getpid()


# ~1.5 s expected (Ray's kill, its 1 s wait for an exit, the new process); 5 s of wait alone with Ray's default
HUNG_REPLACED_WITHIN_S = 4.0


def test_a_hung_actor_on_another_node_is_replaced_a_second_after_rays_kill(node_cluster):
    """The supervisor SIGKILLs a hung actor's process on its own node; on another node it asks Ray (``ray.kill``), whose
    raylet asks the process to exit and SIGKILLs it only after ``kill_worker_timeout_milliseconds``: a stopped process
    cannot exit, so that wait is all spent before Ray restarts the actor (``FAST_HUNG_KILL``: 1 s, Ray's default 5 s)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray.init(address=node_cluster.address)
    try:
        worker = next(iter(node_cluster.workers))
        actor = _Pid.options(scheduling_strategy=NodeAffinitySchedulingStrategy(worker, soft=True)).remote()
        pid = ray.get(actor.pid.remote(), timeout=60)
        os.kill(pid, signal.SIGSTOP)  # hung: neither answers nor exits
        try:
            killed = time.monotonic()
            ray.kill(actor, no_restart=False)
            while True:
                try:
                    new_pid = ray.get(actor.pid.remote(), timeout=1)
                    break
                except (ray.exceptions.GetTimeoutError, ray.exceptions.RayActorError):
                    assert time.monotonic() - killed < HUNG_REPLACED_WITHIN_S, \
                        f"a hung actor not replaced within {HUNG_REPLACED_WITHIN_S:.0f} s of Ray's kill"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert new_pid != pid and time.monotonic() - killed < HUNG_REPLACED_WITHIN_S
        ray.kill(actor, no_restart=True)
    finally:
        ray.shutdown()
