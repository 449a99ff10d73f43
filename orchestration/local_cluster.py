"""A several-node Ray on this host, for ``rayarb chaos --nodes N`` (its ``node_lost`` fault), the cluster tests and the
benchmarks: a head and worker nodes (two by default) made with ``ray.cluster_utils.Cluster``, each with one CPU, a
small object store, its own temp dir and fast node-death detection (see ../shared/notes/ray-facts.md), always torn
down. Every node is on node address 127.0.0.1 (all its processes listen on loopback only).

The head carries the ``rayarb_head`` resource, as in ray_cluster.yaml, so a run can pin its stateful actors there. The
driver (the process that started the cluster) joins the head; only worker nodes are ever removed. ``actor_placement``
says where the named rayarb actors run (the GCS actor table: ``ray.util.state`` would need the dashboard).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from types import MappingProxyType

import psutil

from actors.common import HEAD_RESOURCE, WORKER_RESOURCE
from orchestration.ray_runtime import (FAIL_FAST_ON_DEAD_ACTORS, ensure_auth_mode_env, loopback_node_address,
                                       shutdown_ray)

logger = logging.getLogger(__name__)

OBJECT_STORE_BYTES = 100 * 1024 * 1024
NODE_CPUS = 1
WORKER_NODES = 2
# A dead node declared dead in ~0.6 s instead of ~14 s (three missed health checks 200 ms apart), and a node that stops
# answering (a host gone, its connections open but silent) in ~2 s instead of 31 s: a check unanswered for 500 ms is
# missed (Ray's own timeout is 10 s; tests/cluster/test_silent_node.py). A check is one small RPC: five a second per
# node cost the head nothing it shows; what declares a node dead is three misses in a row, each a refused connection
# or 500 ms of silence.
# Read-only: Ray adds its spilling settings to the _system_config dict it is given, so each cluster gets a copy.
FAST_NODE_DEATH = MappingProxyType({"health_check_period_ms": 200, "health_check_failure_threshold": 3,
                                    "health_check_timeout_ms": 500, "health_check_initial_delay_ms": 0})
# A hung actor's process (one that stops answering, on another node than the supervisor's, which SIGKILLs one on its
# own) is SIGKILLed 1 s after Ray asked it to exit, not 5 s: it cannot exit, and Ray restarts it only once it is gone.
FAST_HUNG_KILL = MappingProxyType({"kill_worker_timeout_milliseconds": 1000})
# The head's system config (as ray_cluster.yaml's): fast node death, a hung actor killed soon, and calls to a dead
# actor failing at once.
CLUSTER_SYSTEM_CONFIG = MappingProxyType({**FAST_NODE_DEATH, **FAST_HUNG_KILL, **FAIL_FAST_ON_DEAD_ACTORS})


class NodeCluster:
    """The running ``Cluster`` and what a test needs about it: its address and the node ids of head and workers."""

    def __init__(self, cluster, temp_dir: str, node_cpus: int = NODE_CPUS, hot_path_on_workers: bool = False) -> None:
        self.cluster = cluster
        self.temp_dir = temp_dir
        self.node_cpus = node_cpus
        # workers carry rayarb_worker: a run places its exchange actors and detectors on them only, never the head
        self.worker_resources = {WORKER_RESOURCE: 1} if hot_path_on_workers else {}
        self.workers: dict[str, object] = {}  # node id -> ray._private.node.Node

    @property
    def address(self) -> str:
        return self.cluster.address

    @property
    def head_node_id(self) -> str:
        return self.cluster.head_node.node_id

    def add_worker(self) -> str:
        node = self.cluster.add_node(num_cpus=self.node_cpus, object_store_memory=OBJECT_STORE_BYTES,
                                     resources=dict(self.worker_resources))
        self.workers[node.node_id] = node
        return node.node_id

    def remove_worker(self, node_id: str) -> None:
        """Kill every process of a worker node at once (SIGKILL, as a crashed host): its workers (the actors'
        processes) with its raylet. Ray alone kills the raylet, and the workers then live on until they notice, up to
        a second here, still reached by the hot path's channels. Ray notices the loss by health checks."""
        from ray._private import ray_constants

        node = self.workers.pop(node_id)
        raylet = node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
        with contextlib.suppress(psutil.Error):
            for worker in psutil.Process(raylet).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    worker.kill()
        self.cluster.remove_node(node, allow_graceful=False)

    def silence_worker(self, node_id: str) -> None:
        """Stop every process of a worker node (SIGSTOP), as a host that is gone without closing its connections:
        nothing it holds answers or refuses. ``remove_worker`` ends them."""
        from ray._private import ray_constants

        raylet = self.workers[node_id].all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid
        with contextlib.suppress(psutil.Error):
            for process in [psutil.Process(raylet), *psutil.Process(raylet).children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    process.suspend()

    def alive_node_ids(self) -> set[str]:
        import ray

        return {n["NodeID"] for n in ray.nodes() if n.get("Alive")}


def actor_placement(names) -> dict[str, tuple[str, str, int]]:
    """name -> (node id, state, restarts so far) of the actors with these names that are not DEAD (this process is a
    driver of the cluster)."""
    import ray

    wanted = set(names)
    return {a["Name"]: (a["Address"]["NodeID"], a["State"], a["NumRestarts"])
            for a in ray._private.state.actors().values() if a["Name"] in wanted and a["State"] != "DEAD"}


@contextlib.contextmanager
def started_cluster(workers: int = WORKER_NODES, node_cpus: int = NODE_CPUS,
                    hot_path_on_workers: bool = False) -> Iterator[NodeCluster]:
    """Head + ``workers`` worker nodes on loopback, RAY_AUTH_MODE=disabled in this process and every process Ray
    starts; torn down on exit. ``hot_path_on_workers``: the workers carry ``rayarb_worker`` (the hot path off the
    head)."""
    from ray.cluster_utils import Cluster

    previous = {name: os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_TMPDIR")}
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ensure_auth_mode_env()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    shutdown_ray()
    # Short path: Ray's unix socket names under the temp dir must stay under ~107 characters. As RAY_TMPDIR it also
    # holds the ray_current_cluster file Cluster writes, so an address-less ray.init of a test running beside this
    # one does not join (and tear down actors in) this cluster.
    temp_dir = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
    os.environ["RAY_TMPDIR"] = temp_dir
    os.makedirs(os.path.join(temp_dir, "ray"))  # where Ray puts ray_current_cluster under RAY_TMPDIR
    started = time.monotonic()
    # every node on node address 127.0.0.1 (all its processes listen on loopback only, as rayarb's own Ray does), and
    # the test's drivers dial that address as given
    local_only = contextlib.ExitStack()
    local_only.enter_context(loopback_node_address())
    cluster = None
    try:
        cluster = Cluster(initialize_head=False, shutdown_at_exit=True)
        cluster.add_node(num_cpus=node_cpus, object_store_memory=OBJECT_STORE_BYTES, resources={HEAD_RESOURCE: 1},
                         temp_dir=temp_dir, include_dashboard=False, _system_config=dict(CLUSTER_SYSTEM_CONFIG))
        nodes = NodeCluster(cluster, temp_dir, node_cpus, hot_path_on_workers)
        for _ in range(workers):
            nodes.add_worker()
        cluster.wait_for_nodes(timeout=60)
        assert {node.node_ip_address for node in cluster.list_all_nodes()} == {"127.0.0.1"}
        logger.info("cluster of %d nodes up in %.1f s", 1 + workers, time.monotonic() - started)
        yield nodes
    finally:
        shutdown_ray()
        if cluster is not None:
            cluster.shutdown()  # every node still there, head last
        local_only.close()
        shutil.rmtree(temp_dir, ignore_errors=True)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        ensure_auth_mode_env()
