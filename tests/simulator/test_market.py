"""Tests of the synthetic market (shared seeded fair price, per-venue market makers, dislocations) and of the
simulator's configuration."""
from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from simulator.config import (
    MarketConfig,
    SimConfig,
    SimConfigError,
    derive_credentials,
)
from simulator.engine import VenueEngine
from simulator.market import Market, profitable_crossing

D = Decimal
PERIOD_MS = 50


class Clock:
    def __init__(self) -> None:
        self.ms = 0

    def __call__(self) -> int:
        return self.ms


def build(config: SimConfig, seed: int | None = None) -> tuple[Market, dict[str, VenueEngine], Clock]:
    clock = Clock()
    engines = {v.name: VenueEngine(v, config.symbols, clock) for v in config.venues}
    return Market(config, engines, seed), engines, clock


def run(market: Market, clock: Clock, steps: int, start: int = 0) -> None:
    for i in range(start, start + steps):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)


def small_config(seed: int = 7, **market_overrides) -> SimConfig:
    config = SimConfig.default(seed=seed)
    market = dataclasses.replace(config.market, levels=4, **market_overrides)
    return dataclasses.replace(config, market=market)


def books_crossing(engines: dict[str, VenueEngine], symbol: str) -> bool:
    tops = {name: e.best_bid_ask(symbol) for name, e in engines.items()}
    for buy_at, (_, ask) in tops.items():
        for sell_at, (bid, _) in tops.items():
            if buy_at != sell_at and profitable_crossing(ask, engines[buy_at].taker_fee, bid, engines[sell_at].taker_fee):
                return True
    return False


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_the_same_market() -> None:
    first, first_engines, first_clock = build(small_config(seed=11))
    second, second_engines, second_clock = build(small_config(seed=11))
    for i in range(150):
        first_clock.ms = second_clock.ms = i * PERIOD_MS
        first.step(first_clock.ms)
        second.step(second_clock.ms)
        for name in first_engines:
            assert first_engines[name].drain_depth_events() == second_engines[name].drain_depth_events()
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert first.fair_price(symbol) == second.fair_price(symbol)
        for name in first_engines:
            assert first_engines[name].depth({"symbol": symbol, "limit": "100"}) == second_engines[name].depth({"symbol": symbol, "limit": "100"})


def test_a_different_seed_gives_a_different_market() -> None:
    first, _, first_clock = build(small_config(seed=1))
    second, _, second_clock = build(small_config(seed=2))
    run(first, first_clock, 50)
    run(second, second_clock, 50)
    assert first.fair_price("BTCUSDT") != second.fair_price("BTCUSDT")


def test_seed_argument_overrides_the_config_seed() -> None:
    first, _, first_clock = build(small_config(seed=1), seed=5)
    second, _, second_clock = build(small_config(seed=5))
    run(first, first_clock, 30)
    run(second, second_clock, 30)
    assert first.fair_price("BTCUSDT") == second.fair_price("BTCUSDT")


# ---------------------------------------------------------------- quoting


def test_each_venue_quotes_a_ladder_around_the_fair_price() -> None:
    config = SimConfig.default()
    market, engines, clock = build(config)
    run(market, clock, 3)
    fair = market.fair_price("BTCUSDT")
    for name, engine in engines.items():
        depth = engine.depth({"symbol": "BTCUSDT", "limit": "100"})
        assert len(depth["bids"]) == config.market.levels and len(depth["asks"]) == config.market.levels
        bid, ask = D(depth["bids"][0][0]), D(depth["asks"][0][0])
        assert bid < ask
        assert abs((bid + ask) / 2 / fair - 1) < D("0.0025"), name  # within 25 bps even when dislocated
        assert D(depth["asks"][0][1]) == D("0.33333")  # 20000 USDT a level at 60000
        assert engine.market_maker.is_market_maker


def test_lagging_venue_sees_the_fair_price_late() -> None:
    config = SimConfig.default()
    venues = [dataclasses.replace(v, noise_bps=D(0), price_offset_bps=D(0)) for v in config.venues]
    config = dataclasses.replace(config, venues=venues, market=dataclasses.replace(config.market, crossing_rate=0.0, volatility_bps=D(20)))
    market, engines, clock = build(config)
    fairs = []
    for i in range(40):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        fairs.append(market.fair_price("BTCUSDT"))
        lag_steps = {"alpha": 0, "beta": 2, "gamma": 4}  # 0, 100 and 200 ms at 50 ms a step
        for name, steps in lag_steps.items():
            seen = fairs[max(0, i - steps)]
            bid, ask = engines[name].best_bid_ask("BTCUSDT")
            assert bid <= seen <= ask, (i, name)
            assert abs((bid + ask) / 2 - seen) <= D("0.02")


