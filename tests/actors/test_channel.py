"""Direct channels between actors: answers and errors arrive as from a Ray call, failures say whether the call left."""
from __future__ import annotations

import asyncio
import pickle

import pytest

from actors.transport import (
    MAX_PENDING_CALLS,
    ChannelClient,
    ChannelLost,
    Channels,
    ChannelServer,
    ChannelSettings,
    ChannelUnavailable,
    Interface,
    Method,
    RemoteError,
    ServesChannel,
)
from actors.transport.settings import new_channel_settings
from execution.error_handler import AmbiguousOrderError, InvalidOrder, RequestTimedOut
from tests.actors.channel_peers import (
    ECHO,
    SETTINGS,
    TOKEN,
    Echo,
    FakePeers,
    PeerInItsOwnLoop,
    WAIT_S,
    closed_by_peer,
    frame,
    raw_connect,
    read_frame,
    request,
    until,
)


async def connect(actor: Echo, settings: ChannelSettings = SETTINGS, interface: Interface = ECHO) -> ChannelClient:
    host, port = await actor.channel_address()
    return await ChannelClient.connect(host, port, settings, interface)


async def test_answers_and_remote_exceptions_arrive_as_themselves():
    actor = Echo()
    client = await connect(actor)
    assert await client.call("echo", ("two",), 2) == "two"
    assert await client.call("add", (2, 40), 2) == 42
    with pytest.raises(InvalidOrder) as raised:
        await client.call("fail", ("too small",), 2)
    assert raised.value.exchange == "alpha" and raised.value.client_order_id == "rx-1"
    assert str(raised.value) == "too small"
    with pytest.raises(RemoteError, match="result of unencodable cannot be encoded: function"):
        await client.call("unencodable", (), 2)
    assert await client.call("echo", ("still usable",), 2) == "still usable"  # the connection survives errors
    client.close()
    await actor.close_channel()


async def test_rayarb_errors_keep_their_class_and_ids_and_others_arrive_as_text():
    def ambiguous():
        raise AmbiguousOrderError("timed out after sending", cause_type="RequestTimedOut", retry_after=1.5,
                                  exchange="beta", client_order_id="rx-7", exchange_order_id="e-1")

    def retryable():
        raise RequestTimedOut("no answer", retry_after=2.0, exchange="beta")

    def builtin():
        raise TimeoutError("venue did not answer")

    class Private(Exception):
        pass

    def private():
        raise Private("internal detail")

    interface = Interface({name: Method(()) for name in ("ambiguous", "retryable", "builtin", "private")})
    server = ChannelServer({"ambiguous": ambiguous, "retryable": retryable, "builtin": builtin, "private": private},
                           interface, SETTINGS, host="127.0.0.1")
    client = await ChannelClient.connect(*await server.start(), SETTINGS, interface)
    with pytest.raises(AmbiguousOrderError) as raised:
        await client.call("ambiguous", (), 2)
    error = raised.value
    assert (error.cause_type, error.retry_after, error.exchange, error.client_order_id, error.exchange_order_id) == \
        ("RequestTimedOut", 1.5, "beta", "rx-7", "e-1")
    with pytest.raises(RequestTimedOut) as raised:
        await client.call("retryable", (), 2)
    assert raised.value.retry_after == 2.0 and raised.value.exchange == "beta"
    with pytest.raises(TimeoutError, match="venue did not answer"):  # a handler's own timeout, not a lost call
        await client.call("builtin", (), 2)
    with pytest.raises(RemoteError, match="^Private: internal detail$"):
        await client.call("private", (), 2)
    assert not client.closed
    client.close()
    await server.close()


async def test_a_wrong_token_is_refused_before_any_call():
    actor = Echo()
    with pytest.raises(ChannelUnavailable, match="did not prove it knows the run's key"):
        await connect(actor, settings=ChannelSettings(token="someone-else"))
    assert actor.calls == 0
    await actor.close_channel()


async def test_a_client_only_sends_declared_methods_and_encodable_arguments():
    actor = Echo()
    client = await connect(actor)
    with pytest.raises(ChannelUnavailable, match="not a channel method"):
        client.send("health", ())
    with pytest.raises(ChannelUnavailable, match="cannot be encoded"):
        client.send("echo", (object(),))
    assert not client.closed and await client.call("echo", ("ok",), 2) == "ok"
    client.close()
    await actor.close_channel()


async def test_connecting_to_nothing_is_unavailable_not_lost():
    server = ChannelServer({}, ECHO, SETTINGS, host="127.0.0.1")
    host, port = await server.start()
    await server.close()
    with pytest.raises(ChannelUnavailable):
        await ChannelClient.connect(host, port, SETTINGS, ECHO, timeout_s=1)


