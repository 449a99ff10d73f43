"""supervisor.order_manager_standby: a second order manager waits unstarted beside the first, holding no journal and fed
nothing; when the active one dies (SIGKILL) or hangs (SIGSTOP: the supervisor kills it), the standby opens the journal
(once the dead process's lock on it is gone), rebuilds the risk engine, reconciles, is fed the balances, and the
detector's opportunities go to it. The dead one comes back as the standby. A new supervisor learns from the two which
one is active. No client order id reaches a venue twice, every venue order is in the journal, and the run's report
comes from the active one."""
from __future__ import annotations

import os
import signal

import pytest
import ray

from actors.common import SUPERVISOR
from simulator.launcher import VenueProcess
from tests.integration.runs import (BackgroundRun, account_orders, actor, all_up,
                                    assert_every_venue_order_journaled_once, fed_by, make_job, replaced, wait_for)
from tests.integration.runs import actor_health as health

pytestmark = pytest.mark.ray

PRIMARY, STANDBY = "order_manager", "order_manager~2"
EXCHANGES = ("exchange:alpha", "exchange:beta")


def venue_orders(venues) -> int:
    return sum(len(account_orders(v.url)) for v in venues.venues)


def taken(name: str) -> int:
    """Opportunities the order manager ``name``'s process took."""
    return ray.get(actor(name).summary.remote(0), timeout=10)["opportunities_received"]


def assert_standby(name: str) -> None:
    """Idle: not started (so it holds no journal) and fed nothing."""
    assert not health(name)["started"]
    assert fed_by(name, EXCHANGES) == [False, False]


def take_over(dead: str, taking_over: str, venues, how: int = signal.SIGKILL) -> None:
    """SIGKILL (or SIGSTOP: hung) the active ``dead``: ``taking_over`` starts, is fed, takes opportunities and sends
    their legs; ``dead`` comes back as the standby."""
    info, sent_before = health(dead), venue_orders(venues)
    os.kill(info["pid"], how)
    wait_for(f"{taking_over} started and taking opportunities", lambda: health(taking_over)["started"]
             and taken(taking_over) > 0 and venue_orders(venues) > sent_before, timeout_s=60, interval_s=0.1)
    assert fed_by(taking_over, EXCHANGES) == [True, True]
    wait_for(f"{dead} back", lambda: replaced(dead, info["incarnation"]), timeout_s=60, interval_s=0.2)
    assert_standby(dead)


def test_the_standby_takes_the_orders_over_and_the_dead_one_comes_back_as_the_standby(tmp_path):
    with VenueProcess(("alpha", "beta:okx"), seed=4) as venues:
        venues.start(timeout_s=60)
        job = make_job(venues.venues, tmp_path, duration_s=None, cooldown_s=0.05,
                       supervisor={"order_manager_standby": True})
        run = BackgroundRun(job).start()
        try:
            wait_for("trading with both order managers up", lambda: run.error is None and all_up()
                     and venue_orders(venues) > 0, timeout_s=180, interval_s=0.2)
            assert health(PRIMARY)["started"] and fed_by(PRIMARY, EXCHANGES) == [True, True]
            assert_standby(STANDBY)

            take_over(PRIMARY, STANDBY, venues)
            # a new supervisor learns from the two which one is active, and leaves it so
            supervisor = health(SUPERVISOR)["incarnation"]
            ray.kill(actor(SUPERVISOR))
            wait_for("a new supervisor", lambda: replaced(SUPERVISOR, supervisor), timeout_s=90, interval_s=0.2)
            assert [health(name)["started"] for name in (PRIMARY, STANDBY)] == [False, True]
            # hung: the supervisor kills it after its missed heartbeats, and only then can the standby open the journal
            take_over(STANDBY, PRIMARY, venues, signal.SIGSTOP)
        finally:
            run.job.stop()
            assert run.join(180) == 0  # the report from the active order manager

        assert_every_venue_order_journaled_once(run.job.run_dir, venues.venues)
