"""Where and how each rayarb actor is created: its class, its constructor's arguments, and its Ray options (detached
and named, restarted by Ray, never a retried method; spread over the hot path's nodes, a standby pair on two of them, a
detector shard on a node of its own, the order manager and tracker on the journal's node)."""
from __future__ import annotations

from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from actors.common import (
    EXCHANGE_PREFIX,
    HEAD_RESOURCE,
    ORDER_MANAGER,
    POSITION_TRACKER,
    SUPERVISOR,
    WORKER_RESOURCE,
    Deployment,
    exchange_actor_name,
    is_detector,
    role_of,
    venue_of,
)
from actors.peers import NAMESPACE


def actor_class(name: str) -> type:
    if name.startswith(EXCHANGE_PREFIX):
        from actors.exchange import ExchangeConnection
        return ExchangeConnection
    from actors.detector import DetectorActor
    from actors.order_manager import OrderManagerActor
    from actors.position_tracker import PositionTrackerActor
    if is_detector(name):
        return DetectorActor
    return {ORDER_MANAGER: OrderManagerActor, POSITION_TRACKER: PositionTrackerActor}[role_of(name)]


def on_hot_path(name: str) -> bool:
    """An exchange actor or a detector: spread over the hot path's nodes, a standby pair on two of them."""
    return name.startswith(EXCHANGE_PREFIX) or is_detector(name)


def actor_options(deployment: Deployment, name: str, avoid_node: str | None = None) -> dict[str, Any]:
    options: dict[str, Any] = dict(name=name, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                                   max_restarts=-1, max_task_retries=0, num_cpus=0, max_concurrency=1000,
                                   # num_cpus=0 actors would all pack onto the supervisor's node: spread them, so
                                   # losing one node costs a few actors (restarted elsewhere), not all of them.
                                   scheduling_strategy="SPREAD")
    node = None
    if on_hot_path(name) and len(deployment.members(name)) > 1:
        node = pair_node(deployment, name, avoid_node)
    elif is_detector(name) and deployment.detector_shards > 1:
        node = shard_node(deployment, deployment.detector_names.index(name))
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node, soft=False)
    if deployment.pin_stateful_to_head and role_of(name) in (ORDER_MANAGER, POSITION_TRACKER):
        options["resources"] = {HEAD_RESOURCE: 0.001}  # the node that holds the journal
    elif deployment.hot_path_on_workers and on_hot_path(name):
        options["resources"] = {WORKER_RESOURCE: 0.001}  # Ray restarts it on such a node too
    return options


def supervisor_options(deployment: Deployment) -> dict[str, Any]:
    """The supervisor's own options. On a cluster (``pin_stateful_to_head``) it runs on the head, with the driver and
    the journal: a worker node's loss then never takes the supervisor, which would leave the other lost actors'
    takeovers waiting until the driver noticed and a new supervisor adopted the run."""
    options: dict[str, Any] = dict(name=SUPERVISOR, namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
                                   max_restarts=-1, max_task_retries=0, num_cpus=0)
    if deployment.pin_stateful_to_head:
        options["resources"] = {HEAD_RESOURCE: 0.001}
    return options


def hot_path_nodes(deployment: Deployment) -> list[str]:
    """The alive nodes that may run exchange actors and detectors, sorted: every one, or with ``hot_path_on_workers``
    those that carry ``rayarb_worker``."""
    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive") and (
        not deployment.hot_path_on_workers or n.get("Resources", {}).get(WORKER_RESOURCE, 0) > 0))


def shard_node(deployment: Deployment, shard: int) -> str | None:
    """The node for detector shard ``shard`` on a cluster: the hot path's nodes in turn (SPREAD alone put 4 shards of a
    4-node cluster on 2 nodes; zero-CPU actors are not spread reliably). Hard affinity: a shard whose node is lost is
    dead, and the supervisor recreates it here, on a node alive then. None on a single node."""
    nodes = hot_path_nodes(deployment)
    return nodes[shard % len(nodes)] if len(nodes) > 1 else None


def pair_node(deployment: Deployment, name: str, avoid_node: str | None) -> str | None:
    """The node for one of a role's two actors (a venue's exchange actors, a detector shard's) on a cluster, so that
    one node's loss does not take both: at the start, the two on consecutive nodes (the alive nodes in turn, by venue
    or shard); a replaced one on a node other than ``avoid_node``, its partner's. Hard affinity: one whose node is lost
    is dead, and the supervisor recreates it here. None on a single node."""
    nodes = hot_path_nodes(deployment)
    if len(nodes) < 2:
        return None
    role = role_of(name)
    candidates = [n for n in nodes if n != avoid_node] or nodes
    order = deployment.detector_names if is_detector(name) else tuple(map(exchange_actor_name, deployment.venue_names))
    turn = order.index(role) + deployment.members(role).index(name)
    return candidates[turn % len(candidates)]


def create_actor(deployment: Deployment, name: str, avoid_node: str | None = None) -> Any:
    cls = actor_class(name)
    if name.startswith(EXCHANGE_PREFIX):
        venue = next(v for v in deployment.venues if v.name == venue_of(name))
        args: tuple = (venue, list(deployment.symbols))
        kwargs: dict[str, Any] = {"channels": deployment.channels, "realtime_priority": deployment.realtime_priority,
                                  "cpu_wake_latency_us": deployment.cpu_wake_latency_us,
                                  "metrics_dir": deployment.metrics_dir,
                                  "retry_policy": deployment.retry}
        if venue.paper:
            kwargs["paper_balances"] = dict(deployment.paper_balances)
    elif is_detector(name):  # one shard of detection (a single detector is shard 0 of 1)
        args, kwargs = (deployment, deployment.detector_names.index(role_of(name))), {}
    else:
        args, kwargs = (deployment,), {}
    return ray.remote(cls).options(**actor_options(deployment, name, avoid_node)).remote(*args, **kwargs)
