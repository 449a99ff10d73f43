"""Channels carry data only, between peers that prove they hold the run's key: what an attacker on the network can
send (garbage, a wrong key, a recorded handshake, a pickle, an unknown method, a wrongly typed argument, a thousand idle
connections) and what a fake server gets (a hello, nothing more), each refused or bounded and counted, while a
legitimate caller's calls go on. Real sockets on 127.0.0.1; TLS forced on loopback where it is the subject.

Over 500 lines because it is one attacker's catalogue against one server fixture, in the order a connection meets the
defences (before the handshake, after it, the server's side, TLS, a flood); split, the fixture would be shared
across files for no gain."""
from __future__ import annotations

import asyncio
import os
import pickle
import ssl
import struct
import time
from decimal import Decimal

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from actors.transport import (
    HOT_PATH,
    ChannelClient,
    ChannelLost,
    ChannelServer,
    ChannelSettings,
    ChannelUnavailable,
    Interface,
    Method,
)
from actors.transport.handshake import ACCEPTED, CHALLENGE_BYTES, MAGIC, ClientHandshake, _proof
from actors.transport.settings import new_channel_settings
from actors.transport.tls import new_tls_material
from execution.messages import ArbitrageDetected
from metrics.definitions import RayarbMetrics
from tests.actors.channel_peers import (
    ECHO,
    SETTINGS,
    TOKEN,
    WAIT_S,
    Echo,
    PeerInItsOwnLoop,
    closed_by_peer,
    frame,
    raw_connect,
    read_frame,
    request,
    until,
)


def refused_metric(metrics: RayarbMetrics, reason: str) -> float:
    return metrics.registry.get_sample_value("rayarb_channel_refused_total", {"reason": reason}) or 0.0


async def served() -> tuple[Echo, RayarbMetrics, str, int]:
    metrics = RayarbMetrics(CollectorRegistry())
    actor = Echo(metrics=metrics)
    host, port = await actor.channel_address()
    return actor, metrics, host, port


class RecordingProxy:
    """Forwards connections to ``target`` and keeps every byte each side sent."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.from_client = bytearray()
        self.from_server = bytearray()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[:2]

    async def _relay(self, client_reader, client_writer) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self.target)

        async def pipe(reader, writer, record):
            try:
                while data := await reader.read(65536):
                    record += data
                    writer.write(data)
            except ConnectionError:
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, server_writer, self.from_client),
                             pipe(server_reader, client_writer, self.from_server))

    def close(self) -> None:
        self._server.close()


# ----- before the handshake -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("garbage", "reason"), [
    (os.urandom(4096), "oversized"),  # random bytes: their first four read as a length far beyond a hello's
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "oversized"),
    (frame(b"XXXX" + os.urandom(32)), "handshake_failed"),  # a hello of the right size and the wrong protocol
    (frame(b""), "handshake_failed"),
])
async def test_garbage_instead_of_a_hello_is_refused_and_counted(garbage, reason):
    actor, metrics, host, port = await served()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(garbage)
    assert await closed_by_peer(reader)
    writer.close()
    assert actor._channel_server.refused == {reason: 1} and refused_metric(metrics, reason) == 1
    client = await ChannelClient.connect(host, port, SETTINGS, ECHO)  # others are unaffected
    assert await client.call("echo", ("after garbage",), 2) == "after garbage"
    assert actor.calls == 1
    client.close()
    await actor.close_channel()


async def test_a_caller_with_a_wrong_key_is_refused_and_never_accepted():
    actor, metrics, host, port = await served()
    reader, writer = await asyncio.open_connection(host, port)
    attacker = ClientHandshake(b"not-the-run-token")
    writer.write(frame(attacker.hello()))
    challenge = await read_frame(reader)
    assert len(challenge) == CHALLENGE_BYTES
    assert attacker.answer(challenge) is None  # the server proved a key the attacker does not hold
    # the attacker answers anyway, with the proof its own key makes over both nonces
    writer.write(frame(_proof(b"not-the-run-token", b"client", attacker.hello()[len(MAGIC):], challenge[:32])))
    answer = bytearray()
    try:
        async with asyncio.timeout(WAIT_S):
            while data := await reader.read(65536):
                answer += data
    except ConnectionError:
        pass
    assert ACCEPTED not in answer and answer == b""  # closed without a word
    writer.close()
    assert actor._channel_server.refused == {"handshake_failed": 1}
    assert refused_metric(metrics, "handshake_failed") == 1 and actor.calls == 0
    await actor.close_channel()


async def test_a_recorded_handshake_and_calls_cannot_be_replayed():
    actor, metrics, host, port = await served()
    proxy = RecordingProxy((host, port))
    client = await ChannelClient.connect(*await proxy.start(), SETTINGS, ECHO)
    assert await client.call("echo", ("recorded call",), 2) == "recorded call"
    client.close()
    recorded = bytes(proxy.from_client)
    assert recorded.startswith(struct.pack("!I", len(MAGIC) + 32) + MAGIC)  # a hello, a proof, then the call
    assert TOKEN.encode() not in recorded and TOKEN.encode() not in proxy.from_server  # the key never travels
    assert actor.calls == 1

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(recorded)  # hello, proof and the call, byte for byte, on a new connection
    answer = bytearray()
    try:
        async with asyncio.timeout(WAIT_S):
            while data := await reader.read(65536):
                answer += data
    except ConnectionError:
        pass
    writer.close()
    assert len(answer) == 4 + CHALLENGE_BYTES  # a fresh challenge, then the connection closed: never accepted
    assert answer[4:] != proxy.from_server[4:4 + CHALLENGE_BYTES]  # a fresh nonce, not the recorded one
    assert actor.calls == 1  # the recorded call did not run again
    assert actor._channel_server.refused == {"handshake_failed": 1} and refused_metric(metrics, "handshake_failed") == 1
    proxy.close()
    await actor.close_channel()


# ----- after a valid handshake --------------------------------------------------------------------------------------

class CreatesAFile:
    """A pickle that, when loaded, creates the file at ``path`` (any code could run instead)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


