"""The synthetic market shared by all simulated venues.

One seeded random walk of the fair price per symbol drives every venue. Each venue's market maker sees the fair price
``lag_ms`` late, shifts it by its ``price_offset_bps`` plus per-update noise, and quotes a ladder: the top level at
mid +/- half the spread, deeper levels on a fixed price grid so that a small move of the mid changes only the top
levels (cheap re-quotes, and a depth stream that looks like a real one). Consumed liquidity comes back at the next
re-quote.

Offsets, lag and noise are far below the taker fees, so normal quoting never crosses profitably between venues.
Profitable crossings come from dislocations: now and then (so that a fraction ``crossing_rate`` of updates has one)
one venue's quotes jump for ``dislocation_ms`` so that its best ask is below the best bid of another venue by both
taker fees plus an edge (or its best bid above another's best ask) — the lagging, mispriced venue an arbitrage system
lives on.

Same seed and same sequence of ``step(now_ms)`` calls give the same market. ``frozen`` stops re-quoting (the fair
price keeps walking and the random draws are the same, so unfreezing resumes the same market).
"""
from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from simulator.config import SimConfig, SymbolSpec
from simulator.core.engine import Engine

logger = logging.getLogger(__name__)

_BPS = Decimal("0.0001")
_FAIR_QUANTUM = Decimal("0.00000001")


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


@dataclass(slots=True)
class Dislocation:
    """One venue mispriced against the others until ``until_ms``: ``cheap`` (its ask below another's bid) or not."""

    venue: str
    cheap: bool
    edge_bps: Decimal
    until_ms: int


@dataclass(slots=True)
class _SymbolState:
    spec: SymbolSpec
    fair: Decimal
    history: deque  # (ms, fair) oldest first, enough to serve the largest lag
    grid: Decimal  # spacing of deep levels, a multiple of the tick
    level_qty: Decimal
    dislocation: Dislocation | None = None
    steps: int = 0
    crossing_steps: int = 0


def profitable_crossing(ask: Decimal, ask_fee: Decimal, bid: Decimal, bid_fee: Decimal) -> bool:
    """Buying at ``ask`` and selling at ``bid`` (each paying its taker fee) earns something."""
    return bid * (1 - bid_fee) > ask * (1 + ask_fee)


