"""A cluster whose workers carry ``rayarb_worker``: the run places its exchange actors and detector on the workers only
(the order manager, tracker and supervisor on the head, which carries ``rayarb_head``), and a worker's lost actors
come back on a worker, never on the head; trading goes on."""
from __future__ import annotations

import dataclasses
import io
import time
from collections import Counter

import pytest

from actors.common import ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR
from orchestration.local_cluster import actor_placement, started_cluster
from orchestration.main_job import MainJob
from simulator.launcher import VenueProcess
from tests.integration.runs import BackgroundRun, account_orders, all_up, make_job, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.cluster]


@pytest.mark.slow  # its own cluster and run: ~60 s
def test_the_hot_path_runs_on_the_workers_and_comes_back_on_one_after_a_loss(tmp_path):
    with started_cluster(hot_path_on_workers=True) as nodes, VenueProcess(("alpha", "beta:okx"), seed=7) as venues:
        venues.start(timeout_s=60)
        local = make_job(venues.venues, tmp_path, duration_s=None, run={"channels": "127.0.0.1"}, cooldown_s=0.05)
        job = MainJob(dataclasses.replace(local.options, address=nodes.address), status_stream=io.StringIO())
        run = BackgroundRun(job).start()
        try:
            wait_for("the run to trade", lambda: run.error is None and all_up()
                     and any(account_orders(v.url) for v in venues.venues), timeout_s=120, interval_s=0.5)
            hot = [n for n in job.deployment.actor_names if n.startswith("exchange:") or n == "detector"]
            on_head = [SUPERVISOR, ORDER_MANAGER, POSITION_TRACKER]
            placed = actor_placement(hot + on_head)
            assert all(placed[n][0] in nodes.workers for n in hot), placed
            assert all(placed[n][0] == nodes.head_node_id for n in on_head), placed

            fresh = nodes.add_worker()
            wait_for("a fresh worker", lambda: fresh in nodes.alive_node_ids(), timeout_s=60)
            victim = Counter(placed[n][0] for n in hot).most_common(1)[0][0]
            moved = [n for n in hot if placed[n][0] == victim]
            orders_before = sum(len(account_orders(v.url)) for v in venues.venues)
            lost_at = time.time()
            nodes.remove_worker(victim)

            def back_on_a_worker() -> bool:
                now = actor_placement(moved)
                return all(n in now and now[n][1] == "ALIVE" and now[n][0] in nodes.workers for n in moved)

            wait_for(f"{moved} back on a worker", back_on_a_worker, timeout_s=90, interval_s=0.2)
            wait_for("every actor up and an order placed after the loss", lambda: all_up() and any(
                o.get("receivedTimeUs", 0) / 1e6 > lost_at for v in venues.venues for o in account_orders(v.url)),
                timeout_s=90, interval_s=0.5)
            assert sum(len(account_orders(v.url)) for v in venues.venues) > orders_before
            assert run.error is None, run.error
        finally:
            job.stop()
            assert run.join(120) == 0
