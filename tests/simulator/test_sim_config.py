"""The simulator's config as declared models: each field once with its default, bounds and help; frozen; unknown
fields refused; every problem a SimConfigError naming where it is (the key path, or the object built directly)."""
from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest

from simulator.config import (AccountConfig, MarketConfig, SimConfig, SimConfigError, SymbolSpec, VenueConfig,
                              default_account)

MODELS = (SymbolSpec, AccountConfig, VenueConfig, MarketConfig, SimConfig)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_declared_with_its_help(model) -> None:
    fields = model.__pydantic_fields__
    assert fields and all(field.description for field in fields.values()), model.__name__


def test_configs_are_frozen_and_stay_dataclasses() -> None:
    market = MarketConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        market.levels = 3  # type: ignore[misc]
    assert dataclasses.replace(market, levels=3).levels == 3
    venue = VenueConfig("alpha", D("0.0005"))  # positional, as dataclasses take them
    assert venue.maker_fee == D("0.0005") and venue.taker_fee == D("0.001")


@pytest.mark.parametrize("build,message", [
    (lambda: VenueConfig("alpha", maker_fee=D(2)), "venue alpha: maker_fee must be < 1, got 2"),
    (lambda: VenueConfig(name="alpha", lag_ms=-1), "venue alpha: lag_ms must be >= 0, got -1"),
    (lambda: VenueConfig(name="alpha", dialect="kraken"),
     "venue alpha: dialect must be one of binance, okx, got 'kraken'"),
    (lambda: VenueConfig(name="beta", dialect="okx", accounts=[default_account("beta", 7)]),
     "venue beta: account 'main' needs a passphrase (okx)"),
    (lambda: MarketConfig(levels=0), "market: levels must be >= 1, got 0"),
    (lambda: dataclasses.replace(MarketConfig(), crossing_rate=1.5), "market: crossing_rate must be < 1"),
    (lambda: SymbolSpec(tick_size=D(0)), "tick_size must be > 0, got 0"),
    (lambda: AccountConfig("k", "s", {"USDT": "lots"}), "account 'main': balances.USDT must be a number, got 'lots'"),
    (lambda: VenueConfig(name="alpha", fee=D(1)), "unknown key 'fee' in venue alpha (allowed: accounts, dialect"),
])
def test_a_config_built_directly_names_the_object_and_the_field(build, message) -> None:
    with pytest.raises(SimConfigError) as raised:
        build()
    assert message in str(raised.value)


@pytest.mark.parametrize("data,message", [
    ({"venues": [{"name": "alpha", "taker_fee": "0.2", "noise_bps": -1}]}, "venues[0].noise_bps must be >= 0, got -1"),
    ({"venues": ["alpha", {"name": "beta", "lag_ms": True}]}, "venues[1].lag_ms must be an integer, got True"),
    ({"venues": [{"name": "alpha", "accounts": [{"balances": {"BTC": "x"}}]}]},
     "venues[0].accounts[0].balances.BTC must be a number, got 'x'"),
    ({"market": {"update_hz": 0}}, "market.update_hz must be > 0, got 0"),
    ({"market": {"levels": "5"}}, "market.levels must be an integer, got '5'"),
    ({"symbols": [{"symbol": "BTCUSDT", "min_notional": -1}]}, "symbols[0].min_notional must be >= 0, got -1"),
    ({"venues": [{"lag_ms": 1}]}, "venues[0]: missing key 'name'"),
    ({"faults": ["latency_ms"]}, "faults must be a mapping, got list"),
])
def test_from_dict_names_the_key_path(data, message) -> None:
    with pytest.raises(SimConfigError) as raised:
        SimConfig.from_dict(data)
    assert message in str(raised.value)


def test_numbers_are_exact_and_the_defaults_come_from_the_venue_and_seed() -> None:
    config = SimConfig.from_dict({"seed": 3, "venues": [{"name": "beta", "taker_fee": 0.1}, "alpha"],
                                  "market": {"level_notional": 0.3}})
    beta = config.venue("beta")
    assert beta.taker_fee == D("0.1") and config.market.level_notional == D("0.3")
    assert beta.maker_fee == D("0.0005") and beta.lag_ms == 100  # beta's own defaults where the entry is silent
    assert beta.accounts[0].api_key.startswith("sim-beta-") and config.seed == 3