async def test_a_pickle_payload_is_refused_and_never_runs(tmp_path):
    canary = tmp_path / "proof-that-the-payload-runs-when-unpickled"
    pickle.loads(pickle.dumps(CreatesAFile(str(canary)))).close()
    assert canary.exists()  # the payload is live: unpickling it would create the file

    target = tmp_path / "created-by-the-attacker"
    actor, metrics, host, port = await served()
    payloads = [
        frame(pickle.dumps((1, "echo", (CreatesAFile(str(target)),)))),  # a whole frame as pickle, as channels were
        request(1, b"echo", pickle.dumps((CreatesAFile(str(target)),))),  # a valid request whose arguments are pickle
    ]
    for payload in payloads:
        reader, writer = await raw_connect(host, port)
        writer.write(payload)
        assert await closed_by_peer(reader)
        writer.close()
    assert not target.exists()
    refused = actor._channel_server.refused
    assert refused["undecodable"] >= 1 and sum(refused.values()) == 2
    assert set(refused) <= {"undecodable", "unknown_method"}
    assert sum(refused_metric(metrics, reason) for reason in refused) == 2
    assert actor.calls == 0
    await actor.close_channel()


async def test_an_unknown_method_closes_the_connection_and_is_counted():
    actor, metrics, host, port = await served()
    client = await ChannelClient.connect(host, port, SETTINGS, ECHO)
    with pytest.raises(ChannelLost):  # it was sent: the caller cannot know it was refused
        await client.call("not_listed", (), 2)
    assert client.closed
    assert actor._channel_server.refused == {"unknown_method": 1} and refused_metric(metrics, "unknown_method") == 1
    await actor.close_channel()


@pytest.mark.parametrize("args", [("1", 2), (1,), (1, 2, 3), (1.5, 2), ({"a": 1}, 2), (None, 2)])
async def test_an_argument_of_another_type_closes_the_connection_and_is_counted(args):
    actor, metrics, host, port = await served()
    reader, writer = await raw_connect(host, port)
    writer.write(request(1, b"add", msgspec.msgpack.encode(args)))
    assert await closed_by_peer(reader)
    writer.close()
    assert actor._channel_server.refused == {"undecodable": 1} and refused_metric(metrics, "undecodable") == 1
    assert actor.calls == 0
    await actor.close_channel()