class Market:
    """Drives every venue's market maker from one seeded fair-price walk per symbol."""

    def __init__(self, config: SimConfig, engines: dict[str, Engine], seed: int | None = None) -> None:
        self.config = config
        self.market = config.market
        self.engines = engines
        self.venues = [v for v in config.venues if v.name in engines]
        self.frozen = False
        self._rng = random.Random(config.seed if seed is None else seed)
        self._period_ms = 1000.0 / self.market.update_hz
        self._max_lag = max((v.lag_ms for v in self.venues), default=0)
        self._last_ms: int | None = None
        half_spread = self.market.spread_bps * _BPS / 2
        self._half_spread = half_spread
        self._symbols: dict[str, _SymbolState] = {}
        for spec in config.symbols:
            grid = max(1, int((spec.fair_price * self.market.level_spacing_bps * _BPS / spec.tick_size).to_integral_value())) * spec.tick_size
            level_qty = max(spec.min_qty, floor_to(self.market.level_notional / spec.fair_price, spec.step_size))
            self._symbols[spec.symbol] = _SymbolState(spec=spec, fair=spec.fair_price, history=deque(), grid=grid, level_qty=level_qty)

    # ------------------------------------------------------------------ read-outs

    def fair_price(self, symbol: str) -> Decimal:
        return self._symbols[symbol].fair

    def dislocation(self, symbol: str) -> Dislocation | None:
        return self._symbols[symbol].dislocation

    def crossing_fraction(self, symbol: str) -> float:
        """Fraction of steps so far whose quotes crossed profitably between some pair of venues."""
        state = self._symbols[symbol]
        return state.crossing_steps / state.steps if state.steps else 0.0

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state for /_sim: fair prices, dislocations, crossing counts."""
        out: dict[str, Any] = {"frozen": self.frozen, "symbols": {}}
        for symbol, state in self._symbols.items():
            d = state.dislocation
            out["symbols"][symbol] = {
                "fair": f"{state.fair:.8f}",
                "steps": state.steps,
                "crossingSteps": state.crossing_steps,
                "dislocation": None if d is None else {
                    "venue": d.venue, "cheap": d.cheap, "edgeBps": str(d.edge_bps), "untilMs": d.until_ms,
                },
            }
        return out

    # ------------------------------------------------------------------ the walk

    def step(self, now_ms: int, venues: Collection[str] | None = None) -> None:
        """Advance every fair price to ``now_ms`` and let the market makers of ``venues`` (default: all) re-quote,
        unless frozen. Every venue's wanted quotes are drawn either way, so the random sequence does not depend on
        which venues re-quote."""
        dt = self._period_ms if self._last_ms is None else max(0, now_ms - self._last_ms)
        self._last_ms = now_ms
        sigma = float(self.market.volatility_bps * _BPS) * math.sqrt(dt / 1000.0)
        for symbol, state in self._symbols.items():
            shock = self._rng.gauss(0.0, 1.0) * sigma
            state.fair = (state.fair * (1 + Decimal(shock))).quantize(_FAIR_QUANTUM)
            self._remember(state, now_ms)
            self._update_dislocation(state, now_ms, dt)
            tops = self._tops(state, now_ms)
            state.steps += 1
            if self._crosses(tops):
                state.crossing_steps += 1
            if self.frozen:
                continue
            for venue_name, (bid, ask) in tops.items():
                if venues is not None and venue_name not in venues:
                    continue
                bids, asks = self._ladder(state, bid, ask)
                self.engines[venue_name].set_quotes(symbol, bids, asks)

    def _remember(self, state: _SymbolState, now_ms: int) -> None:
        history = state.history
        history.append((now_ms, state.fair))
        horizon = now_ms - self._max_lag
        while len(history) >= 2 and history[1][0] <= horizon:
            history.popleft()

    def _lagged_fair(self, state: _SymbolState, now_ms: int, lag_ms: int) -> Decimal:
        seen_at = now_ms - lag_ms
        for ms, fair in reversed(state.history):
            if ms <= seen_at:
                return fair
        return state.history[0][1]

    def _update_dislocation(self, state: _SymbolState, now_ms: int, dt: float) -> None:
        rate = self.market.crossing_rate
        if state.dislocation is not None and now_ms >= state.dislocation.until_ms:
            state.dislocation = None
        # Always draw, so the random sequence does not depend on whether a dislocation is running.
        draw, pick, direction, edge_draw = (self._rng.random() for _ in range(4))
        if state.dislocation is not None or len(self.venues) < 2 or rate <= 0:
            return
        start_probability = rate * dt / (self.market.dislocation_ms * (1 - rate))
        if draw < start_probability:
            venue = self.venues[int(pick * len(self.venues)) % len(self.venues)].name
            span = self.market.edge_max_bps - self.market.edge_min_bps
            edge = (self.market.edge_min_bps + span * Decimal(edge_draw)).quantize(Decimal("0.01"))
            state.dislocation = Dislocation(venue=venue, cheap=direction < 0.5, edge_bps=edge,
                                            until_ms=now_ms + self.market.dislocation_ms)

    def _tops(self, state: _SymbolState, now_ms: int) -> dict[str, tuple[Decimal, Decimal]]:
        """Best bid and ask each venue's market maker wants now."""
        tick = state.spec.tick_size
        tops: dict[str, tuple[Decimal, Decimal]] = {}
        for venue in self.venues:
            noise = Decimal(self._rng.gauss(0.0, 1.0)).quantize(Decimal("0.000001"))
            mid = self._lagged_fair(state, now_ms, venue.lag_ms) * (1 + (venue.price_offset_bps + noise * venue.noise_bps) * _BPS)
            bid = floor_to(mid * (1 - self._half_spread), tick)
            ask = ceil_to(mid * (1 + self._half_spread), tick)
            if ask <= bid:
                ask = bid + tick
            tops[venue.name] = (bid, ask)
        d = state.dislocation
        if d is not None and d.venue in tops:
            fee = self.engines[d.venue].taker_fee
            others = [v.name for v in self.venues if v.name != d.venue]
            spread = 2 * self._half_spread
            if d.cheap:
                partner = max(others, key=lambda n: tops[n][0])
                hurdle = fee + self.engines[partner].taker_fee + d.edge_bps * _BPS
                ask = floor_to(tops[partner][0] * (1 - hurdle), tick)
                bid = min(floor_to(ask * (1 - spread), tick), ask - tick)
            else:
                partner = min(others, key=lambda n: tops[n][1])
                hurdle = fee + self.engines[partner].taker_fee + d.edge_bps * _BPS
                bid = ceil_to(tops[partner][1] * (1 + hurdle), tick)
                ask = max(ceil_to(bid * (1 + spread), tick), bid + tick)
            tops[d.venue] = (bid, ask)
        return tops

    def _crosses(self, tops: dict[str, tuple[Decimal, Decimal]]) -> bool:
        for buy_venue, (_, ask) in tops.items():
            for sell_venue, (bid, _) in tops.items():
                if buy_venue != sell_venue and profitable_crossing(
                    ask, self.engines[buy_venue].taker_fee, bid, self.engines[sell_venue].taker_fee
                ):
                    return True
        return False

    def _ladder(self, state: _SymbolState, bid: Decimal, ask: Decimal) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """Top level at the given prices, deeper levels on the symbol's fixed grid."""
        levels = self.market.levels
        grid = state.grid
        qty = state.level_qty
        min_price = state.spec.min_price
        asks = [(ask, qty)]
        price = floor_to(ask, grid) + grid
        while len(asks) < levels and price <= state.spec.max_price:
            asks.append((price, qty))
            price += grid
        bids = [(bid, qty)] if bid >= min_price else []
        price = ceil_to(bid, grid) - grid
        while len(bids) < levels and price >= min_price:
            bids.append((price, qty))
            price -= grid
        return bids, asks
