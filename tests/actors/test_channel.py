"""Direct channels between actors: answers and errors arrive as from a Ray call, failures say whether the call left."""
from __future__ import annotations

import asyncio
import pickle

import pytest

from actors.channel import (
    MAX_PENDING_CALLS,
    ChannelClient,
    ChannelLost,
    Channels,
    ChannelServer,
    ChannelSettings,
    ChannelUnavailable,
    RemoteError,
    ServesChannel,
)
from execution.error_handler import InvalidOrder

TOKEN = "a-run-token"


class Echo(ServesChannel):
    channel_methods = ("echo", "fail", "slow", "unpicklable")

    def __init__(self, token: str = TOKEN) -> None:
        self.channel_settings = ChannelSettings(token=token)
        self.calls = 0
        self.release = asyncio.Event()

    async def echo(self, *args):
        self.calls += 1
        return args

    async def fail(self, message):
        raise InvalidOrder(message, exchange="alpha", client_order_id="rx-1")

    async def slow(self):
        self.calls += 1
        await self.release.wait()
        return "done"

    async def unpicklable(self):
        return lambda: None

    async def not_listed(self):
        return "private state"


class FakePeers:
    """Ray calls by name: the fallback path, and how a caller learns a peer's ``channel_address``."""

    def __init__(self, actors: dict) -> None:
        self.actors = actors
        self.ray_calls: list[tuple[str, str]] = []

    async def call(self, name, method, *args, timeout_s):
        self.ray_calls.append((name, method))
        return await asyncio.wait_for(getattr(self.actors[name], method)(*args), timeout_s)


async def connect(actor: Echo, token: str = TOKEN) -> ChannelClient:
    host, port = await actor.channel_address()
    return await ChannelClient.connect(host, port, token)


async def test_answers_and_remote_exceptions_arrive_as_themselves():
    actor = Echo()
    client = await connect(actor)
    assert await client.call("echo", (1, "two", {"three": 3}), 2) == (1, "two", {"three": 3})
    with pytest.raises(InvalidOrder) as raised:
        await client.call("fail", ("too small",), 2)
    assert raised.value.exchange == "alpha" and raised.value.client_order_id == "rx-1"
    with pytest.raises(RemoteError, match="result cannot be pickled"):
        await client.call("unpicklable", (), 2)
    assert await client.call("echo", ("still usable",), 2) == ("still usable",)  # the connection survives errors
    client.close()
    await actor.close_channel()


async def test_only_listed_methods_are_served():
    actor = Echo()
    client = await connect(actor)
    with pytest.raises(LookupError, match="not_listed"):
        await client.call("not_listed", (), 2)
    client.close()
    await actor.close_channel()


async def test_a_wrong_token_is_refused_before_any_call():
    actor = Echo()
    with pytest.raises(ChannelUnavailable):
        await connect(actor, token="someone-else")
    assert actor._channel_server.refused_connections == 1
    assert actor.calls == 0
    await actor.close_channel()


async def test_connecting_to_nothing_is_unavailable_not_lost():
    server = ChannelServer({}, token=TOKEN, host="127.0.0.1")
    host, port = await server.start()
    await server.close()
    with pytest.raises(ChannelUnavailable):
        await ChannelClient.connect(host, port, TOKEN, timeout_s=1)


async def test_timeout_after_sending_is_lost_and_the_handler_still_runs():
    actor = Echo()
    client = await connect(actor)
    with pytest.raises(ChannelLost, match="no answer to slow"):
        await client.call("slow", (), 0.05)
    assert actor.calls == 1  # it reached the peer: the caller must treat its effect as unknown
    actor.release.set()
    assert await client.call("echo", ("next",), 2) == ("next",)
    client.close()
    await actor.close_channel()


async def test_a_handlers_own_timeout_is_not_mistaken_for_a_lost_call():
    async def times_out():
        raise TimeoutError("venue did not answer")

    server = ChannelServer({"times_out": times_out}, token=TOKEN, host="127.0.0.1")
    client = await ChannelClient.connect(*await server.start(), TOKEN)
    with pytest.raises(TimeoutError, match="venue did not answer"):
        await client.call("times_out", (), 2)
    client.close()
    await server.close()


async def test_a_peer_that_dies_mid_call_fails_pending_calls_as_lost():
    actor = Echo()
    client = await connect(actor)
    pending = asyncio.ensure_future(client.call("slow", (), 5))
    await asyncio.sleep(0.05)
    await actor.close_channel()  # the peer's process going away closes its sockets
    with pytest.raises(ChannelLost):
        await pending
    assert client.closed
    with pytest.raises(ChannelUnavailable):  # a closed connection sends nothing more
        await client.call("echo", (), 1)


