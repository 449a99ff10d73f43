"""Losing a worker node mid-run, with orders in flight.

On a head + two worker nodes (tests/cluster/conftest.py), `rayarb run` joins the cluster and its actors (spread by
the supervisor) sit on several nodes; the supervisor, the order manager and the tracker on the head. While the venues
answer slowly, so that opportunities are in flight, the worker node holding the most of them is killed, every process
at once (SIGKILL), as a crashed host. Then: its actors come back on a surviving node and are rewired, trading goes on
(an order placed after the loss fills), and at the end the run agrees exactly with the venues, as in
tests/integration/test_run_local.py: no client order id twice at a venue, every venue order in the journal with its
fill, positions equal to the balance changes, every journaled order terminal.

Where an actor runs is read from the GCS actor table (``ray._private.state.actors``): ``ray.util.state`` would need
the dashboard, which costs seconds of start-up and a fixed port on this shared machine.
"""
from __future__ import annotations

import dataclasses
import io
import time
from collections import Counter
from decimal import Decimal

import pytest
import ray

from actors.common import ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR
from actors.peers import NAMESPACE
from execution.journal import Journal
from orchestration.main_job import MainJob
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import (
    BackgroundRun,
    account_balances,
    account_orders,
    account_trades,
    assert_positions_are_the_balance_changes,
    make_job,
    sim_post,
)

pytestmark = [pytest.mark.ray, pytest.mark.cluster]

TERMINAL = {"filled", "expired", "canceled", "rejected", "denied"}
UP_TIMEOUT_S = 90.0  # actors started and wired, first fills (worker processes start slowly on 2 loaded cores)
RECOVERY_TIMEOUT_S = 60.0  # death noticed, actors alive elsewhere and rewired, an order placed after the loss filled
SLOW_VENUE_MS = 300  # keeps orders in flight long enough to kill the node under them
# Orders in flight at the kill reach the venues within the slow answer; an order first seen later was placed after it.
LEG_ID_PREFIX = "rx"  # the order manager's client order ids (unwinds are "unw...")
OPPORTUNITY_PREFIX = "op-"  # the detector's opportunity ids (a hedge after a restart has its own)


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=7) as process:
        process.start(timeout_s=60)
        yield process.venues