async def test_a_connect_cancelled_during_the_handshake_closes_its_connection(caplog):
    """The peer's acceptance held back until the caller has given up: the half-made connection is closed at once, and
    the late acceptance finds nobody (no error on the loop)."""
    actor = Echo()
    host, port = await actor.channel_address()
    held = asyncio.Event()
    release = asyncio.Event()
    client_closed = asyncio.Event()

    async def proxy(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection(host, port)

        async def upstream():  # client -> server as it comes; EOF from the client is what the test waits for
            while data := await client_reader.read(65536):
                server_writer.write(data)
            client_closed.set()

        async def downstream():  # server -> client: its challenge at once, its acceptance only when released
            client_writer.write(frame(await read_frame(server_reader)))
            accepted = await read_frame(server_reader)
            held.set()
            await release.wait()
            client_writer.write(frame(accepted))

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)
        server_writer.close()
        client_writer.close()

    relay = await asyncio.start_server(proxy, "127.0.0.1", 0)
    relay_port = relay.sockets[0].getsockname()[1]
    connecting = asyncio.create_task(ChannelClient.connect("127.0.0.1", relay_port, SETTINGS, ECHO))
    await asyncio.wait_for(held.wait(), WAIT_S)
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    await asyncio.wait_for(client_closed.wait(), WAIT_S)  # closed by the cancellation, not by anything later
    release.set()
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    relay.close()
    await actor.close_channel()


async def test_timeout_after_sending_is_lost_and_the_handler_still_runs():
    actor = Echo()
    client = await connect(actor)
    with pytest.raises(ChannelLost, match="no answer to slow"):
        await client.call("slow", (), 0.05)
    assert actor.calls == 1  # it reached the peer: the caller must treat its effect as unknown
    actor.release.set()
    assert await client.call("echo", ("next",), 2) == "next"
    client.close()
    await actor.close_channel()


async def test_a_peer_that_dies_mid_call_fails_pending_calls_as_lost():
    actor = Echo()
    client = await connect(actor)
    pending = asyncio.ensure_future(client.call("slow", (), 5))
    await until(lambda: actor.calls == 1, what="the slow call reached the peer")
    await actor.close_channel()  # the peer's process going away closes its sockets
    with pytest.raises(ChannelLost):
        await pending
    assert client.closed
    with pytest.raises(ChannelUnavailable):  # a closed connection sends nothing more
        await client.call("echo", ("x",), 1)


async def test_pending_calls_are_bounded():
    actor = Echo()
    client = await connect(actor)
    calls = [asyncio.ensure_future(client.call("slow", (), 5)) for _ in range(MAX_PENDING_CALLS)]
    await until(lambda: actor.calls == MAX_PENDING_CALLS, what="every slow call reached the peer")
    with pytest.raises(ChannelUnavailable, match="pending"):
        await client.call("echo", ("x",), 1)
    actor.release.set()
    assert set(await asyncio.gather(*calls)) == {"done"}
    client.close()
    await actor.close_channel()


async def test_malformed_and_oversized_frames_drop_only_that_connection():
    actor = Echo()
    host, port = await actor.channel_address()
    good = await connect(actor)
    for garbage in ((1 << 31).to_bytes(4, "big"),  # a 2 GiB frame
                    (5).to_bytes(4, "big") + b"\x80junk",  # a frame shorter than a request's header
                    request(1, b"echo", b"\xc1")):  # a byte msgpack never uses
        reader, writer = await raw_connect(host, port)
        writer.write(garbage)
        assert await closed_by_peer(reader)  # the server hung up on this connection
        writer.close()
    assert actor._channel_server.refused == {"oversized": 1, "undecodable": 2}
    assert await good.call("echo", ("fine",), 2) == "fine"
    good.close()
    await actor.close_channel()


async def test_channels_find_peers_by_name_and_reconnect_after_a_restart():
    first = Echo()
    peers = FakePeers({"peer": first})
    channels = Channels(peers, SETTINGS, ECHO)
    assert await channels.call("peer", "echo", "1", timeout_s=2) == "1"
    assert await channels.call("peer", "echo", "2", timeout_s=2) == "2"
    assert peers.ray_calls == [("peer", "channel_address")]  # one Ray call, then the channel only
    client = channels._clients["peer"]
    await first.close_channel()  # the peer dies; Ray restarts it under the same name
    await until(lambda: client.closed, what="the caller saw the connection close")
    second = Echo()
    peers.actors["peer"] = second
    assert await channels.call("peer", "echo", "3", timeout_s=2) == "3"
    assert second.calls == 1 and peers.ray_calls[-1] == ("peer", "channel_address")
    assert channels.through_ray == 0
    channels.close()
    await second.close_channel()