def opportunity(**change) -> dict:
    fields = dict(opportunity_id="op-1", symbol="BTC/USDT", buy_exchange="alpha", sell_exchange="beta",
                  amount="0.01", buy_price="100.1", sell_price="100.4", expected_profit="0.002", detected_at=1.5,
                  buy_book_received_at=1.25, sell_book_received_at=1.0, ts_event=2.0, ts_init=2.5)
    fields.update(change)
    return fields


async def test_hot_path_messages_decode_into_their_declared_type_with_their_own_checks():
    received: list[ArbitrageDetected] = []
    server = ChannelServer({"on_opportunity": lambda message: received.append(message) or "taken"}, HOT_PATH,
                           SETTINGS, host="127.0.0.1")
    host, port = await server.start()
    reader, writer = await raw_connect(host, port)
    writer.write(request(7, b"on_opportunity", msgspec.msgpack.encode((opportunity(),))))
    reply = await read_frame(reader)
    assert struct.unpack_from("!QB", reply) == (7, 0) and msgspec.msgpack.decode(reply[9:]) == "taken"
    assert received == [ArbitrageDetected(**{**opportunity(), **{k: Decimal(opportunity()[k]) for k in (
        "amount", "buy_price", "sell_price", "expected_profit")}})]
    writer.close()
    for bad in (opportunity(amount="-1"),  # the message's own check: amounts are positive
                opportunity(sell_exchange="alpha"),  # and the two venues differ
                opportunity(amount=None),
                {"opportunity_id": "op-2"}):  # fields missing
        reader, writer = await raw_connect(host, port)
        writer.write(request(8, b"on_opportunity", msgspec.msgpack.encode((bad,))))
        assert await closed_by_peer(reader)
        writer.close()
    assert len(received) == 1 and server.refused == {"undecodable": 4}
    await server.close()


# ----- the server's side of the handshake ---------------------------------------------------------------------------

class FakeServer:
    """Listens, answers the first frame with ``answer``, and records every byte a client sends it."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.received = bytearray()
        self.done = asyncio.Event()

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self._server.sockets[0].getsockname()[:2]

    async def _handle(self, reader, writer) -> None:
        try:
            (size,) = struct.unpack("!I", await reader.readexactly(4))
            self.received += struct.pack("!I", size) + await reader.readexactly(size)
            writer.write(self.answer)
            while data := await reader.read(65536):
                self.received += data
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.done.set()
            writer.close()

    def close(self) -> None:
        self._server.close()


@pytest.mark.parametrize("answer", [
    frame(os.urandom(CHALLENGE_BYTES)),  # a challenge with a proof made without the key
    frame(b"ok"),  # what a channel server answered before
    frame(os.urandom(CHALLENGE_BYTES)) + frame(b"ok"),
])
async def test_a_server_that_does_not_know_the_key_gets_a_hello_and_nothing_more(answer):
    fake = FakeServer(answer)
    host, port = await fake.start()
    with pytest.raises(ChannelUnavailable):
        await ChannelClient.connect(host, port, SETTINGS, ECHO)
    await asyncio.wait_for(fake.done.wait(), WAIT_S)  # the client hung up
    assert len(fake.received) == 4 + len(MAGIC) + 32 and fake.received[4:8] == MAGIC  # its hello: a fresh nonce
    assert TOKEN.encode() not in fake.received
    fake.close()


async def test_a_channel_server_with_another_key_is_refused_by_the_client():
    actor = Echo(settings=ChannelSettings(token="another-run"))
    host, port = await actor.channel_address()
    with pytest.raises(ChannelUnavailable, match="did not prove it knows the run's key"):
        await ChannelClient.connect(host, port, SETTINGS, ECHO)
    assert actor.calls == 0
    await actor.close_channel()


# ----- TLS -----------------------------------------------------------------------------------------------------------

def tls_settings(material=None, token: str = TOKEN) -> ChannelSettings:
    certificate, key = material or new_tls_material()
    return ChannelSettings(token=token, tls_certificate=certificate, tls_key=key, force_tls=True)


async def test_with_tls_calls_go_through_encrypted():
    settings = tls_settings()
    actor = Echo(settings=settings)
    host, port = await actor.channel_address()
    proxy = RecordingProxy((host, port))
    client = await ChannelClient.connect(*await proxy.start(), settings, ECHO)
    assert client._connection.tls is not None and client._connection.tls.established
    assert await client.call("echo", ("a secret-looking payload",), 2) == "a secret-looking payload"
    assert MAGIC not in proxy.from_client and b"secret-looking" not in proxy.from_client + proxy.from_server
    assert proxy.from_client[:1] == b"\x16"  # a TLS record: the handshake
    client.close()
    proxy.close()
    await actor.close_channel()


async def test_with_tls_a_server_with_another_certificate_is_refused():
    server_settings = tls_settings()
    other_certificate = tls_settings()  # same key, another run's certificate
    actor = Echo(settings=server_settings, metrics=RayarbMetrics(CollectorRegistry()))
    host, port = await actor.channel_address()
    with pytest.raises(ChannelUnavailable, match="SSLCertVerificationError"):
        await ChannelClient.connect(host, port, other_certificate, ECHO)
    await until(lambda: actor._channel_server.refused["tls_failed"] == 1, what="the server counted the TLS failure")
    assert refused_metric(actor.metrics, "tls_failed") == 1 and actor.calls == 0
    client = await ChannelClient.connect(host, port, server_settings, ECHO)
    assert await client.call("echo", ("right certificate",), 2) == "right certificate"
    client.close()
    await actor.close_channel()


async def test_with_tls_a_plain_caller_is_refused():
    actor = Echo(settings=tls_settings())
    host, port = await actor.channel_address()
    with pytest.raises(ChannelUnavailable):
        await ChannelClient.connect(host, port, SETTINGS, ECHO, timeout_s=WAIT_S)
    await until(lambda: actor._channel_server.refused["tls_failed"] == 1, what="the server counted the TLS failure")
    assert actor.calls == 0
    await actor.close_channel()


def ca_signed_pair(tmp_path) -> tuple[str, str]:
    """A certificate an operator's own CA signed, and its key, as files (what a config would name)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "desk CA")])
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rayarb")])
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(ca_name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(ca_key, hashes.SHA256()))
    certificate_path, key_path = tmp_path / "channel.crt", tmp_path / "channel.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(certificate_path), str(key_path)


