"""Helpers for end-to-end runs (they live in ``orchestration.chaos.harness`` and ``simulator.client``, which
``rayarb chaos`` uses too) and what the tests assert with them."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable

from orchestration.chaos.harness import (WAIT_S, BackgroundRun, actor, credentials_of, make_job, run_config,
                                         venue_entry, wait_for)
from simulator.client import ACCOUNT, account_balances, account_orders, account_trades, sim_get, sim_post

__all__ = ["ACCOUNT", "WAIT_S", "BackgroundRun", "account_balances", "account_orders", "account_trades", "actor",
           "assert_positions_are_the_balance_changes", "credentials_of", "make_job", "run_config", "run_until",
           "sim_get", "sim_post", "venue_entry", "wait_for"]


def run_until(job: Any, what: str, condition: Callable[[], bool], timeout_s: float = 180.0) -> int:
    """Run ``job`` until ``condition()`` holds, then end it as a user's Ctrl-C does (it settles and reports as at the
    end of a ``--duration``); its exit code. A run that ends by itself first is reported by the join."""
    run = BackgroundRun(job).start()
    try:
        wait_for(what, lambda: not run.thread.is_alive() or condition(), timeout_s=timeout_s, interval_s=0.5)
    finally:
        job.stop()
    return run.join(timeout_s)


def assert_positions_are_the_balance_changes(positions: dict, before: dict, after: dict) -> None:
    """The tracker's positions (report.json) equal, per venue and asset, the venues' balance changes, exactly."""
    for venue in before:
        for asset in set(before[venue]) | set(after[venue]):
            change = after[venue].get(asset, Decimal(0)) - before[venue].get(asset, Decimal(0))
            tracked = Decimal(positions.get(venue, {}).get(asset, "0"))
            assert tracked == change, (venue, asset, tracked, change)