async def test_channels_told_where_a_peer_listens_open_without_asking_it():
    first, moved = Echo(), Echo()
    peers = FakePeers({"peer": first, "other": moved})
    channels = Channels(peers, SETTINGS, ECHO)
    stale = await moved.channel_address()
    await moved.close_channel()  # "other" restarted since it was told: nothing listens there any more
    moved = peers.actors["other"] = Echo()
    await channels.connect("peer", "other", told={"peer": ("peer", await first.channel_address()),
                                                  "other": ("other", stale)})
    assert peers.ray_calls == [("other", "channel_address")]  # the told address that held needed no Ray call
    assert await channels.call("peer", "echo", "a", timeout_s=2) == "a"
    assert await channels.call("other", "echo", "b", timeout_s=2) == "b"
    assert (first.calls, moved.calls, channels.through_ray) == (1, 1, 0)
    channels.close()
    await first.close_channel()
    await moved.close_channel()


async def test_a_renewed_channel_leaves_a_peer_that_stopped_answering_and_keeps_one_to_the_new_process():
    """A peer on a node that stopped answering keeps its connection open and answers nothing: the caller's calls on it
    would wait out their timeouts, and the next ones go the same way. Told where the peer's new process listens
    (``renew``: the supervisor, once it wired the new process in), the caller closes it, its pending calls fail as
    lost at once, and the next call opens a channel to the new process; a connection already there is kept."""
    silent, new = Echo(), Echo()
    peers = FakePeers({"peer": silent})
    channels = Channels(peers, SETTINGS, ECHO)
    assert await channels.call("peer", "echo", "1", timeout_s=2) == "1"
    stuck = asyncio.ensure_future(channels.call("peer", "slow", timeout_s=60))
    await until(lambda: silent.calls == 2, what="the call reached the peer before it stopped answering")
    peers.actors["peer"] = new  # its new process, elsewhere
    channels.renew("peer", await new.channel_address())
    with pytest.raises(ChannelLost):
        await asyncio.wait_for(stuck, 2)
    assert await channels.call("peer", "echo", "2", timeout_s=2) == "2"
    assert (silent.calls, new.calls, channels.through_ray) == (2, 1, 0)

    client = channels._clients["peer"]
    pending = asyncio.ensure_future(channels.call("peer", "slow", timeout_s=5))
    await until(lambda: new.calls == 2, what="the slow call reached the new process")
    channels.renew("peer", tuple(list(await new.channel_address())))  # told again (as a list, over Ray)
    assert channels._clients["peer"] is client and not client.closed
    new.release.set()
    assert await pending == "done"
    channels.close()
    silent.release.set()
    await silent.close_channel()
    await new.close_channel()


async def test_a_told_channel_of_the_actor_a_name_no_longer_leads_to_is_not_used():
    """The supervisor told the caller where "om" listened; then "om" was routed to its standby (a takeover): the told
    channel, and one opening while the route changed, would lead to the actor "om" left."""
    old, standby = Echo(), Echo()
    peers = FakePeers({"om": old, "om~2": standby})
    channels = Channels(peers, SETTINGS, ECHO)
    told = {"om": ("om", await old.channel_address())}
    peers.routes["om"] = "om~2"
    channels.drop("om")  # what set_route does with the route
    await channels.connect("om", told=told)
    assert await channels.call("om", "echo", "x", timeout_s=2) == "x"
    assert (old.calls, standby.calls) == (0, 1)

    peers.routes["om"] = "om"  # and back; then to the standby again while the old one's address is being asked
    channels.drop("om")
    release = asyncio.Event()
    asking = peers.call

    async def slow_call(name, method, *args, timeout_s, idempotent=False):
        answer = await asking(name, method, *args, timeout_s=timeout_s, idempotent=idempotent)
        await release.wait()
        return answer

    peers.call = slow_call
    asked = len(peers.ray_calls)
    opening = asyncio.ensure_future(channels.connect("om"))
    await until(lambda: peers.ray_calls[asked:] == [("om", "channel_address")], what="the address asked")
    peers.routes["om"] = "om~2"
    channels.drop("om")
    release.set()
    await opening
    assert "om" not in channels._clients  # not kept: it led to the actor the name left
    assert await channels.call("om", "echo", "y", timeout_s=2) == "y"
    assert (old.calls, standby.calls) == (0, 2)
    channels.close()
    await old.close_channel()
    await standby.close_channel()