async def test_a_certificate_the_config_names_is_served_and_pinned(tmp_path):
    certificate_file, key_file = ca_signed_pair(tmp_path)
    named = new_channel_settings("node", certificate_file=certificate_file, key_file=key_file)
    assert named.tls_certificate == open(certificate_file, "rb").read()
    settings = ChannelSettings(token=named.token, tls_certificate=named.tls_certificate, tls_key=named.tls_key,
                               force_tls=True)
    actor = Echo(settings=settings)
    host, port = await actor.channel_address()
    client = await ChannelClient.connect(host, port, settings, ECHO)  # the CA is not trusted: the certificate is
    assert await client.call("echo", ("named certificate",), 2) == "named certificate"
    client.close()
    with pytest.raises(ChannelUnavailable):
        await ChannelClient.connect(host, port, tls_settings(token=named.token), ECHO)
    await actor.close_channel()
    (tmp_path / "other").mkdir()
    other_certificate, _ = ca_signed_pair(tmp_path / "other")
    with pytest.raises(ssl.SSLError):  # a certificate and a key that do not belong together fail at the driver
        new_channel_settings("node", certificate_file=other_certificate, key_file=key_file)
    with pytest.raises(ValueError, match="needs its key"):
        new_channel_settings("node", certificate_file=certificate_file)


def test_with_tls_idle_connections_are_capped_and_timed_out_from_their_tcp_accept():
    """A TLS handshake counts as handshaking: the cap and the timeout apply from the TCP accept on."""
    settings = tls_settings()
    interface = Interface({"echo": Method((str,), str)})
    peer = PeerInItsOwnLoop({"echo": lambda value: value}, interface, settings, max_handshaking=4,
                            handshake_timeout_s=0.5)
    host, port = peer.address

    async def scenario():
        client = await ChannelClient.connect(host, port, settings, interface)
        idle = [await asyncio.wait_for(asyncio.open_connection(host, port), WAIT_S) for _ in range(10)]
        half_open = await asyncio.wait_for(asyncio.open_connection(host, port), WAIT_S)
        half_open[1].write(b"\x16\x03\x01\x00\xf3")  # the first bytes of a TLS hello, then nothing
        assert all(await asyncio.gather(*(closed_by_peer(reader) for reader, _ in idle + [half_open])))
        assert await client.call("echo", ("still here",), WAIT_S) == "still here"
        for _, writer in idle + [half_open]:
            writer.close()
        client.close()

    try:
        with asyncio.Runner() as runner:
            runner.run(scenario())
        assert peer.server.most_handshaking <= 4
        refused = peer.server.refused
        assert refused["handshakes_full"] >= 1 and refused["handshake_timeout"] >= 1
        assert refused["handshakes_full"] + refused["handshake_timeout"] == 11  # every idle one, and only those
        assert peer.server.handshaking == 0
    finally:
        peer.stop()


