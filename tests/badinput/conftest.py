"""Fixtures of the bad-input campaign: two in-process simulator venues (alpha speaks Binance's dialect, beta OKX's),
fresh for each test, and what they hold for the traded account (``/_sim/orders``)."""
from __future__ import annotations

import logging
import re
from typing import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from simulator.config import SimConfig
from simulator.launcher import LocalSimulation, start_local_venues

SEED = 18
ACCOUNT = "main"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3} (DEBUG|INFO) ")


@pytest.fixture(autouse=True)
def root_logging_restored():
    """`rayarb run` installs a stderr handler on the root logger; the test's captured stderr closes with the test."""
    from execution import log

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(log._installed_handlers):
        root.removeHandler(handler)
    log._installed_handlers.clear()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest_asyncio.fixture
async def venues() -> AsyncIterator[LocalSimulation]:
    async with start_local_venues(SimConfig.default(("alpha", "beta:okx"), seed=SEED)) as simulation:
        yield simulation


async def sim_get(url: str, path: str) -> object:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.get(url + path) as response:
            assert response.status == 200, (path, response.status)
            return await response.json()


async def sim_post(url: str, path: str, body: dict) -> object:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(url + path, json=body) as response:
            assert response.status == 200, (path, response.status, await response.text())
            return await response.json()


async def orders_at(venue) -> list[dict]:
    """The traded account's orders as the venue has them (``/_sim/orders``)."""
    return [o for o in await sim_get(venue.url, "/_sim/orders") if o.get("account") == ACCOUNT]


async def orders_everywhere(simulation: LocalSimulation) -> dict[str, list[dict]]:
    return {venue.name: await orders_at(venue) for venue in simulation}


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line an operator's mistake prints on stderr (progress lines aside), checked to hold no traceback."""
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "Traceback" not in captured.out, captured.err
    lines = [line for line in captured.err.strip().splitlines() if not LOG_LINE.match(line)]
    assert len(lines) == 1, captured.err
    return lines[0]