async def test_calls_go_through_ray_while_a_channel_cannot_be_reached():
    actor = Echo(settings=ChannelSettings(token="the-peer-has-another-token"))
    peers = FakePeers({"peer": actor})
    channels = Channels(peers, SETTINGS, ECHO)
    assert await channels.call("peer", "echo", "x", timeout_s=2) == "x"
    assert channels.through_ray == 1
    assert peers.ray_calls == [("peer", "channel_address"), ("peer", "echo")]
    await channels.call("peer", "echo", "y", timeout_s=2)  # no reconnect attempt right after a failure
    assert peers.ray_calls[-1] == ("peer", "echo") and len(peers.ray_calls) == 3
    await actor.close_channel()


async def test_a_method_the_interface_does_not_declare_goes_through_ray():
    actor = Echo()
    peers = FakePeers({"peer": actor})
    channels = Channels(peers, SETTINGS, Interface({"echo": Method((str,), str)}))
    assert await channels.call("peer", "echo", "a", timeout_s=2) == "a"
    assert await channels.call("peer", "add", 1, 2, timeout_s=2) == 3
    assert peers.ray_calls == [("peer", "channel_address"), ("peer", "add")] and channels.direct == 1
    channels.close()
    await actor.close_channel()


async def test_without_settings_every_call_goes_through_ray():
    actor = Echo()
    peers = FakePeers({"peer": actor})
    channels = Channels(peers, None, ECHO)
    assert await channels.call("peer", "echo", "5", timeout_s=2) == "5"
    assert peers.ray_calls == [("peer", "echo")]
    actor.channel_settings = None
    assert await actor.channel_address() is None  # a deployment without channels serves none


def test_the_secrets_never_show_in_a_repr():
    settings = new_channel_settings("node")
    assert settings.tls_certificate and settings.tls_key and len(settings.token) == 64
    text = repr(settings)
    for secret in (settings.token, settings.tls_key.decode(), settings.tls_certificate.decode()):
        assert secret not in text
    assert "BEGIN" not in text
    assert pickle.loads(pickle.dumps(settings)) == settings  # it travels to actors inside the Deployment (Ray)


def test_settings_hold_tls_material_exactly_when_channels_listen_beyond_loopback():
    assert not new_channel_settings("127.0.0.1").has_tls
    assert not new_channel_settings("::1").has_tls
    for host in ("node", "10.0.0.5", "192.168.1.7"):
        assert new_channel_settings(host).has_tls
    for wildcard in ("0.0.0.0", "::", ""):
        with pytest.raises(ValueError, match="never a wildcard"):
            new_channel_settings(wildcard)
    settings = new_channel_settings("127.0.0.1")
    assert not settings.uses_tls("127.0.0.1") and settings.uses_tls("10.0.0.5") and settings.uses_tls("node-3")
    assert new_channel_settings("127.0.0.1").token != settings.token


class Inline(ServesChannel):
    """``<name>_now`` handlers: the channel calls them as the request arrives, the Ray method awaits the same."""

    channel_methods = ("note", "start_work")
    channel_interface = Interface({"note": Method((int,), int), "start_work": Method((str,), str)})

    def __init__(self) -> None:
        self.channel_settings = SETTINGS
        self.seen: list[tuple[object, object]] = []
        self.finish = asyncio.Event()

    async def note(self, value: int) -> int:
        return self.note_now(value)

    def note_now(self, value: int) -> int:
        self.seen.append((value, asyncio.current_task()))
        return value * 2

    async def start_work(self, value: str) -> str:
        return await self.start_work_now(value)

    def start_work_now(self, value: str):
        self.seen.append((value, asyncio.current_task()))  # the urgent part, at once

        async def rest():
            await self.finish.wait()
            return f"finished {value}"
        return rest()


async def test_a_now_handler_runs_as_the_request_arrives_outside_any_task():
    actor = Inline()
    host, port = await actor.channel_address()
    client = await ChannelClient.connect(host, port, SETTINGS, Inline.channel_interface)
    assert await client.call("note", (21,), 2) == 42
    assert actor.seen == [(21, None)]  # called from the connection's callback, not from a task a loop turn later
    pending = asyncio.ensure_future(client.call("start_work", ("w",), 2))
    await until(lambda: len(actor.seen) == 2, what="start_work_now called")
    assert actor.seen[1] == ("w", None) and not pending.done()  # started at once, answered when its rest is done
    actor.finish.set()
    assert await pending == "finished w"
    assert await actor.note(5) == 10  # the Ray method gives the same answer
    client.close()
    await actor.close_channel()


