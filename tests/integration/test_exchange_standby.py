"""supervisor.exchange_standby: a venue's second exchange actor, started with its keys but streaming nothing, takes the
venue over when the active one dies; the dead one comes back as the standby. A new order manager is routed to the
active one; a new supervisor learns from the two which one is active (the started one, when the active one died with
the old supervisor). Orders go on through whichever is active, no client order id reaches a venue twice, and every
order a venue knows is in the journal."""
from __future__ import annotations

import os
import signal
import pytest
import ray

from actors.common import ORDER_MANAGER, SUPERVISOR
from simulator.launcher import VenueProcess
from tests.integration.runs import (BackgroundRun, account_orders, actor, all_up,
                                    assert_every_venue_order_journaled_once, make_job, replaced, wait_for)
from tests.integration.runs import actor_health as health

pytestmark = pytest.mark.ray

PRIMARY, STANDBY = "exchange:alpha", "exchange:alpha~2"


def requests_sent(name: str) -> int:
    return (health(name).get("order_entry") or {}).get("requests_sent", 0)


def take_over(dead: str, taking_over: str) -> None:
    """Kill the active ``dead``: ``taking_over`` becomes active and sends alpha's legs; ``dead`` comes back as the
    standby."""
    sent_before = requests_sent(taking_over)
    info = health(dead)
    os.kill(info["pid"], signal.SIGKILL)
    wait_for(f"{taking_over} active and sending alpha's legs",
             lambda: health(taking_over)["active"] and requests_sent(taking_over) > sent_before,
             timeout_s=60, interval_s=0.1)
    wait_for(f"{dead} back", lambda: replaced(dead, info["incarnation"]), timeout_s=60, interval_s=0.2)
    assert not health(dead)["active"]  # back as the standby: it streams nothing


def test_the_standby_takes_the_venue_over_and_the_dead_one_comes_back_as_the_standby(tmp_path):
    with VenueProcess(("alpha", "beta:okx"), seed=4) as venues:
        venues.start(timeout_s=60)
        run = BackgroundRun(make_job(venues.venues, tmp_path, duration_s=None, cooldown_s=0.05,
                                     supervisor={"exchange_standby": True})).start()
        try:
            wait_for("trading with both of alpha's actors up", lambda: run.error is None and all_up()
                     and requests_sent(PRIMARY) > 0, timeout_s=180, interval_s=0.2)
            # started alike (keyed, its order connection open), but only the active one streams and sends
            assert health(PRIMARY)["active"] and not health(STANDBY)["active"]
            assert health(STANDBY)["started"] and not health(STANDBY)["book_age_s"] and requests_sent(STANDBY) == 0

            # the active one dies: the standby takes alpha over at once, and alpha's legs go through it
            take_over(PRIMARY, STANDBY)
            # a new order manager is told where alpha's actor is now: alpha's legs still go through the standby
            sent_before, manager = requests_sent(STANDBY), health(ORDER_MANAGER)
            os.kill(manager["pid"], signal.SIGKILL)
            wait_for("a new order manager", lambda: replaced(ORDER_MANAGER, manager["incarnation"]), timeout_s=60)
            wait_for("alpha's legs from the new order manager", lambda: requests_sent(STANDBY) > sent_before,
                     timeout_s=60, interval_s=0.1)
            assert requests_sent(PRIMARY) == 0  # the first one's new process, the standby now, sent nothing
            # a new supervisor learns from alpha's actors which one is active: it fails over the right way
            supervisor = health(SUPERVISOR)["incarnation"]
            ray.kill(actor(SUPERVISOR))
            wait_for("a new supervisor", lambda: replaced(SUPERVISOR, supervisor), timeout_s=90, interval_s=0.2)
            assert [health(name)["active"] for name in (PRIMARY, STANDBY)] == [False, True]
            take_over(STANDBY, PRIMARY)
            # the supervisor and the active actor lost together: the new supervisor may find the active one's new
            # process answering but not started, and gives alpha to the one that is started
            supervisor, sent_before = health(SUPERVISOR)["incarnation"], requests_sent(STANDBY)
            dead = health(PRIMARY)
            ray.kill(actor(SUPERVISOR))
            os.kill(dead["pid"], signal.SIGKILL)
            wait_for("a new supervisor", lambda: replaced(SUPERVISOR, supervisor), timeout_s=90, interval_s=0.2)
            wait_for(f"{STANDBY} active and sending alpha's legs",
                     lambda: health(STANDBY)["active"] and requests_sent(STANDBY) > sent_before, timeout_s=60)
            wait_for(f"{PRIMARY} back", lambda: replaced(PRIMARY, dead["incarnation"]), timeout_s=60, interval_s=0.2)
            assert [health(name)["active"] for name in (PRIMARY, STANDBY)] == [False, True]
        finally:
            run.job.stop()
            assert run.join(180) == 0

        assert all(account_orders(e.url) for e in venues.venues)
        assert_every_venue_order_journaled_once(run.job.run_dir, venues.venues)