async def test_pending_calls_are_bounded():
    actor = Echo()
    client = await connect(actor)
    calls = [asyncio.ensure_future(client.call("slow", (), 5)) for _ in range(MAX_PENDING_CALLS)]
    await asyncio.sleep(0.05)
    with pytest.raises(ChannelUnavailable, match="pending"):
        await client.call("echo", (), 1)
    actor.release.set()
    assert set(await asyncio.gather(*calls)) == {"done"}
    client.close()
    await actor.close_channel()


async def test_malformed_and_oversized_frames_drop_only_that_connection():
    actor = Echo()
    host, port = await actor.channel_address()
    good = await connect(actor)
    for garbage in ((1 << 31).to_bytes(4, "big"), (5).to_bytes(4, "big") + b"\x80junk"):
        reader, writer = await asyncio.open_connection(host, port)
        token = TOKEN.encode()
        writer.write(len(token).to_bytes(4, "big") + token)
        await reader.readexactly(4 + 2)  # the handshake answer
        writer.write(garbage)  # a 2 GiB frame; a frame that is not a pickle
        assert await asyncio.wait_for(reader.read(), 2) == b""  # the server hung up on this connection
        writer.close()
    assert await good.call("echo", ("fine",), 2) == ("fine",)
    good.close()
    await actor.close_channel()


async def test_channels_find_peers_by_name_and_reconnect_after_a_restart():
    first = Echo()
    peers = FakePeers({"peer": first})
    channels = Channels(peers, ChannelSettings(token=TOKEN))
    assert await channels.call("peer", "echo", 1, timeout_s=2) == (1,)
    assert await channels.call("peer", "echo", 2, timeout_s=2) == (2,)
    assert peers.ray_calls == [("peer", "channel_address")]  # one Ray call, then the channel only
    await first.close_channel()  # the peer dies; Ray restarts it under the same name
    await asyncio.sleep(0.05)
    second = Echo()
    peers.actors["peer"] = second
    assert await channels.call("peer", "echo", 3, timeout_s=2) == (3,)
    assert second.calls == 1 and peers.ray_calls[-1] == ("peer", "channel_address")
    assert channels.through_ray == 0
    channels.close()
    await second.close_channel()


async def test_calls_go_through_ray_while_a_channel_cannot_be_reached():
    actor = Echo(token="the-peer-has-another-token")
    peers = FakePeers({"peer": actor})
    channels = Channels(peers, ChannelSettings(token=TOKEN))
    assert await channels.call("peer", "echo", "x", timeout_s=2) == ("x",)
    assert channels.through_ray == 1
    assert peers.ray_calls == [("peer", "channel_address"), ("peer", "echo")]
    await channels.call("peer", "echo", "y", timeout_s=2)  # no reconnect attempt right after a failure
    assert peers.ray_calls[-1] == ("peer", "echo") and len(peers.ray_calls) == 3
    await actor.close_channel()


async def test_without_settings_every_call_goes_through_ray():
    actor = Echo()
    peers = FakePeers({"peer": actor})
    channels = Channels(peers, None)
    assert await channels.call("peer", "echo", 5, timeout_s=2) == (5,)
    assert peers.ray_calls == [("peer", "echo")]
    actor.channel_settings = None
    assert await actor.channel_address() is None  # a deployment without channels serves none


def test_the_token_never_shows_in_a_repr():
    settings = ChannelSettings(token="very-secret-token", host="127.0.0.1")
    assert "very-secret-token" not in repr(settings)
    assert pickle.loads(pickle.dumps(settings)) == settings  # it travels to actors inside the Deployment


class NeedsKeyword(Exception):
    def __init__(self, *, detail: str) -> None:  # pickles, but cannot be rebuilt from its args
        super().__init__(f"needs {detail}")


async def test_an_exception_that_cannot_be_rebuilt_arrives_as_its_text():
    async def raises():
        raise NeedsKeyword(detail="a keyword")

    server = ChannelServer({"raises": raises}, token=TOKEN, host="127.0.0.1")
    client = await ChannelClient.connect(*await server.start(), TOKEN)
    with pytest.raises(RemoteError, match="NeedsKeyword: needs a keyword"):
        await client.call("raises", (), 2)
    assert not client.closed  # the connection and the calls on it are unharmed
    client.close()
    await server.close()


class Inline(ServesChannel):
    """``<name>_now`` handlers: the channel calls them as the request arrives, the Ray method awaits the same."""

    channel_methods = ("note", "start_work")

    def __init__(self) -> None:
        self.channel_settings = ChannelSettings(token=TOKEN)
        self.seen: list[tuple[str, object]] = []
        self.finish = asyncio.Event()

    async def note(self, value):
        return self.note_now(value)

    def note_now(self, value):
        self.seen.append((value, asyncio.current_task()))
        return value * 2

    async def start_work(self, value):
        return await self.start_work_now(value)

    def start_work_now(self, value):
        self.seen.append((value, asyncio.current_task()))  # the urgent part, at once

        async def rest():
            await self.finish.wait()
            return f"finished {value}"
        return rest()