def test_without_dislocations_venues_never_cross_profitably() -> None:
    market, engines, clock = build(small_config(crossing_rate=0.0))
    for i in range(300):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        assert not books_crossing(engines, "BTCUSDT") and not books_crossing(engines, "ETHUSDT")
    assert market.crossing_fraction("BTCUSDT") == 0.0


def test_crossings_happen_exactly_during_dislocations_at_about_the_configured_rate() -> None:
    market, engines, clock = build(small_config(crossing_rate=0.1))
    steps = 2000
    crossing_steps = 0
    for i in range(steps):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        for symbol in ("BTCUSDT", "ETHUSDT"):
            crossing = books_crossing(engines, symbol)
            assert crossing == (market.dislocation(symbol) is not None), (i, symbol)
            crossing_steps += crossing
    fraction = crossing_steps / (2 * steps)
    assert 0.06 <= fraction <= 0.14, fraction
    assert market.crossing_fraction("BTCUSDT") + market.crossing_fraction("ETHUSDT") == pytest.approx(2 * fraction)


def test_a_dislocation_beats_both_taker_fees_by_its_edge() -> None:
    market, engines, clock = build(small_config(crossing_rate=0.3))
    seen = 0
    for i in range(400):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        d = market.dislocation("BTCUSDT")
        if d is None:
            continue
        seen += 1
        me = engines[d.venue]
        bid, ask = me.best_bid_ask("BTCUSDT")
        edges = []
        for name, other in engines.items():
            if name == d.venue:
                continue
            other_bid, other_ask = other.best_bid_ask("BTCUSDT")
            if d.cheap:
                edges.append(other_bid * (1 - other.taker_fee) / (ask * (1 + me.taker_fee)) - 1)
            else:
                edges.append(bid * (1 - me.taker_fee) / (other_ask * (1 + other.taker_fee)) - 1)
        # The best partner earns the edge (less a second-order fee term and tick rounding).
        assert max(edges) * 10_000 >= d.edge_bps * D("0.9"), (d, edges)
    assert seen > 10


def test_requotes_touch_only_the_levels_that_moved() -> None:
    config = SimConfig.default()
    market, engines, clock = build(dataclasses.replace(config, market=dataclasses.replace(config.market, crossing_rate=0.0)))
    run(market, clock, 5)
    engine = engines["alpha"]
    engine.drain_depth_events()
    changed = []
    for i in range(5, 105):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        for event in engine.drain_depth_events():
            if event["s"] == "BTCUSDT":
                changed.append(len(event["b"]) + len(event["a"]))
    # 40 levels are quoted; a typical update moves the two tops and now and then a grid level at each end.
    assert sum(changed) / 100 < 8
    assert max(changed) < 40