async def test_the_channel_calls_a_ray_actor_method_without_rays_tracing_wrapper():
    from ray.util.tracing.tracing_helper import _inject_tracing_into_class

    class Traced(Inline):
        pass

    for name in ("note", "note_now", "start_work", "start_work_now"):  # as @ray.remote does to an actor class
        setattr(Traced, name, Inline.__dict__[name])
    _inject_tracing_into_class(Traced)
    assert Traced.note_now is not Inline.note_now  # wrapped
    actor = Traced()
    host, port = await actor.channel_address()
    assert actor._channel_server._methods[b"note"][1].__func__ is Inline.note_now  # the wrapper left out
    client = await ChannelClient.connect(host, port, SETTINGS, Inline.channel_interface)
    assert await client.call("note", (4,), 2) == 8 and actor.seen == [(4, None)]
    client.close()
    await actor.close_channel()


async def test_an_exception_raised_at_once_arrives_as_itself():
    def refuses(order_id):
        raise InvalidOrder(f"no {order_id}", exchange="alpha", client_order_id=order_id)

    interface = Interface({"refuses": Method((str,))})
    server = ChannelServer({"refuses": refuses}, interface, SETTINGS, host="127.0.0.1")
    client = await ChannelClient.connect(*await server.start(), SETTINGS, interface)
    with pytest.raises(InvalidOrder, match="no rx-9"):
        await client.call("refuses", ("rx-9",), 2)
    assert not client.closed
    client.close()
    await server.close()


async def test_a_caller_that_stops_reading_its_answers_is_dropped(monkeypatch):
    monkeypatch.setattr("actors.transport.server.MAX_BUFFERED_BYTES", 64 * 1024)
    interface = Interface({"blob": Method((), bytes)})
    server = ChannelServer({"blob": lambda: b"x" * 32 * 1024}, interface, SETTINGS, host="127.0.0.1")
    reader, writer = await raw_connect(*await server.start())
    blob_request = request(1, b"blob", b"\x90")  # an empty msgpack array: no arguments
    for _ in range(400):  # ~12 MB of answers that this caller never reads
        writer.write(blob_request)
    await writer.drain()
    await until(lambda: not server._connections, what="the server dropped the caller")
    writer.close()
    await server.close()


def _on_uvloop(coro_factory):
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro_factory())


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_call_leaves_before_the_callers_callback_ends_on_uvloop(tls):
    import time

    arrived: list[float] = []
    interface = Interface({"mark": Method(())})
    settings = ChannelSettings(token=TOKEN, force_tls=True, **_material()) if tls else SETTINGS
    peer = PeerInItsOwnLoop({"mark": lambda: arrived.append(time.perf_counter())}, interface, settings)

    async def caller():
        client = await ChannelClient.connect(*peer.address, settings, interface)
        assert (client._connection.tls is not None) is tls
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


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_a_frame_larger_than_the_socket_buffer_arrives_whole_and_in_order(tls):
    interface = Interface({"size": Method((bytes,), int), "echo": Method((str,), str)})
    settings = ChannelSettings(token=TOKEN, force_tls=True, **_material()) if tls else SETTINGS
    peer = PeerInItsOwnLoop({"size": lambda blob: len(blob), "echo": lambda value: value}, interface, settings)

    async def caller():
        client = await ChannelClient.connect(*peer.address, settings, interface)
        big = client.send("size", (b"x" * (8 * 1024 * 1024),))  # more than the kernel takes at once: the rest queues
        small = client.send("echo", ("after",))  # must not overtake the queued rest of the big frame
        assert await client.answer(*small, "echo", 10) == "after"
        assert await client.answer(*big, "size", 10) == 8 * 1024 * 1024
        client.close()

    try:
        _on_uvloop(caller)
    finally:
        peer.stop()


def test_tls_calls_work_on_uvloop_too():
    settings = ChannelSettings(token=TOKEN, force_tls=True, **_material())
    interface = Interface({"echo": Method((str,), str)})
    peer = PeerInItsOwnLoop({"echo": lambda value: value}, interface, settings)

    async def caller():
        client = await ChannelClient.connect(*peer.address, settings, interface)
        assert client._connection.tls is not None and client._connection.tls.established
        assert [await client.call("echo", (str(i),), 5) for i in range(50)] == [str(i) for i in range(50)]
        client.close()

    try:
        _on_uvloop(caller)
    finally:
        peer.stop()


def _material() -> dict:
    from actors.transport.tls import new_tls_material

    certificate, key = new_tls_material()
    return {"tls_certificate": certificate, "tls_key": key}
