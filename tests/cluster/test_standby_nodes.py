"""A venue's two exchange actors (supervisor.exchange_standby) on a head and two worker nodes: they start on
different nodes, so losing the node of the active one (with the supervisor killed at once) leaves the standby to take
the venue over; the lost one is recreated on a node other than its partner's. The detector's two actors
(supervisor.detector_standby) likewise: losing the active one's node leaves the standby to take detection over. The
run agrees with the venues afterwards: no client order id twice, every venue order in the journal with its fill.

Slow (``make test-full``): ``make test`` has the takeovers on one node (tests/integration/test_exchange_standby.py,
tests/integration/test_detector_standby.py)."""
from __future__ import annotations

import os
import signal

import pytest
import ray

from actors.common import SUPERVISOR, exchange_pair
from actors.peers import NAMESPACE
from execution.journal import Journal
from orchestration.chaos.harness import active_actor, active_exchange_actor
from simulator.launcher import VenueProcess
from tests.cluster.test_node_loss import actor_placement, call
from tests.integration.runs import BackgroundRun, assert_every_venue_order_journaled_once, make_job, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.cluster, pytest.mark.slow]

VENUES = ("alpha", "gamma")  # Binance's dialect: its order connection counts the requests an actor sent


def requests_sent(name: str) -> int:
    return ((call(name, "health") or {}).get("order_entry") or {}).get("requests_sent", 0)


def test_a_venues_two_exchange_actors_live_on_different_nodes_and_a_node_loss_leaves_one(node_cluster, tmp_path):
    with VenueProcess(VENUES, seed=8) as venues:
        venues.start(timeout_s=60)
        job = make_job(venues.venues, tmp_path, duration_s=None, run={"channels": "127.0.0.1"}, cooldown_s=0.05,
                       address=node_cluster.address, supervisor={"exchange_standby": True})
        run = BackgroundRun(job).start()
        try:
            wait_for("the run to trade with every actor up", lambda: run.error is None and bool(call(SUPERVISOR, "all_up"))
                     and any(requests_sent(active_exchange_actor(v.name) or "") for v in venues.venues),
                     timeout_s=120, interval_s=0.5)
            pairs = {v.name: exchange_pair(v.name) for v in venues.venues}
            placed = actor_placement([n for pair in pairs.values() for n in pair])
            for venue, (first, second) in pairs.items():
                assert placed[first][0] != placed[second][0], f"{venue}'s two exchange actors share a node: {placed}"
            # the venue whose active actor is on a worker node (one of the two is: there is one head)
            venue, active = next((v, a) for v in pairs if (a := active_exchange_actor(v)) is not None
                                 and placed[a][0] in node_cluster.workers)
            standby = next(n for n in pairs[venue] if n != active)
            victim, sent_before = placed[active][0], requests_sent(standby)
            node_cluster.remove_worker(victim)
            node_cluster.add_worker()  # the cluster keeps its size (the module's next test needs two workers)
            # and the supervisor at the same moment (it runs on the head, so only a fault of its own takes it): the
            # new one learns from the actors which one to trade through, and recreates the lost one away from its
            # partner
            ray.kill(ray.get_actor(SUPERVISOR, namespace=NAMESPACE))
            try:
                wait_for(f"{standby} active and sending {venue}'s legs",
                         lambda: active_exchange_actor(venue) == standby and requests_sent(standby) > sent_before,
                         timeout_s=60, interval_s=0.1)
            except AssertionError as e:
                states = {a["Name"]: (a["State"], a["Address"]["NodeID"][:8]) for a in ray._private.state.actors().values()
                          if a["Name"] in pairs[venue]}
                raise AssertionError(f"{e}; actors {states}; supervisor {call(SUPERVISOR, 'status')}; "
                                     f"standby {call(standby, 'health')}") from None
            wait_for(f"{active} recreated on a node of its own", lambda: (
                (where := actor_placement([active, standby])).get(active, (None, None))[1] == "ALIVE"
                and where[active][0] not in (victim, where[standby][0]) and bool(call(SUPERVISOR, "all_up"))),
                timeout_s=90, interval_s=0.2)
            assert not ray.get(ray.get_actor(active, namespace=NAMESPACE).health.remote(), timeout=10)["active"]
        finally:
            job.stop()
            assert run.join(120) == 0

        assert_every_venue_order_journaled_once(job.run_dir, venues.venues)


def legs_by(journal: Journal, detector: str) -> int:
    """Arbitrage legs of the opportunities the detector actor's current process found."""
    incarnation = call(detector, "health")["incarnation"]
    return sum(1 for o in journal.orders() if (o.opportunity_id or "").startswith(f"op-{incarnation}-"))


def test_the_detectors_two_actors_live_on_different_nodes_and_a_node_loss_leaves_one(node_cluster, tmp_path):
    with VenueProcess(VENUES, seed=9) as venues:
        venues.start(timeout_s=60)
        job = make_job(venues.venues, tmp_path, duration_s=None, run={"channels": "127.0.0.1"}, cooldown_s=0.05,
                       address=node_cluster.address, supervisor={"detector_standby": True})
        run = BackgroundRun(job).start()
        journal = None
        try:
            wait_for("the run to trade with every actor up", lambda: run.error is None
                     and bool(call(SUPERVISOR, "all_up")) and call("detector", "health")["detected"] > 0,
                     timeout_s=120, interval_s=0.5)
            journal = Journal(job.deployment.journal_path)
            pair = ("detector", "detector~2")
            placed = actor_placement(list(pair))
            assert placed[pair[0]][0] != placed[pair[1]][0], f"the detector's two actors share a node: {placed}"
            if placed[pair[0]][0] not in node_cluster.workers:  # the active one on the head: have the other take over
                os.kill(call(pair[0], "health")["pid"], signal.SIGKILL)
                wait_for("the standby detecting", lambda: active_actor("detector") == pair[1]
                         and legs_by(journal, pair[1]) > 0, timeout_s=60, interval_s=0.1)
                wait_for("every actor up", lambda: bool(call(SUPERVISOR, "all_up")), timeout_s=60)
            active = active_actor("detector")
            standby = next(n for n in pair if n != active)
            victim = actor_placement([active])[active][0]
            assert victim in node_cluster.workers
            node_cluster.remove_worker(victim)
            node_cluster.add_worker()  # the cluster keeps its size
            wait_for(f"{standby} detecting, its opportunities traded",
                     lambda: active_actor("detector") == standby and legs_by(journal, standby) > 0,
                     timeout_s=60, interval_s=0.1)
            wait_for(f"{active} recreated on a node of its own", lambda: (
                (where := actor_placement(list(pair))).get(active, (None, None))[1] == "ALIVE"
                and where[active][0] not in (victim, where[standby][0]) and bool(call(SUPERVISOR, "all_up"))),
                timeout_s=90, interval_s=0.2)
            assert not call(active, "health")["active"]
        finally:
            job.stop()
            assert run.join(120) == 0
            if journal is not None:
                journal.close()

        assert_every_venue_order_journaled_once(job.run_dir, venues.venues)
