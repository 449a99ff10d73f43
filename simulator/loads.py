"""Simulator loads of a given size: ``sim_config(venues, symbols, update_hz)`` is the plain ``rayarb sim`` config for
``venues`` venues (alpha, beta, gamma, then venue3, venue4, ...) each listing ``symbols`` symbols (BTC/USDT, ETH/USDT,
then made-up ``AAA/USDT``-style symbols at a fair price of 100) quoted ``update_hz`` times a second per venue and
symbol; the traded account holds enough of every asset to trade every symbol. Used by the benchmarks and by
``rayarb chaos --load``."""
from __future__ import annotations

import string
from typing import Any

NAMED = ("alpha", "beta", "gamma")  # the simulator's venues with their own fees, offsets and lags
FIRST_SYMBOLS = (("BTC", "60000", "0.01", "0.00001"), ("ETH", "3000", "0.01", "0.0001"))
QUOTE = "USDT"


def venue_names(count: int) -> list[str]:
    return [NAMED[i] if i < len(NAMED) else f"venue{i}" for i in range(count)]


def symbol_specs(count: int) -> list[dict[str, str]]:
    """Simulator symbol entries: BTC and ETH first, then three-letter bases (AAA, AAB, ...) around 100 USDT."""
    specs = []
    for index in range(count):
        if index < len(FIRST_SYMBOLS):
            base, price, tick, step = FIRST_SYMBOLS[index]
        else:
            n = index - len(FIRST_SYMBOLS)
            letters = string.ascii_uppercase
            base = letters[n // 676 % 26] + letters[n // 26 % 26] + letters[n % 26]
            price, tick, step = "100", "0.01", "0.001"
        specs.append({"symbol": base + QUOTE, "base": base, "quote": QUOTE, "tick_size": tick, "step_size": step,
                      "min_qty": step, "fair_price": price})
    return specs


def unified_symbols(count: int) -> list[str]:
    """The ccxt symbols of ``symbol_specs(count)``, as a rayarb config lists them."""
    return [f"{s['base']}/{s['quote']}" for s in symbol_specs(count)]


def sim_config(venues: int, symbols: int, update_hz: float, *, seed: int = 21,
               dialects: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``rayarb sim`` config; ``dialects`` maps a venue name to the dialect it speaks (default Binance's)."""
    specs = symbol_specs(symbols)
    balances = {QUOTE: "10000000", **{s["base"]: str(int(200_000 / float(s["fair_price"])) + 1) for s in specs}}
    entries = []
    for name in venue_names(venues):
        entry: dict[str, Any] = {"name": name, "accounts": [{"balances": balances}]}
        if dialects and name in dialects:
            entry["dialect"] = dialects[name]
        entries.append(entry)
    return {"seed": seed, "venues": entries, "symbols": specs, "market": {"update_hz": update_hz}}
