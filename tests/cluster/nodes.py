"""The cluster tests' several-node Ray lives in ``orchestration.local_cluster`` (``rayarb chaos --nodes`` uses it too);
its names are re-exported here for the tests and benchmarks that import them from this module."""
from orchestration.local_cluster import (CLUSTER_SYSTEM_CONFIG, NODE_CPUS, OBJECT_STORE_BYTES, WORKER_NODES,
                                         NodeCluster, actor_placement, started_cluster)

__all__ = ["CLUSTER_SYSTEM_CONFIG", "NODE_CPUS", "OBJECT_STORE_BYTES", "WORKER_NODES", "NodeCluster", "actor_placement",
           "started_cluster"]
