"""Conflated fan-out: the newest item wins, one push in flight per subscriber and key, a failing subscriber is isolated."""
from __future__ import annotations

import asyncio

from actors.conflation import ConflatingPublisher


async def until(condition, timeout_s: float = 5.0) -> None:
    """Wait for ``condition()`` (a test waits on what it expects, never a fixed time)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.001)


async def test_a_slow_subscriber_gets_the_latest_item_and_never_a_backlog():
    received: list[int] = []
    gate = asyncio.Event()

    async def send(handle, item):
        await gate.wait()
        received.append(item)

    pub = ConflatingPublisher(send)
    pub.subscribe("slow", object())
    for i in range(100):
        pub.publish("BTC/USDT", i)
        await asyncio.sleep(0)
    gate.set()
    await until(lambda: len(received) == 2 and pub.pushed == 2)
    assert received == [0, 99]  # the one in flight, then only the newest
    assert pub.conflated == 98
    await pub.close()


async def test_keys_are_conflated_independently():
    received: list[tuple[str, int]] = []

    async def send(handle, item):
        received.append(item)

    pub = ConflatingPublisher(send)
    pub.subscribe("s", object())
    pub.publish("A", ("A", 1))
    pub.publish("B", ("B", 1))
    pub.publish("A", ("A", 2))
    pub.publish("A", ("A", 3))
    await until(lambda: pub.pushed == 3)
    # A1 went out at once; A2 was replaced by A3 while A1 was in flight; B is untouched by A's conflation
    assert sorted(received) == [("A", 1), ("A", 3), ("B", 1)]
    assert pub.conflated == 1


async def test_the_first_item_is_handed_to_the_transport_inside_publish():
    handed: list[int] = []

    def send(handle, item):
        handed.append(item)  # an eager transport writes here
        return asyncio.sleep(0)

    pub = ConflatingPublisher(send)
    pub.subscribe("s", object())
    pub.publish("A", 1)
    assert handed == [1]  # before the event loop turned
    pub.publish("A", 2)
    assert handed == [1]  # in flight: waits, conflated
    await until(lambda: pub.pushed == 2)
    assert handed == [1, 2]
    await pub.close()


async def test_a_failing_subscriber_does_not_stop_the_others():
    got: list[str] = []

    async def send(handle, item):
        if handle == "bad":
            raise RuntimeError("dead actor")
        got.append(item)

    pub = ConflatingPublisher(send)
    pub.subscribe("bad", "bad")
    pub.subscribe("good", "good")
    for i in range(3):
        pub.publish("k", f"x{i}")
        await until(lambda: f"x{i}" in got)  # the good subscriber gets each, the bad one fails each time
    assert got == ["x0", "x1", "x2"]
    await until(lambda: pub.failed == 3)


async def test_a_hung_subscriber_times_out_and_frees_its_slot():
    async def send(handle, item):
        await asyncio.sleep(10)

    pub = ConflatingPublisher(send, push_timeout_s=0.01)
    pub.subscribe("hung", object())
    pub.publish("k", 1)
    await until(lambda: pub.failed == 1)
    pub.publish("k", 2)  # the slot is free again: a new push goes out (and times out in turn)
    await until(lambda: pub.failed == 2)
    await pub.close()


async def test_a_subscriber_limited_to_some_keys_gets_only_those():
    got: dict[str, list] = {"all": [], "balances": []}

    async def send(handle, item):
        got[handle].append(item)

    pub = ConflatingPublisher(send)
    pub.subscribe("all", "all")
    pub.subscribe("balances", "balances", keys=frozenset({"balances"}))
    pub.publish("BTC/USDT", "book")
    pub.publish("balances", "free")
    await until(lambda: pub.pushed == 3)
    assert sorted(got["all"]) == ["book", "free"] and got["balances"] == ["free"]
