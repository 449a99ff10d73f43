"""Venues of different dialects in one simulation: ``rayarb sim --venues alpha:binance,beta:okx`` (a bare name speaks
Binance), each venue announced with its dialect (and its passphrase where the dialect has one), one market driving
both, and each venue's assets conserved whatever dialect its clients speak."""
from __future__ import annotations

import argparse
import dataclasses
import asyncio
import re
from decimal import Decimal as D
from pathlib import Path

import pytest

from execution.api.venue import make_exchange
from simulator.cli import add_sim_arguments, build_sim_config, venue_banner
from simulator.config import SimConfig, SimConfigError
from simulator.launcher import VENUE_LINE, start_local_venues, wall_clock_ms

from .conftest import SEED, make_okx_exchange

SYMBOL = "BTC/USDT"


def _args(*argv: str) -> argparse.Namespace:
    return add_sim_arguments(argparse.ArgumentParser()).parse_args(list(argv))


def test_venues_name_their_dialect_and_a_bare_name_speaks_binance() -> None:
    config = build_sim_config(_args("--venues", "alpha:binance,beta:okx,gamma", "--seed", "5"))
    assert [(v.name, v.dialect) for v in config.venues] == [("alpha", "binance"), ("beta", "okx"), ("gamma", "binance")]
    beta = config.venue("beta")
    assert beta.accounts[0].passphrase and config.venue("alpha").accounts[0].passphrase == ""
    assert SimConfig.default(("alpha", "beta", "gamma")).venues[1].dialect == "binance"
    with pytest.raises(SimConfigError, match="unknown dialect 'kraken'"):
        build_sim_config(_args("--venues", "alpha:kraken"))
    assert beta.accounts[0].passphrase not in repr(beta.accounts[0])


def test_a_config_file_names_dialects_and_the_command_line_can_override_them(tmp_path: Path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("venues:\n  - {name: alpha}\n  - {name: beta, dialect: okx, accounts: [{passphrase: MyPass123}]}\n")
    config = build_sim_config(_args("--config", str(path)))
    assert [(v.name, v.dialect) for v in config.venues] == [("alpha", "binance"), ("beta", "okx")]
    assert config.venue("beta").accounts[0].passphrase == "MyPass123"
    flipped = build_sim_config(_args("--config", str(path), "--venues", "alpha:okx,beta"))
    assert [(v.name, v.dialect) for v in flipped.venues] == [("alpha", "okx"), ("beta", "okx")]
    path.write_text("venues:\n  - {name: beta, dialect: okx, accounts: [{passphrase: ''}]}\n")
    with pytest.raises(SimConfigError, match="needs a passphrase"):
        build_sim_config(_args("--config", str(path)))


async def test_banner_lines_name_the_dialect_and_the_passphrase_where_there_is_one() -> None:
    async with start_local_venues(SimConfig.default(("alpha:binance", "beta:okx"), seed=SEED), run_market=False) as sim:
        alpha, beta = (venue_banner(v) for v in sim)
        assert re.fullmatch(r"rayarb-sim venue=alpha dialect=binance url=http://127\.0\.0\.1:\d+ "
                            r"ws=ws://127\.0\.0\.1:\d+/stream/ws api_key=\S+ secret=[0-9a-f]{48}", alpha), alpha
        assert re.fullmatch(r"rayarb-sim venue=beta dialect=okx url=http://127\.0\.0\.1:\d+ "
                            r"ws=ws://127\.0\.0\.1:\d+/ws/v5 api_key=\S+ secret=[0-9a-f]{48} passphrase=\S+", beta), beta
        parsed = VENUE_LINE.match(beta)
        assert parsed is not None and parsed["dialect"] == "okx" and parsed["passphrase"] == sim["beta"].passphrase
        old = VENUE_LINE.match("rayarb-sim venue=a url=http://h:1 ws=ws://h:1/stream/ws api_key=k secret=s")
        assert old is not None and old["dialect"] is None  # the line before dialects still parses (as Binance)


async def test_one_market_drives_both_dialects_and_each_venue_conserves_its_assets() -> None:
    config = SimConfig.default(("alpha", "beta:okx"), seed=SEED)
    quiet = dataclasses.replace(config, market=dataclasses.replace(config.market, crossing_rate=0.0))  # no jumps
    async with start_local_venues(quiet, run_market=False) as sim:
        sim.market.step(wall_clock_ms())  # one step of the shared market quotes both venues
        alpha, beta = sim["alpha"], sim["beta"]
        totals = {v.name: v.engine.total_assets() for v in sim}
        binance = make_exchange(url=alpha.url, flavour="async", api_key=alpha.api_key, secret=alpha.secret)
        okx = make_okx_exchange(beta, "async")
        try:
            await asyncio.gather(binance.load_markets(), okx.load_markets())
            books = await asyncio.gather(binance.fetch_order_book(SYMBOL, 5), okx.fetch_order_book(SYMBOL, 5))
            fair = sim.market.fair_price("BTCUSDT")
            for book in books:
                mid = (D(str(book["bids"][0][0])) + D(str(book["asks"][0][0]))) / 2
                assert abs(mid / fair - 1) < D("0.001")  # both quote the same fair price (offsets of a few bps)
            await binance.create_order(SYMBOL, "limit", "buy", 0.01, books[0]["asks"][0][0] * 1.01,
                                       {"timeInForce": "IOC"})
            ack = await okx.create_order(SYMBOL, "limit", "sell", 0.01, books[1]["bids"][0][0] * 0.99,
                                         {"timeInForce": "IOC"})
            assert (await okx.fetch_order(ack["id"], SYMBOL))["status"] == "closed"
            assert (await binance.fetch_balance())["BTC"]["total"] > 2 > (await okx.fetch_balance())["BTC"]["total"]
        finally:
            await asyncio.gather(binance.close(), okx.close())
        for venue in sim:
            assert venue.engine.total_assets() == totals[venue.name]
