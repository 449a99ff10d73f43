"""Detector shards by symbol (execution.sharding): every symbol on exactly one shard, the same one in every process
whatever the config's order, and the shards' loads within one symbol of each other."""
from __future__ import annotations

import subprocess
import sys

import pytest

from execution.sharding import shard_of, shard_symbols

SYMBOLS = [f"S{i:02d}/USDT" for i in range(20)]


@pytest.mark.parametrize("shards", [1, 2, 3, 4, 7, 20])
def test_every_symbol_is_on_exactly_one_shard_and_the_loads_differ_by_at_most_one(shards):
    assignment = shard_symbols(SYMBOLS, shards)
    assert len(assignment) == shards
    assigned = [s for shard in assignment for s in shard]
    assert sorted(assigned) == sorted(SYMBOLS)
    sizes = [len(shard) for shard in assignment]
    assert max(sizes) - min(sizes) <= 1
    for index, shard in enumerate(assignment):
        assert all(shard_of(symbol, SYMBOLS, shards) == index for symbol in shard)


def test_one_shard_takes_every_symbol():
    assert shard_symbols(["ETH/USDT", "BTC/USDT"], 1) == (("BTC/USDT", "ETH/USDT"),)


def test_two_symbols_on_two_shards_are_split():
    assert shard_symbols(["BTC/USDT", "ETH/USDT"], 2) == (("BTC/USDT",), ("ETH/USDT",))


def test_the_config_order_does_not_move_a_symbol():
    assert shard_symbols(SYMBOLS, 4) == shard_symbols(list(reversed(SYMBOLS)), 4)


def test_the_assignment_is_the_same_in_another_process():
    """No per-process hash seed in it: a restarted shard and the exchange actors agree."""
    code = ("from execution.sharding import shard_symbols; "
            f"print(shard_symbols({SYMBOLS!r}, 3))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=".")
    assert other.stdout.strip() == str(shard_symbols(SYMBOLS, 3))


def test_more_shards_than_symbols_leave_the_last_shards_empty():
    assert shard_symbols(["BTC/USDT"], 3) == (("BTC/USDT",), (), ())


def test_a_symbol_outside_the_run_and_a_shard_count_below_one_are_refused():
    with pytest.raises(KeyError):
        shard_of("XRP/USDT", SYMBOLS, 2)
    with pytest.raises(ValueError):
        shard_symbols(SYMBOLS, 0)