def test_consumed_liquidity_replenishes_at_the_next_requote() -> None:
    config = SimConfig.default()
    market, engines, clock = build(dataclasses.replace(config, market=dataclasses.replace(config.market, crossing_rate=0.0)))
    run(market, clock, 2)
    alpha = engines["alpha"]
    account = alpha.accounts[0]
    depth = alpha.depth({"symbol": "BTCUSDT", "limit": "3"})
    alpha.new_order(account, {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.5"})
    assert alpha.depth({"symbol": "BTCUSDT", "limit": "1"})["asks"][0] != depth["asks"][0]
    clock.ms += 1  # the same fair price and noise draw sequence continues; the ladder is quoted in full again
    market.step(clock.ms)
    after = alpha.depth({"symbol": "BTCUSDT", "limit": "5"})
    assert all(D(qty) == D("0.33333") for _, qty in after["asks"])


def test_frozen_market_stops_requoting_and_resumes() -> None:
    market, engines, clock = build(small_config(volatility_bps=D(50)))
    run(market, clock, 3)
    for engine in engines.values():
        engine.drain_depth_events()
    books = {n: e.depth({"symbol": "BTCUSDT"}) for n, e in engines.items()}
    market.frozen = True
    run(market, clock, 20, start=3)
    assert all(e.drain_depth_events() == [] for e in engines.values())
    assert {n: e.depth({"symbol": "BTCUSDT"}) for n, e in engines.items()} == books
    market.frozen = False
    run(market, clock, 1, start=23)
    assert any(e.drain_depth_events() for e in engines.values())


def test_frozen_and_unfrozen_markets_follow_the_same_fair_price() -> None:
    frozen, _, frozen_clock = build(small_config(seed=3))
    live, _, live_clock = build(small_config(seed=3))
    frozen.frozen = True
    run(frozen, frozen_clock, 60)
    run(live, live_clock, 60)
    assert frozen.fair_price("ETHUSDT") == live.fair_price("ETHUSDT")


def test_market_maker_and_clients_conserve_assets_through_the_market() -> None:
    market, engines, clock = build(small_config(crossing_rate=0.3))
    totals = {n: e.total_assets() for n, e in engines.items()}
    for i in range(200):
        clock.ms = i * PERIOD_MS
        market.step(clock.ms)
        if i % 7 == 0:
            for name, engine in engines.items():
                account = engine.accounts[0]
                side = "BUY" if i % 2 else "SELL"
                engine.new_order(account, {"symbol": "BTCUSDT", "side": side, "type": "MARKET", "quantity": "0.01"})
                bid, _ = engine.best_bid_ask("BTCUSDT")
                engine.new_order(account, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                           "quantity": "0.001", "price": str(bid)})
    for name, engine in engines.items():
        assert engine.total_assets() == totals[name]
        assert all(b.free >= 0 and b.locked >= 0 for a in engine.accounts for b in a.balances.values())
        assert engine.sim_fees()


def test_snapshot_is_json_ready() -> None:
    import json

    market, _, clock = build(small_config(crossing_rate=0.5))
    run(market, clock, 40)
    snap = json.loads(json.dumps(market.snapshot()))
    assert set(snap["symbols"]) == {"BTCUSDT", "ETHUSDT"} and snap["frozen"] is False
    assert snap["symbols"]["BTCUSDT"]["steps"] == 40


# ---------------------------------------------------------------- configuration


def test_default_config() -> None:
    config = SimConfig.default()
    assert [v.name for v in config.venues] == ["alpha", "beta", "gamma"]
    assert [s.symbol for s in config.symbols] == ["BTCUSDT", "ETHUSDT"]
    btc, eth = config.symbols
    assert (btc.fair_price, btc.tick_size, btc.step_size, btc.min_qty, btc.min_notional) == (D(60000), D("0.01"), D("0.00001"), D("0.00001"), D(5))
    assert (eth.fair_price, eth.tick_size, eth.step_size, eth.min_notional) == (D(3000), D("0.01"), D("0.0001"), D(5))
    alpha, beta, gamma = config.venues
    assert (alpha.taker_fee, beta.taker_fee, gamma.taker_fee) == (D("0.001"), D("0.00075"), D("0.001"))
    assert beta.maker_fee < beta.taker_fee and gamma.maker_fee < gamma.taker_fee
    account = alpha.accounts[0]
    assert account.balances == {"USDT": D(100000), "BTC": D(2), "ETH": D(40)}
    assert account.api_key.startswith("sim-alpha-") and len(account.api_key) == len("sim-alpha-") + 16
    assert len(account.secret) == 48 and int(account.secret, 16) >= 0
    assert account.secret not in repr(account)


def test_credentials_are_deterministic_per_venue_and_seed() -> None:
    assert SimConfig.default().venue("beta").accounts[0].api_key == SimConfig.default().venue("beta").accounts[0].api_key
    assert derive_credentials("alpha", 7) != derive_credentials("alpha", 8)
    assert derive_credentials("alpha", 7) != derive_credentials("beta", 7)


def test_from_dict_builds_and_defaults() -> None:
    config = SimConfig.from_dict({
        "seed": 3,
        "venues": ["alpha", {"name": "delta", "taker_fee": "0.002", "lag_ms": 50,
                             "accounts": [{"name": "desk", "balances": {"USDT": 500}}]}],
        "symbols": [{"symbol": "ETHUSDT", "base": "ETH", "quote": "USDT", "fair_price": 2500, "step_size": "0.0001", "min_qty": "0.0001"}],
        "market": {"update_hz": 10, "crossing_rate": 0.2, "levels": 5},
        "faults": {"latency_ms": 5},
    })
    assert config.seed == 3 and config.market.update_hz == 10.0 and config.market.levels == 5
    delta = config.venue("delta")
    assert delta.taker_fee == D("0.002") and delta.lag_ms == 50 and delta.maker_fee == D("0.001")
    assert delta.accounts[0].balances == {"USDT": D(500)} and delta.accounts[0].api_key.startswith("sim-delta-desk-")
    assert config.venue("alpha").accounts[0].api_key == derive_credentials("alpha", 3)[0]
    assert config.symbols[0].fair_price == D(2500) and config.faults == {"latency_ms": 5}


@pytest.mark.parametrize("data,key", [
    ({"venuez": []}, "venuez"),
    ({"venues": [{"name": "alpha", "fee": "0.1"}]}, "fee"),
    ({"market": {"hz": 5}}, "hz"),
    ({"symbols": [{"symbol": "BTCUSDT", "tick": "0.1"}]}, "tick"),
    ({"venues": [{"name": "alpha", "accounts": [{"key": "x"}]}]}, "key"),
])
def test_unknown_keys_are_errors_naming_the_key(data, key) -> None:
    with pytest.raises(SimConfigError, match=repr(key)):
        SimConfig.from_dict(data)


@pytest.mark.parametrize("data", [
    {"venues": ["alpha", "alpha"]},
    {"market": {"crossing_rate": 1.5}},
    {"venues": [{"name": "alpha", "taker_fee": "abc"}]},
    {"seed": "seven"},
    {"symbols": [{"symbol": "BTCUSD", "base": "BTC", "quote": "USDT"}]},
])
def test_invalid_values_are_errors(data) -> None:
    with pytest.raises(SimConfigError):
        SimConfig.from_dict(data)


def test_from_yaml(tmp_path) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text("seed: 9\nvenues: [alpha, beta]\nmarket:\n  crossing_rate: 0.05\n  level_notional: 1000\n")
    config = SimConfig.from_yaml(path)
    assert config.seed == 9 and [v.name for v in config.venues] == ["alpha", "beta"]
    assert config.market.crossing_rate == 0.05 and config.market.level_notional == D(1000)
    assert isinstance(config.market, MarketConfig)


def test_a_step_for_some_venues_requotes_only_those_and_keeps_the_random_sequence() -> None:
    market, engines, clock = build(SimConfig.default())
    run(market, clock, 3)
    before = {name: e.best_bid_ask("BTCUSDT") for name, e in engines.items()}
    clock.ms = 3 * PERIOD_MS
    market.step(clock.ms, venues=("beta",))
    after = {name: e.best_bid_ask("BTCUSDT") for name, e in engines.items()}
    assert after["alpha"] == before["alpha"] and after["gamma"] == before["gamma"]
    assert after["beta"] != before["beta"]
    # the same walk whichever venues re-quote: a twin stepped for all venues stays on the same fair prices
    twin, _, twin_clock = build(SimConfig.default())
    run(twin, twin_clock, 4)
    run(market, clock, 3, start=4)
    run(twin, twin_clock, 3, start=4)
    assert twin.fair_price("BTCUSDT") == market.fair_price("BTCUSDT")
    assert twin.fair_price("ETHUSDT") == market.fair_price("ETHUSDT")


async def test_the_market_loop_lets_venues_quote_in_turns() -> None:
    import asyncio
    import time

    from simulator.server import run_market_loop

    calls: list[tuple[str, float]] = []

    class Recording:
        def step(self, now_ms, venues=None):
            calls.append((venues[0], time.monotonic()))

    class Server:
        def __init__(self, name):
            self.name = name

        def publish_depth(self):
            return 0

    loop = asyncio.ensure_future(run_market_loop(Recording(), [Server(n) for n in ("a", "b", "c")], update_hz=20))
    await asyncio.sleep(0.32)
    loop.cancel()
    names = [name for name, _ in calls]
    assert names[:6] == ["a", "b", "c", "a", "b", "c"]  # each venue in its turn, 20 times a second each
    gaps = [later - earlier for (_, earlier), (_, later) in zip(calls, calls[1:])]
    assert min(gaps[:5]) > 0.008  # a third of the 50 ms period apart, not all in the same instant
