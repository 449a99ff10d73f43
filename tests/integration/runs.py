"""Helpers for end-to-end runs (they live in ``orchestration.chaos.harness`` and ``simulator.client``, which
``rayarb chaos`` uses too) and what the tests assert with them."""
from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any, Callable

from orchestration.chaos.harness import (WAIT_S, BackgroundRun, actor, credentials_of, make_job, run_config,
                                         venue_entry, wait_for)
from orchestration.report import load_run_report
from simulator.client import ACCOUNT, account_balances, account_orders, account_trades, sim_get, sim_post

__all__ = ["ACCOUNT", "WAIT_S", "BackgroundRun", "account_balances", "account_orders", "account_trades", "actor",
           "actor_health", "all_up", "assert_every_venue_order_journaled_once",
           "assert_positions_are_the_balance_changes", "credentials_of", "fed_by", "make_job", "replaced", "run_config",
           "run_until", "sim_get", "sim_post", "venue_entry", "wait_for"]


def actor_health(name: str) -> dict:
    """The named rayarb actor's health answer (raises while it is restarting or not registered)."""
    import ray

    return ray.get(actor(name).health.remote(), timeout=5)


def all_up() -> bool:
    """The supervisor reports every actor up and wired; False while the supervisor itself is being recreated."""
    import ray
    from ray.exceptions import RayActorError

    from actors.common import SUPERVISOR

    try:
        return ray.get(actor(SUPERVISOR).all_up.remote(), timeout=5)
    except (RayActorError, ValueError):
        return False


def replaced(name: str, incarnation: str) -> bool:
    """``name`` answers from a process other than ``incarnation`` and the supervisor has every actor up again."""
    from ray.exceptions import RayActorError

    try:
        return actor_health(name)["incarnation"] != incarnation and all_up()
    except (RayActorError, ValueError):  # being restarted or recreated
        return False


def fed_by(name: str, exchanges: tuple[str, ...]) -> list[bool]:
    """Whether each of ``exchanges`` (exchange actors) pushes to the actor ``name`` (books or balances)."""
    return [name in actor_health(exchange)["subscribers"] for exchange in exchanges]


def process_state(pid: int) -> str | None:
    """The process's state letter in /proc (R, S, T: stopped, Z: a zombie...); None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


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


def assert_every_venue_order_journaled_once(run_dir: Any, endpoints: Any) -> None:
    """No client order id reached a venue twice, and every order a venue knows is in the run's journal (its report)
    with the venue's executed amount."""
    journal = {row["client_order_id"]: row for row in load_run_report(run_dir).orders}
    for e in endpoints:
        orders = account_orders(e.url)
        counts = Counter(o["clientOrderId"] for o in orders)
        assert [cid for cid, n in counts.items() if n > 1] == [], f"client order id placed twice at {e.name}"
        for order in orders:
            row = journal.get(order["clientOrderId"])
            assert row is not None, f"{e.name} order {order['clientOrderId']} is not in the journal"
            assert row["filled"] == Decimal(order["executedQty"]), (row, order)
