"""Peers on a real local Ray: a cached handle of an actor killed and recreated under its name (as the supervisor does
after ``ray.kill``) is replaced; a call that may be repeated goes through at once, one that may not raises."""
from __future__ import annotations

import asyncio
import tempfile

import pytest
import ray
from ray.exceptions import ActorDiedError

from actors.peers import NAMESPACE, Peers, venue_market_rules
from orchestration.ray_runtime import shutdown_ray, start_or_join_ray


@ray.remote(num_cpus=0)
class Counter:
    def __init__(self, start: int) -> None:
        self.value = start

    def read(self) -> int:
        return self.value


@pytest.fixture
def local_ray():
    with tempfile.TemporaryDirectory(prefix="rp-") as temp_dir:  # short: Ray's socket paths are limited to 107 bytes
        start_or_join_ray(num_cpus=1, temp_dir=temp_dir)
        try:
            yield
        finally:
            shutdown_ray()


def recreate(name: str, start: int):
    ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    handle = None
    for _ in range(100):  # the name is free once Ray has the old actor dead
        try:
            handle = Counter.options(name=name, namespace=NAMESPACE).remote(start)
            break
        except ValueError:
            ray.get(Counter.options(num_cpus=0).remote(0).read.remote(), timeout=30)  # a round trip, not a sleep
    assert handle is not None
    assert ray.get(handle.read.remote(), timeout=30) == start
    return handle  # kept by the caller: an actor without a named lifetime lives while a handle does


async def test_a_handle_of_a_recreated_actor_is_replaced_for_a_repeatable_call(local_ray):
    first = Counter.options(name="venue", namespace=NAMESPACE).remote(1)
    peers = Peers()
    assert await peers.call("venue", "read", timeout_s=30) == 1  # the handle is cached now

    second = recreate("venue", 2)
    assert await peers.call("venue", "read", timeout_s=30, idempotent=True) == 2

    third = recreate("venue", 3)
    with pytest.raises(ActorDiedError):  # not repeatable: the caller decides (the handle is dropped)
        await peers.call("venue", "read", timeout_s=30)
    assert await peers.call("venue", "read", timeout_s=30) == 3
    del first, second, third


async def test_a_routed_name_leads_to_the_actor_it_was_routed_to_and_back(local_ray):
    first = Counter.options(name="exchange:alpha", namespace=NAMESPACE).remote(1)
    standby = Counter.options(name="exchange:alpha~2", namespace=NAMESPACE).remote(2)
    peers = Peers()
    assert await peers.call("exchange:alpha", "read", timeout_s=30) == 1
    peers.route("exchange:alpha", "exchange:alpha~2")  # the cached handle is dropped with the old route
    assert await peers.call("exchange:alpha", "read", timeout_s=30) == 2
    assert peers.get("exchange:alpha") is peers.get("exchange:alpha")
    peers.route("exchange:alpha", "exchange:alpha")
    assert await peers.call("exchange:alpha", "read", timeout_s=30) == 1
    del first, standby


class RecordedPeers:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def call(self, name, method, *args, timeout_s, idempotent=False):
        self.calls.append((name, method))
        return {"BTC/USDT": f"asked of {name}"}


async def test_market_rules_the_supervisor_told_are_not_asked_again():
    peers = RecordedPeers()
    rules = await venue_market_rules(peers, ["a", "b", "c"], {"b": {"BTC/USDT": "told"}})
    assert rules == {"a": {"BTC/USDT": "asked of exchange:a"}, "b": {"BTC/USDT": "told"},
                     "c": {"BTC/USDT": "asked of exchange:c"}}
    assert peers.calls == [("exchange:a", "market_rules"), ("exchange:c", "market_rules")]
    assert await venue_market_rules(peers, ["b"], {"b": {}, "z": {}}) == {"b": {}} and len(peers.calls) == 2


async def test_a_name_routed_elsewhere_during_its_lookup_is_looked_up_again(monkeypatch):
    """A takeover's route reaches a process while its first call to that name is being looked up: the handle found
    leads to the actor the name left, and must not be kept."""
    import threading

    import actors.peers

    looked_up, release = [], threading.Event()

    def get_actor(name, namespace):
        looked_up.append(name)
        if len(looked_up) == 1:
            assert release.wait(10)
        return f"handle of {name}"

    monkeypatch.setattr(actors.peers.ray, "get_actor", get_actor)
    peers = Peers()
    lookup = asyncio.ensure_future(peers.resolve("order_manager", timeout_s=10))
    for _ in range(500):
        if looked_up:
            break
        await asyncio.sleep(0.01)
    peers.route("order_manager", "order_manager~2")
    release.set()
    assert await lookup == "handle of order_manager~2"
    assert looked_up == ["order_manager", "order_manager~2"]
    assert await peers.resolve("order_manager", timeout_s=1) == "handle of order_manager~2"  # kept


async def test_peers_warmed_in_the_background_are_at_hand_and_a_failure_is_left_to_the_first_call(monkeypatch):
    import actors.peers

    class Handle:
        def __init__(self, name):
            self.name = name
            self.channel_address = self

        async def _answer(self):
            return ("127.0.0.1", 1)

        def remote(self):
            return self._answer()

    def get_actor(name, namespace):
        if name == "absent":
            raise ValueError(f"no actor {name}")
        return Handle(name)

    monkeypatch.setattr(actors.peers.ray, "get_actor", get_actor)
    peers = Peers()
    peers.warm("order_manager", "absent", method="channel_address")
    for _ in range(500):
        if not peers._warming:
            break
        await asyncio.sleep(0.01)
    assert list(peers._handles) == ["order_manager"] and not peers._warming
