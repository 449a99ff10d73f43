"""The cluster tests' several-node Ray (``tests.cluster.nodes``): a head and two worker nodes, one per test module."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.cluster.nodes import NodeCluster, started_cluster


@pytest.fixture(scope="module")
def node_cluster() -> Iterator[NodeCluster]:
    """Head + two worker nodes on loopback, RAY_AUTH_MODE=disabled in this process and every process Ray starts."""
    with started_cluster() as nodes:
        yield nodes