async def test_beyond_loopback_there_is_no_channel_without_tls():
    with pytest.raises(ValueError, match="needs the run's TLS certificate"):
        await ChannelServer({}, ECHO, ChannelSettings(token=TOKEN, force_tls=True), host="127.0.0.1").start()
    with pytest.raises(ChannelUnavailable, match="runs inside TLS"):  # refused before any connection is opened
        await ChannelClient.connect("10.255.255.1", 9, SETTINGS, ECHO)


# ----- a flood of idle connections ----------------------------------------------------------------------------------

def test_a_thousand_idle_connections_are_bounded_while_calls_go_on(capsys):
    """1,000 connections that never say a word: at most MAX_HANDSHAKING handshake at once, the rest are closed at
    once, the admitted ones after HANDSHAKE_TIMEOUT_S; an authenticated caller's calls go on throughout."""
    interface = Interface({"echo": Method((str,), str)})
    peer = PeerInItsOwnLoop({"echo": lambda value: value}, interface)
    server = peer.server
    host, port = peer.address
    flood_size = 1000

    async def scenario() -> dict:
        client = await ChannelClient.connect(host, port, SETTINGS, interface)
        completed: list[float] = []
        stop = asyncio.Event()

        async def trade() -> None:
            while not stop.is_set():
                assert await client.call("echo", ("tick",), WAIT_S) == "tick"
                completed.append(time.monotonic())

        calls = asyncio.ensure_future(trade())
        await until(lambda: len(completed) >= 200, what="200 calls before the flood")
        before_start, before_count = time.monotonic(), len(completed)
        await until(lambda: len(completed) >= before_count + 300, what="300 more calls before the flood")
        before_rate = 300 / (time.monotonic() - before_start)

        async def idle_connection():
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), WAIT_S)
            except (OSError, TimeoutError):
                return None

        flood_start, flood_count = time.monotonic(), len(completed)
        connections = []
        for _ in range(flood_size // 100):  # in waves, as the listen backlog takes them
            connections += await asyncio.gather(*(idle_connection() for _ in range(100)))
        opened = [c for c in connections if c is not None]
        assert server.most_handshaking <= server.max_handshaking
        closed = await asyncio.gather(*(closed_by_peer(reader, WAIT_S + 5) for reader, _ in opened))
        flood_end = time.monotonic()
        during = len(completed) - flood_count
        for _, writer in opened:
            writer.close()
        stop.set()
        await calls
        client.close()
        late = await ChannelClient.connect(host, port, SETTINGS, interface)  # and new callers get in again
        assert await late.call("echo", ("after",), WAIT_S) == "after"
        late.close()
        return {"opened": len(opened), "closed": sum(closed), "before_rate": before_rate,
                "during": during, "during_s": flood_end - flood_start}

    try:
        with asyncio.Runner() as runner:
            figures = runner.run(scenario())
        refused = dict(server.refused)
        assert figures["opened"] >= flood_size * 0.9, figures  # the flood did reach the server
        assert figures["closed"] == figures["opened"]  # every idle connection was closed by the server
        assert server.most_handshaking <= server.max_handshaking == 64
        assert refused.get("handshakes_full", 0) > 0 and refused.get("handshake_timeout", 0) > 0
        assert refused["handshakes_full"] + refused["handshake_timeout"] == figures["opened"]
        assert server.handshaking == 0
        assert figures["during"] >= 20, figures  # trading went on through the flood
        during_rate = figures["during"] / figures["during_s"]
        with capsys.disabled():
            print(f"\nflood of {figures['opened']} idle connections over {figures['during_s']:.1f} s: "
                  f"{figures['before_rate']:.0f} calls/s before, {during_rate:.0f} calls/s during "
                  f"({figures['during']} calls); refused {refused}; at most {server.most_handshaking} handshaking")
    finally:
        peer.stop()