async def test_a_now_handler_runs_as_the_request_arrives_outside_any_task():
    actor = Inline()
    client = await connect(actor)
    assert await client.call("note", (21,), 2) == 42
    assert actor.seen == [(21, None)]  # called from the connection's callback, not from a task a loop turn later
    pending = asyncio.ensure_future(client.call("start_work", ("w",), 2))
    while len(actor.seen) < 2:
        await asyncio.sleep(0.001)
    assert actor.seen[1] == ("w", None) and not pending.done()  # started at once, answered when its rest is done
    actor.finish.set()
    assert await pending == "finished w"
    assert await actor.note(5) == 10  # the Ray method gives the same answer
    client.close()
    await actor.close_channel()


async def test_an_exception_raised_at_once_arrives_as_itself():
    def refuses(order_id):
        raise InvalidOrder(f"no {order_id}", exchange="alpha", client_order_id=order_id)

    server = ChannelServer({"refuses": refuses}, token=TOKEN, host="127.0.0.1")
    client = await ChannelClient.connect(*await server.start(), TOKEN)
    with pytest.raises(InvalidOrder, match="no rx-9"):
        await client.call("refuses", ("rx-9",), 2)
    assert not client.closed
    client.close()
    await server.close()


async def test_a_connection_that_never_presents_a_token_is_closed(monkeypatch):
    monkeypatch.setattr("actors.channel.CONNECT_TIMEOUT_S", 0.1)
    server = ChannelServer({}, token=TOKEN, host="127.0.0.1")
    reader, writer = await asyncio.open_connection(*await server.start())
    assert await asyncio.wait_for(reader.read(), 2) == b""  # hung up on, without a word
    writer.close()
    await server.close()


async def test_a_caller_that_stops_reading_its_answers_is_dropped(monkeypatch):
    monkeypatch.setattr("actors.channel.MAX_BUFFERED_BYTES", 64 * 1024)
    server = ChannelServer({"blob": lambda: b"x" * 32 * 1024}, token=TOKEN, host="127.0.0.1")
    reader, writer = await asyncio.open_connection(*await server.start())
    token = TOKEN.encode()
    writer.write(len(token).to_bytes(4, "big") + token)
    request = pickle.dumps((1, "blob", ()))
    for _ in range(400):  # ~12 MB of answers that this caller never reads
        writer.write(len(request).to_bytes(4, "big") + request)
    await writer.drain()
    for _ in range(200):
        if not server._connections:
            break
        await asyncio.sleep(0.01)
    assert not server._connections  # its answers no longer pile up in the server's memory
    writer.close()
    await server.close()


class _PeerInItsOwnLoop:
    """A ``ChannelServer`` on a uvloop in a thread of its own: it answers while the caller's loop is blocked."""

    def __init__(self, handlers: dict) -> None:
        import threading

        import uvloop

        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ChannelServer(handlers, token=TOKEN, host="127.0.0.1")
        self.address = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def _on_uvloop(coro_factory):
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_factory())


def test_a_call_leaves_before_the_callers_callback_ends_on_uvloop():
    import time

    arrived: list[float] = []
    peer = _PeerInItsOwnLoop({"mark": lambda: arrived.append(time.perf_counter())})

    async def caller():
        client = await ChannelClient.connect(*peer.address, TOKEN)
        request_id, future = client.send("mark", ())
        written = time.perf_counter()
        time.sleep(0.3)  # the rest of the caller's callback (e.g. the second leg): the loop does not turn meanwhile
        assert arrived and arrived[0] - written < 0.2  # the peer had it while the caller was still busy
        assert await client.answer(request_id, future, "mark", 2) is None
        client.close()

    try:
        _on_uvloop(caller)
    finally:
        peer.stop()


def test_a_frame_larger_than_the_socket_buffer_arrives_whole_and_in_order():
    peer = _PeerInItsOwnLoop({"size": lambda blob: len(blob), "echo": lambda value: value})

    async def caller():
        client = await ChannelClient.connect(*peer.address, TOKEN)
        big = client.send("size", (b"x" * (8 * 1024 * 1024),))  # more than the kernel takes at once: the rest queues
        small = client.send("echo", ("after",))  # must not overtake the queued rest of the big frame
        assert await client.answer(*small, "echo", 10) == "after"
        assert await client.answer(*big, "size", 10) == 8 * 1024 * 1024
        client.close()

    try:
        _on_uvloop(caller)
    finally:
        peer.stop()