def wait_for(what: str, condition, timeout_s: float, period_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(period_s)


def actor_placement(names) -> dict[str, tuple[str, str, int]]:
    """name -> (node id, state, restarts so far) of the actors with these names that are not DEAD."""
    wanted = set(names)
    return {a["Name"]: (a["Address"]["NodeID"], a["State"], a["NumRestarts"])
            for a in ray._private.state.actors().values() if a["Name"] in wanted and a["State"] != "DEAD"}


def call(name: str, method: str, timeout_s: float = 5.0):
    """A method of a named rayarb actor; None while it is restarting or not registered."""
    try:
        return ray.get(getattr(ray.get_actor(name, namespace=NAMESPACE), method).remote(), timeout=timeout_s)
    except (ray.exceptions.RayError, ValueError):
        return None


def arbitrage_leg_filled_since(journal: Journal, since_wall: float) -> bool:
    """An arbitrage leg (not an unwind, not a hedge) of an opportunity detected after ``since_wall`` was filled. A leg
    that was in flight at that moment and resubmitted later (same client order id) does not count: its order was
    created before."""
    return any(o.created_ts > since_wall and o.filled > 0 and (o.opportunity_id or "").startswith(OPPORTUNITY_PREFIX)
               and o.client_order_id.startswith(LEG_ID_PREFIX) for o in journal.orders())


def set_venue_latency(venues, latency_ms: int) -> None:
    for venue in venues:
        sim_post(venue.url, "/_sim/faults", {"latency_ms": latency_ms} if latency_ms else {"clear": True})


@pytest.mark.slow  # make test applies node_lost with the same checks: rayarb chaos --short --nodes 1 (test_chaos.py)
def test_a_worker_node_lost_with_orders_in_flight_moves_its_actors_and_trading_goes_on(node_cluster, venues, tmp_path):
    before = {e.name: account_balances(e.url) for e in venues}
    # Every node of this cluster is on this host: channels on loopback (joining a cluster would mean each node's
    # address; tests listen on 127.0.0.1 only). Where "node" resolves to is checked in test_channel_host.
    local = make_job(venues, tmp_path, duration_s=None, run={"channels": "127.0.0.1"}, cooldown_s=0.05)
    job = MainJob(dataclasses.replace(local.options, address=node_cluster.address), status_stream=io.StringIO())
    run = BackgroundRun(job).start()
    try:
        wait_for("the run to trade", lambda: run.error or (getattr(job, "baseline", None) is not None
                                                           and any(account_trades(e.url) for e in venues)),
                 UP_TIMEOUT_S)
        assert run.error is None, run.error
        names = job.deployment.actor_names + (SUPERVISOR,)
        placed = actor_placement(names)
        assert set(placed) == set(names) and all(state == "ALIVE" for _, state, _ in placed.values()), placed
        head_only = (SUPERVISOR, ORDER_MANAGER, POSITION_TRACKER)  # a worker's loss never takes them
        assert all(placed[n][0] == node_cluster.head_node_id for n in head_only), placed
        per_worker = Counter(node for node, _, _ in placed.values() if node in node_cluster.workers)
        assert per_worker, f"no rayarb actor on a worker node: {placed}"
        victim = per_worker.most_common(1)[0][0]
        moved = sorted(name for name, (node, _, _) in placed.items() if node == victim)
        supervised_before = call(SUPERVISOR, "status")["actors"]

        set_venue_latency(venues, SLOW_VENUE_MS)
        wait_for("an opportunity in flight", lambda: (call(ORDER_MANAGER, "health") or {}).get("in_flight"),
                 UP_TIMEOUT_S, period_s=0.005)
        killed_at, killed_wall = time.monotonic(), time.time()
        node_cluster.remove_worker(victim)
        set_venue_latency(venues, 0)

        def rewired() -> bool:
            """Every actor answers and is wired, after the supervisor saw the moved ones' new processes (all_up
            alone may still say yes for a moment after a restart)."""
            actors = (call(SUPERVISOR, "status") or {}).get("actors", supervised_before)
            if any(actors[n]["restarts"] <= supervised_before[n]["restarts"] for n in moved):
                return False
            return bool(call(SUPERVISOR, "all_up"))

        live_journal = Journal(job.deployment.journal_path)  # read beside the running order manager (WAL)

        milestones: dict[str, float] = {}  # what happened -> seconds after the kill
        checks = {"death noticed": lambda: victim not in node_cluster.alive_node_ids(),
                  "rewired": rewired,
                  "new leg filled": lambda: arbitrage_leg_filled_since(live_journal, killed_wall)}
        survivors = set(node_cluster.alive_node_ids()) - {victim}
        deadline = killed_at + RECOVERY_TIMEOUT_S
        while len(milestones) < len(checks) + len(moved):
            now_placed = actor_placement(moved)
            for name in moved:
                node, state, restarts = now_placed.get(name, (None, None, 0))
                if name not in milestones and state == "ALIVE" and node in survivors and restarts > placed[name][2]:
                    milestones[name] = time.monotonic() - killed_at
            for what, check in checks.items():
                if what not in milestones and check():
                    milestones[what] = time.monotonic() - killed_at
            assert time.monotonic() < deadline, (
                f"after losing {moved}, only {milestones} within {RECOVERY_TIMEOUT_S:.0f} s; now {now_placed}, "
                f"supervisor {call(SUPERVISOR, 'status')}")
            time.sleep(0.1)
        assert run.error is None, run.error
        timeline = ", ".join(f"{what} {s:.2f}" for what, s in sorted(milestones.items(), key=lambda item: item[1]))
        print(f"\nnode loss: {moved} moved from {victim[:8]} to {[now_placed[n][0][:8] for n in moved]}; "
              f"seconds after the kill: {timeline}")
    finally:
        job.stop()
        code = run.join(120)
    assert code == 0

    # the same invariants as a run on one node
    after = {e.name: account_balances(e.url) for e in venues}
    report_run = load_run_report(job.run_dir)
    report = report_run.report
    assert_positions_are_the_balance_changes(report["positions"], before, after)
    assert report["balance_check"]["checked"] and report["balance_check"]["differences"] == {}
    assert report["hot_path"]["transport"] == "channels" and report["hot_path"]["direct_calls"] > 0, report["hot_path"]

    journal = {row["client_order_id"]: row for row in report_run.orders}
    for venue in venues:
        orders = account_orders(venue.url)
        counts = Counter(o["clientOrderId"] for o in orders)
        assert [cid for cid, n in counts.items() if n > 1] == [], f"a client order id was placed twice at {venue.name}"
        for order in orders:  # every order a venue knows is in the journal, with the venue's id and fill
            row = journal.get(order["clientOrderId"])
            assert row is not None, f"{venue.name} order {order['clientOrderId']} is not in the journal"
            assert row["exchange"] == venue.name and row["exchange_order_id"] == str(order["orderId"])
            assert row["filled"] == Decimal(order["executedQty"]), (row, order)
    try:  # the run is over: the journal says which opportunity each order belongs to (the report does not)
        assert arbitrage_leg_filled_since(live_journal, killed_wall), \
            "no arbitrage leg sent after the node loss was filled: trading did not go on"
    finally:
        live_journal.close()
    not_terminal = [row for row in report_run.orders if row["status"] not in TERMINAL]
    assert not_terminal == [], not_terminal
    reported_fills = {(f["exchange"], f["trade_id"]) for f in report_run.fills}
    venue_fills = {(e.name, str(t["id"])) for e in venues for t in account_trades(e.url)}
    assert reported_fills == venue_fills
    assert len(report_run.fills) == len(reported_fills)  # no fill counted twice


def test_channels_set_to_node_listen_on_the_address_ray_uses_for_each_node(node_cluster):
    """``run.channels: node`` (the default when joining a cluster) resolves, on every node, to that node's address."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from actors.transport import listen_host

    @ray.remote(num_cpus=0)
    def resolve() -> tuple[str, str, str]:
        return ray.get_runtime_context().get_node_id(), listen_host("node"), listen_host("127.0.0.1")

    ray.init(address=node_cluster.address)
    try:
        addresses = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]}
        assert len(addresses) >= 2
        for node_id, address in addresses.items():
            strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
            ran_on, node_host, fixed = ray.get(resolve.options(scheduling_strategy=strategy).remote(), timeout=60)
            assert (ran_on, node_host, fixed) == (node_id, address, "127.0.0.1")
    finally:
        ray.shutdown()
