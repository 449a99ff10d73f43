"""Fixtures for the simulator's ccxt-level tests: in-process venues for async clients, a subprocess venue for sync ones.

Every venue listens on 127.0.0.1 on a free port. Async tests get a fresh in-process venue per test (cheap: one engine
and one aiohttp app); sync ccxt clients block their thread, so they talk to a venue in a subprocess shared by a module.
The ``okx_*`` fixtures are the same for an OKX-dialect venue and unmodified ccxt ``okx`` clients, pointed at it by
``execution.api.venue.point_at_local_venue`` (the rewriting rayarb does for Binance works unchanged for OKX's URLs).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any, AsyncIterator, Callable, Iterator
from urllib.parse import urlencode

import aiohttp
import pytest
import pytest_asyncio

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from execution.api.venue import SPOT_ONLY_OPTIONS, make_exchange, point_at_local_venue
from simulator.config import SimConfig
from simulator.launcher import LocalSimulation, LocalVenue, VenueEndpoint, VenueProcess, start_local_venues

SEED = 11
CLIENT_TIMEOUT_MS = 5_000


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[LocalSimulation]:
    async with start_local_venues(SimConfig.default(("alpha",), seed=SEED)) as simulation:
        yield simulation


@pytest.fixture
def venue(sim: LocalSimulation) -> LocalVenue:
    return sim["alpha"]


@pytest_asyncio.fixture
async def make_client(venue: LocalVenue) -> AsyncIterator[Callable[..., Any]]:
    """Factory of loaded ccxt async/pro clients on ``venue``; all are closed after the test."""
    clients: list[Any] = []

    async def factory(flavour: str = "async", *, api_key: str | None = None, secret: str | None = None,
                      timeout_ms: int = CLIENT_TIMEOUT_MS, load: bool = True, target: Any = None) -> Any:
        where = target or venue
        exchange = make_exchange(
            url=where.url, flavour=flavour, timeout_ms=timeout_ms,
            api_key=where.api_key if api_key is None else api_key,
            secret=where.secret if secret is None else secret,
        )
        clients.append(exchange)
        if load:
            await exchange.load_markets()
        return exchange

    yield factory
    for exchange in clients:
        await exchange.close()


@pytest_asyncio.fixture
async def client(make_client: Callable[..., Any]) -> Any:
    return await make_client()


@pytest.fixture(scope="module")
def venue_process() -> Iterator[VenueEndpoint]:
    """One venue in a subprocess (``python -m simulator.cli --base-port 0``) for sync ccxt clients."""
    process = VenueProcess(("alpha",), seed=SEED)
    process.start(timeout_s=60)
    try:
        yield process["alpha"]
    finally:
        assert process.stop() == 0


@pytest.fixture
def sync_client(venue_process: VenueEndpoint) -> Any:
    exchange = make_exchange(url=venue_process.url, flavour="sync", api_key=venue_process.api_key,
                             secret=venue_process.secret, timeout_ms=CLIENT_TIMEOUT_MS)
    exchange.load_markets()
    return exchange


# --- OKX dialect ----------------------------------------------------------------------------------------------------
OKX_MODULES = {"sync": ccxt, "async": ccxt_async, "pro": ccxt_pro}


def make_okx_exchange(where: Any, flavour: str = "async", *, api_key: str | None = None, secret: str | None = None,
                      passphrase: str | None = None, timeout_ms: int = CLIENT_TIMEOUT_MS) -> Any:
    """An unmodified ccxt ``okx`` client (not loaded) on the local venue ``where`` (``.url``, keys, passphrase)."""
    exchange = OKX_MODULES[flavour].okx({
        "apiKey": where.api_key if api_key is None else api_key,
        "secret": where.secret if secret is None else secret,
        "password": where.passphrase if passphrase is None else passphrase,
        "timeout": timeout_ms,
        "enableRateLimit": False,
        "options": dict(SPOT_ONLY_OPTIONS),
    })
    point_at_local_venue(exchange, where.url)
    return exchange


@pytest_asyncio.fixture
async def okx_sim() -> AsyncIterator[LocalSimulation]:
    """One OKX-dialect venue on a live market (a lone venue has no dislocations: prices move by noise only)."""
    async with start_local_venues(SimConfig.default(("beta:okx",), seed=SEED)) as simulation:
        yield simulation


@pytest.fixture
def okx_venue(okx_sim: LocalSimulation) -> LocalVenue:
    return okx_sim["beta"]


@pytest_asyncio.fixture
async def make_okx_client(okx_venue: LocalVenue) -> AsyncIterator[Callable[..., Any]]:
    """Factory of ccxt ``okx`` async/pro clients on ``okx_venue`` (loaded unless ``load=False``); closed after."""
    clients: list[Any] = []

    async def factory(flavour: str = "async", *, load: bool = True, **credentials: Any) -> Any:
        exchange = make_okx_exchange(okx_venue, flavour, **credentials)
        clients.append(exchange)
        if load:
            await exchange.load_markets()
        return exchange

    yield factory
    for exchange in clients:
        await exchange.close()


@pytest_asyncio.fixture
async def okx_client(make_okx_client: Callable[..., Any]) -> Any:
    return await make_okx_client()


# --- raw HTTP helpers (what ccxt would not send) --------------------------------------------------------------------
def sign(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: dict[str, Any], timestamp_ms: int | None = None) -> str:
    query = urlencode({**params, "timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)})
    return f"{query}&signature={sign(secret, query)}"


class SimHttp:
    """Raw HTTP against a venue: requests ccxt would never send, and the ``/_sim/`` controls."""

    sign = staticmethod(sign)
    signed_query = staticmethod(signed_query)

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def request(self, method: str, url: str, *, data: str | bytes | None = None,
                      headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
        """(status, parsed JSON or text, headers) of one request, within 10 s."""
        async with self.session.request(method, url, data=data, headers=headers,
                                        timeout=aiohttp.ClientTimeout(total=10)) as response:
            text = await response.text()
            try:
                body: Any = json.loads(text)
            except ValueError:
                body = text
            return response.status, body, dict(response.headers)

    async def get(self, url: str, path: str) -> Any:
        status, body, _ = await self.request("GET", url + path)
        assert status == 200, (status, body)
        return body

    async def post_faults(self, url: str, changes: dict[str, Any]) -> Any:
        status, body, _ = await self.request("POST", url + "/_sim/faults", data=json.dumps(changes),
                                             headers={"Content-Type": "application/json"})
        assert status == 200, (status, body)
        return body


@pytest_asyncio.fixture
async def http() -> AsyncIterator[SimHttp]:
    async with aiohttp.ClientSession() as session:
        yield SimHttp(session)


def sim_get_sync(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def sim_get_blocking() -> Callable[[str, str], Any]:
    return sim_get_sync
