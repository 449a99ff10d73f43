"""Where each actor may run on a cluster (``actor_options``, ``supervisor_options``): the order manager, the tracker
and the supervisor on the node with ``rayarb_head``; the exchange actors and the detector, with
``hot_path_on_workers``, on the nodes with ``rayarb_worker``; neither asked for on a plain Ray."""
import dataclasses

from actors.common import HEAD_RESOURCE, WORKER_RESOURCE
from actors.placement import actor_options, supervisor_options
from tests.actors.test_deployment_names import deployment

NAMES = ("exchange:alpha", "exchange:beta", "detector", "order_manager", "position_tracker")


def test_on_a_cluster_the_stateful_actors_and_supervisor_ask_for_the_head_and_the_hot_path_for_a_worker():
    cluster = dataclasses.replace(deployment(False), pin_stateful_to_head=True, hot_path_on_workers=True)
    asked = {name: actor_options(cluster, name).get("resources") for name in NAMES}
    assert asked == {"exchange:alpha": {WORKER_RESOURCE: 0.001}, "exchange:beta": {WORKER_RESOURCE: 0.001},
                     "detector": {WORKER_RESOURCE: 0.001}, "order_manager": {HEAD_RESOURCE: 0.001},
                     "position_tracker": {HEAD_RESOURCE: 0.001}}
    assert supervisor_options(cluster)["resources"] == {HEAD_RESOURCE: 0.001}
    head_only = dataclasses.replace(cluster, hot_path_on_workers=False)
    assert [actor_options(head_only, name).get("resources") for name in NAMES[:3]] == [None] * 3


def test_a_plain_ray_asks_for_no_node():
    plain = deployment(False)
    assert all("resources" not in actor_options(plain, name) for name in NAMES)
    assert "resources" not in supervisor_options(plain)
