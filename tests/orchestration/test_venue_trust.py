"""No real order without --live: which venues are simulators, what a run sends where, and what it refuses.

A venue is a simulator only on loopback (or declared ``simulator: true``); any other url is a real venue, paper-traded
unless --live. The "remote" venue of these tests is a recording TLS front on 127.0.0.1 for the name
``venue.remote.test`` (resolved to it inside this process only), forwarding to a simulator venue: what the run sends
there is what it would send to a real exchange at that url.
"""
from __future__ import annotations

import asyncio
import io
import re
import socket
import ssl
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import certifi
import pytest

from actors.credentials import seal
from actors.exchange import ExchangeConnection
from execution.messages import SubmitOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce
from orchestration.config import ConfigError, Mode, build_run_options, is_loopback_host, parse_config
from orchestration.main_job import MainJob, venue_specs
from simulator.config import SimConfig
from simulator.launcher import start_local_venues, wall_clock_ms
from tests.certificates import self_signed_certificate

REMOTE = "venue.remote.test"
SYMBOL = "BTC/USDT"


def config_for(urls: dict[str, str], **venue_fields) -> dict:
    return {"venues": {name: {"exchange": "binance", "url": url, "api_key_env": f"T_{name.upper()}_KEY",
                              "secret_env": f"T_{name.upper()}_SECRET", **venue_fields}
                       for name, url in urls.items()},
            "symbols": [SYMBOL]}


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.8.9.10", True), ("[::1]", True), ("::1", True), ("localhost", True),
    ("LOCALHOST.", True), ("api.localhost", True),
    ("api.binance.com", False), ("10.0.0.5", False), ("192.168.1.2", False), ("0.0.0.0", False),
    ("127.0.0.1.nip.io", False), ("::ffff:10.0.0.1", False), ("", False), (None, False),
])
def test_only_loopback_addresses_and_localhost_count_as_this_machine(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("url", ["http://127.0.0.1:18800", "http://[::1]:18800", "http://localhost:18800",
                                 "https://127.0.0.2:443"])
def test_a_loopback_url_is_a_simulator_venue_and_live_is_refused(url):
    config = parse_config(config_for({"alpha": url, "beta": "http://127.0.0.1:18801"}))
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    options = build_run_options(config=config, environ=environ)
    assert options.mode is Mode.LOCAL_SIM and set(options.credentials) == {"alpha", "beta"}
    with pytest.raises(ConfigError, match="--live sends real orders"):
        build_run_options(config=config, live=True, environ=environ)


@pytest.mark.parametrize("url", ["https://api.binance.com:443", "https://10.0.0.5:18800", f"https://{REMOTE}:9443"])
def test_any_other_url_is_a_real_venue_paper_without_live_and_no_key_is_read(url):
    config = parse_config(config_for({"alpha": url, "beta": "https://api2.binance.com:443"}))
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    paper = build_run_options(config=config, environ=environ)
    assert paper.mode is Mode.PAPER and paper.credentials == {}
    assert all(spec.paper and not spec.simulator for spec in venue_specs(paper.config, paper.mode))
    live = build_run_options(config=config, live=True, environ=environ)
    assert live.mode is Mode.LIVE and live.credentials["alpha"].api_key == "ka"
    assert not any(spec.paper or spec.simulator for spec in venue_specs(live.config, live.mode))
    with pytest.raises(ConfigError, match=r"venues\.alpha\.api_key_env: environment variable T_ALPHA_KEY is not set"):
        build_run_options(config=config, live=True, environ={"T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"})


@pytest.mark.parametrize("url", ["http://api.binance.com:80", "http://10.0.0.5:18800", f"http://{REMOTE}:8080",
                                 "http://0.0.0.0:18800"])
@pytest.mark.parametrize("simulator", [False, True])
def test_plain_http_to_another_host_is_refused_even_for_a_declared_simulator(url, simulator):
    raw = config_for({"alpha": url, "beta": "http://127.0.0.1:18801"}, simulator=simulator)
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert any(e.startswith("venues.alpha.url: plain http to") and "cleartext" in e for e in refused.value.errors)


def test_a_simulator_on_another_host_must_be_declared_and_the_run_says_so_at_start():
    urls = {"alpha": f"https://{REMOTE}:9443", "beta": "http://127.0.0.1:18801"}
    with pytest.raises(ConfigError, match="mixes simulator venues"):
        parse_config(config_for(urls))  # undeclared, alpha is a real venue: not in one run with a simulator
    config = parse_config(config_for(urls, simulator=True))
    assert config.is_local and config.venue("alpha").declared_remote_simulator
    assert not config.venue("beta").declared_remote_simulator
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    options = build_run_options(config=config, environ=environ)
    assert options.mode is Mode.LOCAL_SIM
    stream = io.StringIO()
    MainJob(options, status_stream=stream)._venues()
    assert stream.getvalue().splitlines() == [
        f"venue alpha at https://{REMOTE}:9443 is treated as a rayarb simulator on another host "
        f"(venues.alpha.simulator: true): its orders are sent there without --live"]
    with pytest.raises(ConfigError, match=r"venues\.gamma\.simulator: declares"):
        parse_config({"venues": {"gamma": {"exchange": "binance", "simulator": True},
                                 "delta": {"exchange": "binance"}}, "symbols": [SYMBOL]})


# ----------------------------------------------------------------------- what is sent where, over real sockets


class RecordingFront:
    """TLS on 127.0.0.1 for ``venue.remote.test``, forwarding to a simulator venue and keeping every byte the client
    sent, so a test can list the requests (method, path, key header, signature) that reached "the remote host"."""

    def __init__(self, upstream_port: int, context: ssl.SSLContext) -> None:
        self.upstream_port = upstream_port
        self.context = context
        self.received: list[bytearray] = []
        self.server: asyncio.base_events.Server | None = None

    async def __aenter__(self) -> "RecordingFront":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = bytearray()
        self.received.append(record)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(source, sink, keep: bytearray | None) -> None:
            try:
                while data := await source.read(65536):
                    if keep is not None:
                        keep.extend(data)
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, record), pipe(up_reader, writer, None))

    def requests(self) -> list[tuple[str, str, bool]]:
        """(method, path with query, carries the API key header) of every HTTP request received."""
        found = []
        for record in self.received:
            for head in re.finditer(rb"(GET|POST|DELETE|PUT) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", bytes(record), re.S):
                found.append((head[1].decode(), head[2].decode(), b"x-mbx-apikey:" in head[3].lower()))
        return found


