"""What the channel tests share: a served test actor, a fake Ray, and raw sockets that speak (or abuse) the protocol."""
from __future__ import annotations

import asyncio
import struct
import threading

import uvloop

from actors.transport import ChannelServer, ChannelSettings, Interface, Method, ServesChannel
from actors.transport.handshake import ACCEPTED, ClientHandshake
from execution.error_handler import InvalidOrder

TOKEN = "a-run-token"
SETTINGS = ChannelSettings(token=TOKEN)
WAIT_S = 10.0  # the longest any condition is waited for

ECHO = Interface({
    "echo": Method((str,), str),
    "add": Method((int, int), int),
    "fail": Method((str,), None),
    "slow": Method((), str),
    "unencodable": Method((), str),
    "not_listed": Method((), str),  # declared, so a client sends it, but the server does not serve it
})


class Echo(ServesChannel):
    channel_methods = ("echo", "add", "fail", "slow", "unencodable")
    channel_interface = ECHO

    def __init__(self, settings: ChannelSettings = SETTINGS, metrics=None) -> None:
        self.channel_settings = settings
        self.metrics = metrics
        self.calls = 0
        self.release = asyncio.Event()

    async def echo(self, value: str) -> str:
        self.calls += 1
        return value

    async def add(self, a: int, b: int) -> int:
        self.calls += 1
        return a + b

    async def fail(self, message: str) -> None:
        raise InvalidOrder(message, exchange="alpha", client_order_id="rx-1")

    async def slow(self) -> str:
        self.calls += 1
        await self.release.wait()
        return "done"

    async def unencodable(self) -> str:
        return lambda: None  # type: ignore[return-value]

    async def not_listed(self) -> str:
        return "private state"


class FakePeers:
    """Ray calls by name: the fallback path, and how a caller learns a peer's ``channel_address``."""

    def __init__(self, actors: dict) -> None:
        self.actors = actors
        self.routes: dict[str, str] = {}  # name -> the actor its calls go to (Peers.route)
        self.ray_calls: list[tuple[str, str]] = []

    def target(self, name: str) -> str:
        return self.routes.get(name, name)

    async def call(self, name, method, *args, timeout_s, idempotent=False):
        self.ray_calls.append((name, method))
        return await asyncio.wait_for(getattr(self.actors[self.target(name)], method)(*args), timeout_s)


def frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    (size,) = struct.unpack("!I", await asyncio.wait_for(reader.readexactly(4), WAIT_S))
    return await asyncio.wait_for(reader.readexactly(size), WAIT_S)


async def raw_connect(host: str, port: int, token: str = TOKEN) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection that completes the handshake as a client would, then hands the raw streams over."""
    reader, writer = await asyncio.open_connection(host, port)
    handshake = ClientHandshake(token.encode())
    writer.write(frame(handshake.hello()))
    proof = handshake.answer(await read_frame(reader))
    assert proof is not None, "the server did not prove it knows the key"
    writer.write(frame(proof))
    assert await read_frame(reader) == ACCEPTED
    return reader, writer


def request(request_id: int, method: bytes, args_payload: bytes) -> bytes:
    """A request frame as the wire lays it out, with any bytes as its arguments."""
    return frame(struct.pack("!QB", request_id, len(method)) + method + args_payload)


async def closed_by_peer(reader: asyncio.StreamReader, timeout_s: float = WAIT_S) -> bool:
    """True once the peer has closed the connection (whatever it sent before); False if it is still open."""
    try:
        async with asyncio.timeout(timeout_s):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def until(condition, timeout_s: float = WAIT_S, what: str = "condition") -> None:
    """Wait for ``condition()`` to hold, polling; fail after ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            while not condition():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"{what}: not reached within {timeout_s} s") from None


class PeerInItsOwnLoop:
    """A ``ChannelServer`` on a uvloop in a thread of its own: it answers while the caller's loop is blocked."""

    def __init__(self, handlers: dict, interface: Interface, settings: ChannelSettings = SETTINGS,
                 **server_options) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = ChannelServer(handlers, interface, settings, host="127.0.0.1", **server_options)
        self.address = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(timeout=5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
