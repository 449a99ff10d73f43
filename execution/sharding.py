"""Which detector shard a symbol belongs to.

Detection is spread by symbol: every venue's book of one symbol must reach the same detector, because an opportunity
is two venues' books of that symbol side by side. A symbol's shard is a stable function of the symbol and the run's
symbol list: the symbols sorted by name and dealt out in turn (the i-th goes to shard i mod K). It is the same in every
process and every restart (no Python ``hash``, no config order), so an exchange actor, a restarted shard and the
supervisor agree without asking each other, and the shards' loads differ by at most one symbol. (A hash of the symbol
modulo K needs no list but balances badly on few symbols: CRC-32 put BTC/USDT and ETH/USDT on the same of two shards.)
"""
from __future__ import annotations

from collections.abc import Iterable


def shard_symbols(symbols: Iterable[str], shards: int) -> tuple[tuple[str, ...], ...]:
    """Each shard's symbols (sorted by name); with fewer symbols than shards the last shards get none."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    ordered = sorted(set(symbols))
    return tuple(tuple(ordered[i::shards]) for i in range(shards))


def shard_of(symbol: str, symbols: Iterable[str], shards: int) -> int:
    """The shard (0 .. shards-1) that detects on ``symbol``, one of the run's ``symbols``."""
    for index, assigned in enumerate(shard_symbols(symbols, shards)):
        if symbol in assigned:
            return index
    raise KeyError(f"{symbol} is not one of the run's symbols")