@pytest.fixture
async def remote_venue(tmp_path: Path, monkeypatch):
    """A simulator venue reachable as https://venue.remote.test:PORT through a recording front."""
    cert, key = self_signed_certificate(tmp_path, REMOTE)  # trusted by ccxt in this process only
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: real_getaddrinfo(
        "127.0.0.1" if host == REMOTE else host, *a, **k))
    monkeypatch.setattr(certifi, "where", lambda: str(cert))  # ccxt's trust store, for this process only
    async with start_local_venues(SimConfig.default(("alpha",), seed=5), run_market=False) as sim:
        sim.market.step(wall_clock_ms())
        venue = sim["alpha"]
        async with RecordingFront(int(venue.url.rsplit(":", 1)[1]), context) as front:
            yield venue, front


def remote_options(port: int, *, live: bool, venue):
    raw = config_for({"alpha": f"https://{REMOTE}:{port}", "beta": "https://api.binance.com:443"})
    environ = {"T_ALPHA_KEY": venue.api_key, "T_ALPHA_SECRET": venue.secret, "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    return build_run_options(config=parse_config(raw), live=live, environ=environ)


async def a_taker_leg(connection: ExchangeConnection, cid: str) -> SubmitOrder:
    book = await connection.latest_book(SYMBOL)
    return SubmitOrder(client_order_id=cid, exchange="alpha", symbol=SYMBOL, side=Side.BUY,
                       order_type=OrderType.LIMIT, amount=D("0.0100"),
                       price=(book.best_ask * D("1.01")).quantize(D("0.01")), time_in_force=TimeInForce.IOC)


async def until(condition, timeout_s: float = 15.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


async def sim_orders(url: str) -> list[dict]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(f"{url}/_sim/orders") as response:
            return await response.json()


async def test_a_real_venue_without_live_gets_public_requests_only_no_key_and_no_order(remote_venue):
    venue, front = remote_venue
    options = remote_options(front.port, live=False, venue=venue)
    assert options.mode is Mode.PAPER and options.credentials == {}
    spec = venue_specs(options.config, options.mode)[0]
    connection = ExchangeConnection(spec, [SYMBOL], balance_refresh_s=3600,
                                    paper_balances={"USDT": D("1000"), "BTC": D("1")})
    try:
        await asyncio.wait_for(connection.start(), 30)
        await until(lambda: SYMBOL in connection._books)
        outcome = await connection.submit_order(await a_taker_leg(connection, "rx-paper-1"))
    finally:
        await connection.stop()
    assert outcome.snapshot.status is OrderStatus.FILLED  # filled locally, against the remote venue's book
    requests = front.requests()
    assert any(path.startswith("/api/v3/exchangeInfo") for _, path, _ in requests)  # market data did go there
    assert [r for r in requests if r[0] != "GET" or r[2] or "signature=" in r[1] or "/api/v3/order" in r[1]] == []
    assert await sim_orders(venue.url) == []


async def test_a_real_venue_with_live_gets_signed_orders_at_its_url(remote_venue):
    venue, front = remote_venue
    options = remote_options(front.port, live=True, venue=venue)
    assert options.mode is Mode.LIVE
    spec = venue_specs(options.config, options.mode)[0]
    connection = ExchangeConnection(spec, [SYMBOL], balance_refresh_s=3600)
    try:
        public_key = await connection.credentials_wanted(0.1)
        await connection.provide_credentials(seal(public_key, options.credentials["alpha"]))
        await asyncio.wait_for(connection.start(), 30)
        await until(lambda: SYMBOL in connection._books)
        outcome = await connection.submit_order(await a_taker_leg(connection, "rx-live-1"))
    finally:
        await connection.stop()
    assert outcome.snapshot.status is OrderStatus.FILLED
    orders = [r for r in front.requests() if r[0] == "POST" and r[1].startswith("/api/v3/order")]
    assert len(orders) == 1 and orders[0][2]  # one signed order, with the key header, to the url in the config
    assert [o["clientOrderId"] for o in await sim_orders(venue.url)] == ["rx-live-1"]


async def test_a_refused_url_sends_nothing(remote_venue):
    venue, front = remote_venue
    raw = config_for({"alpha": f"http://{REMOTE}:{front.port}", "beta": "https://api.binance.com:443"})
    with pytest.raises(ConfigError, match="cleartext"):
        build_run_options(config=parse_config(raw), live=True, environ={})
    assert front.received == [] and await sim_orders(venue.url) == []
