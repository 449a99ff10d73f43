"""Recovery: from killing an actor (SIGKILL) or losing a worker node to the next order sent to a venue.

What it measures: a trading `rayarb run` (MainJob, the supervisor's production heartbeat settings) against three
simulator venues (alpha and gamma Binance, beta OKX), trading the market's own crossings (``--crossing-rate``: a steady
market, so that a kill's wait is rayarb's more than the market's). Each actor type in turn
(exchange actor, detector, order manager, position tracker, supervisor) has its process SIGKILLed ``--kills`` times
(the pid its ``health()`` gives; exchange actors in rotation over the venues). For each kill:
- **to next order**: kill -> the venue's receipt (``receivedTimeUs`` in /_sim/orders) of the first arbitrage leg
  created after the kill (the journal's creation time, so a leg already on its way does not count; nor do unwinds and
  hedges, which follow from the kill itself). After killing an exchange actor
  it is the first such order to *that* venue (orders between the other venues never stopped);
- **back**: kill -> the actor's new process answering ``health()`` (Ray's restart);
- **rewired**: kill -> the supervisor counting the restart and reporting every actor up and wired again.
Between kills the run trades again and the supervisor reports every actor up. The next order can come no sooner than the
market offers a crossing, and crossings come in bursts: so the run first trades ``--idle`` seconds with nothing killed,
and the wait from each moment of that window (every 0.1 s) to the next arbitrage leg reaching a venue (any venue; a
given venue, for the exchange kills) is the baseline of each "killed -> next order" figure: what the market alone makes
one wait.

With ``--standby-kills N``: the same run with every standby on (``supervisor.exchange_standby``: a second, started
exchange actor per venue that takes the venue over when the active one dies; ``detector_standby``: a second detector,
sent no books until it takes detection over; ``order_manager_standby``: a second order manager that opens the journal
when it takes the orders over), the venues' active exchange actors SIGKILLed N times in rotation (kill -> the first
arbitrage leg created after it reaching that venue, now through the standby), then the active detector N times and the
active order manager N times (kill -> the first arbitrage leg created after it reaching any venue).

With ``--hangs N``: in each of those runs, the exchange actor, the detector and the order manager (the active ones,
with standbys) each hung N times: its process SIGSTOPped, as a process that stops answering without dying (a deadlock,
a stalled host); the supervisor's missed heartbeats find it, and it is replaced (SIGKILLed by the supervisor, on its
node; with a standby, the standby takes over at once). Hung -> next order as for a kill.

With ``--node-losses N``: the same run on a several-node ``ray.cluster_utils.Cluster`` on this host (head + two worker
nodes carrying ``rayarb_worker``, so the exchange actors and the detector run on the workers; fast node-death
detection: tests/cluster/nodes.py). A fresh worker node joins, then the worker whose loss stops the most of trading
is killed whole (its raylet and every worker process at once, as a crashed host), until N losses have stopped
trading (at most 3N losses); kill -> trading again where the loss stopped it: the first arbitrage leg created after it
reaching any venue when the node held the detector (every order needs it), and reaching each venue whose exchange
actor it held (the latest of those). A loss that took neither stops no trading and is reported apart.

With ``--standby-node-losses N``: the node losses again, with every standby on (a venue's two exchange actors, and the
detector's two, on different nodes; the order manager's two on one node, the journal's); a lost exchange actor,
detector or order manager stops trading only if it was the active one.

With ``--silent-node-losses N`` and ``--standby-silent-node-losses N``: the node losses again, without standbys and
with every standby on, the worker's every process stopped (SIGSTOP) rather than killed, as a host gone without closing
its connections (nothing it holds answers, nothing is refused); they are ended once trading is back.

    python -m benchmarks.bench_recovery [--kills 10] [--standby-kills 10] [--hangs 5] [--node-losses 10]
                                        [--standby-node-losses 10] [--silent-node-losses 10]
                                        [--standby-silent-node-losses 10]
                                        [--types exchange,...] [--idle 60] [--crossing-rate 0.5]
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from actors.common import (DETECTOR, EXCHANGE_PREFIX, ORDER_MANAGER, exchange_actor_name, is_detector,  # noqa: E402
                           role_of, standby_pair, venue_of)
from benchmarks.results import RESULTS, Figure, record  # noqa: E402
from orchestration.config.models import SupervisorConfig  # noqa: E402
from orchestration.main_job import MainJob  # noqa: E402
from orchestration.report import summarize_latencies  # noqa: E402
from simulator.launcher import VenueProcess  # noqa: E402
from orchestration.chaos.harness import active_actor  # noqa: E402
from tests.integration.runs import (BackgroundRun, account_orders, actor, make_job, process_state,  # noqa: E402
                                    wait_for)

TYPES = ("exchange", "detector", "order_manager", "position_tracker", "supervisor")
WITH_STANDBY = "exchange with a standby"  # the active exchange actor killed, supervisor.exchange_standby on
DETECTOR_WITH_STANDBY = "detector with a standby"  # the active detector killed, supervisor.detector_standby on
OM_WITH_STANDBY = "order_manager with a standby"  # the active order manager killed, supervisor.order_manager_standby on
PAIRED = {WITH_STANDBY: None, DETECTOR_WITH_STANDBY: DETECTOR, OM_WITH_STANDBY: ORDER_MANAGER}  # kind -> role
HUNG = " hung"  # a kind with this suffix: its process SIGSTOPped (it stops answering) instead of SIGKILLed
HOT_PATH = ("exchange", "detector", "order_manager")  # the types hung: each stops trading while it does not answer
VENUES = ("alpha", "beta:okx", "gamma")
STARTUP_S = 240.0
RECOVERY_TIMEOUT_S = 90.0  # a kill not followed by an order within this is recorded as not recovered
FOLLOW_S = 0.05  # how often a recovery is looked at: its takeover and rewiring are seen up to this late
LEG_ID_PREFIX = "rx"  # the order manager's client order ids of arbitrage legs (unwinds are "unw...")
OPPORTUNITY = "op-"  # the detector's opportunity ids (a hedge after a restart has its own)


def _get(ref: Any, timeout_s: float = 5.0) -> Any:
    import ray

    return ray.get(ref, timeout=timeout_s)


def production_job(venues: Any, run_dir: Path, address: str | None = None, run: dict | None = None,
                   standby: bool = False) -> MainJob:
    """A run of ``venues`` trading the market's crossings, with the supervisor's default (production) settings (and a
    standby exchange actor per venue, a standby detector and a standby order manager with ``standby``)."""
    local = make_job(venues, run_dir, duration_s=None, run=run, cooldown_s=0.0)
    supervisor = SupervisorConfig(exchange_standby=standby, detector_standby=standby, order_manager_standby=standby)
    config = local.options.config.model_copy(update={"supervisor": supervisor})
    return MainJob(dataclasses.replace(local.options, config=config, address=address), status_stream=io.StringIO())


def simulator_venues(args: argparse.Namespace, directory: Path, seed: int) -> VenueProcess:
    """The three simulator venues, their market crossing on ``args.crossing_rate`` of its updates (the simulator's
    default, 0.08, leaves lulls of up to ~16 s at a venue with nothing killed: a kill's wait would be the market's)."""
    path = directory / "market.yaml"
    path.write_text(yaml.safe_dump({"market": {"crossing_rate": args.crossing_rate}}), encoding="utf-8")
    return VenueProcess(VENUES, seed=seed, config_path=path)


def finish(run: BackgroundRun) -> None:
    """The run's end; the kills were measured before it, so a failed shutdown is reported, not fatal to them."""
    try:
        run.join(300)
    except Exception as exc:
        print(f"the run did not end cleanly: {type(exc).__name__}: {exc}", file=sys.stderr)


def pid_of(name: str) -> int | None:
    try:
        return _get(actor(name).health.remote())["pid"]
    except Exception:  # dead or restarting
        return None


class Orders:
    """The venues' orders of the traded account, watched: the first one received after a moment."""

    def __init__(self, venues: Any) -> None:
        self.venues = venues

    def received_after(self, wall: float, venue: str | None = None) -> list[tuple[float, str, str]]:
        found = []
        for v in self.venues:
            if venue is None or v.name == venue:
                found += [(o["receivedTimeUs"] / 1e6, v.name, o["clientOrderId"]) for o in account_orders(v.url)
                          if o["receivedTimeUs"] / 1e6 > wall]
        return sorted(found)

    def all(self) -> list[tuple[float, str, str]]:
        return self.received_after(0.0)


def wait_until_trading(job: MainJob, orders: Orders, since: float) -> None:
    wait_for("every actor up and an order sent", lambda: _get(actor("supervisor").all_up.remote())
             and bool(orders.received_after(since)), timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.2)


def restarts_seen(name: str) -> int | None:
    """How many restarts of ``name`` the supervisor has seen (it counts one when it finds the new process)."""
    try:
        return _get(actor("supervisor").status.remote())["actors"][name]["restarts"]
    except Exception:  # the supervisor itself restarting
        return None


def leg_sent_since(journal: Any, wall: float, venue: str | None) -> bool:
    """An arbitrage leg created after ``wall`` (at ``venue``, or anywhere) was answered by its venue."""
    return any(o.created_ts > wall and o.exchange_order_id and (venue is None or o.exchange == venue)
               and o.client_order_id.startswith(LEG_ID_PREFIX) and (o.opportunity_id or "").startswith(OPPORTUNITY)
               for o in journal.orders())


def kill_one(name: str, target_venue: str | None, journal: Any, standby: str | None = None,
             hang: bool = False) -> dict[str, Any]:
    """SIGKILL ``name``'s process (SIGSTOP with ``hang``: the supervisor's heartbeats find it and replace it) and
    follow its recovery: seconds until its new process answers (Ray's restart), until the supervisor has rewired it,
    until an arbitrage leg created after the kill is answered by its venue; with ``standby`` (the other actor of
    ``name``'s role), until it is active; and its restart's steps."""
    wait_for(f"{name}'s pid", lambda: pid_of(name) is not None, timeout_s=60, interval_s=0.1)
    pid = pid_of(name)
    restarts = None if name == "supervisor" else restarts_seen(name)
    killed_at, killed_mono = time.time(), time.monotonic()
    os.kill(pid, signal.SIGSTOP if hang else signal.SIGKILL)
    back = rewired = taken_over = None
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        if standby is not None and taken_over is None and active_actor(role_of(name)) == standby:
            taken_over = time.time() - killed_at
        if back is None:
            now_pid = pid_of(name)
            if now_pid is not None and now_pid != pid:
                back = time.time() - killed_at
        if rewired is None and back is not None and (restarts is None or (restarts_seen(name) or 0) > restarts) \
                and _get(actor("supervisor").all_up.remote()):
            rewired = time.time() - killed_at
        if rewired is not None and leg_sent_since(journal, killed_at, target_venue):
            break
        time.sleep(FOLLOW_S)
    if hang and alive(pid):  # not replaced within the recovery timeout: ended, so that it cannot wake up later
        os.kill(pid, signal.SIGKILL)
    steps = restart_steps([name] if standby is None else [name, standby], killed_at, killed_mono)
    return {"name": name, "killed_at": killed_at, "back_s": back, "rewired_s": rewired, "venue": target_venue,
            "taken_over_s": taken_over, "steps_s": steps[name],
            **({} if standby is None else {"standby_steps_s": steps[standby]}),
            **({} if time.monotonic() < deadline else {"stalled": stalled_state()})}


def stalled_state() -> dict[str, Any]:
    """What the order manager and the detector say when no order followed a kill: why opportunities were refused."""
    summary = _get(actor(active_actor(ORDER_MANAGER)).summary.remote(0))
    detector = _get(actor(active_actor(DETECTOR)).health.remote())
    return {"order_manager": {k: summary.get(k) for k in ("opportunities_received", "denied", "kill_switch")},
            "detector": {k: detector.get(k) for k in ("enabled", "active", "detected", "skipped", "channel_calls")}}


def trading_stopped(moved: list[str]) -> list[str | None]:
    """What losing the actors ``moved`` stops, as the orders that show trading again: None (an order to any venue)
    when the detector or the order manager went, which every order needs; each venue whose exchange actor went. Empty
    when neither went (the supervisor, the position tracker): trading goes on."""
    needs: list[str | None] = [None] if any(role_of(n) == ORDER_MANAGER or is_detector(n) for n in moved) else []
    return needs + sorted({venue_of(n) for n in moved if n.startswith(EXCHANGE_PREFIX)})


def next_order_after(kill: dict[str, Any], received: list[tuple[float, str, str]],
                     legs: dict[str, tuple[float, str]], venue: str | None) -> float | None:
    """Kill -> receipt of the first arbitrage leg created after the kill (at ``venue``, or anywhere); after a node
    loss, created once the lost node's processes were gone (``gone_at``)."""
    after = kill.get("gone_at") or kill["killed_at"]
    for at, v, cid in received:
        created = legs.get(cid, (0.0, ""))[0]
        if at > after and (venue is None or v == venue) and created > after:
            return at - kill["killed_at"]
    return None


def alive(pid: int) -> bool:
    """The process runs (not gone, not a zombie)."""
    return process_state(pid) not in (None, "Z")


def arbitrage_legs(job: MainJob) -> dict[str, tuple[float, str]]:
    """client order id -> (creation time, opportunity id) of every arbitrage leg the journal holds (not unwinds, not
    hedges: those follow from the kill itself)."""
    from execution.journal import Journal

    journal = Journal(job.deployment.journal_path)
    try:
        return {o.client_order_id: (o.created_ts, o.opportunity_id) for o in journal.orders()
                if o.client_order_id.startswith(LEG_ID_PREFIX) and (o.opportunity_id or "").startswith(OPPORTUNITY)}
    finally:
        journal.close()


def market_waits(received: list[tuple[float, str, str]], legs: dict[str, tuple[float, str]], start: float,
                 end: float, venue: str | None = None, step_s: float = 0.1) -> list[float]:
    """With nothing killed: from each moment of [start, end) (every ``step_s``) to the receipt of the first arbitrage
    leg created after it (at ``venue``, or anywhere), as ``next_order_after`` measures a kill; moments with no such
    leg inside the window are left out."""
    found = sorted((at, legs[cid][0]) for at, v, cid in received
                   if cid in legs and start < at < end and (venue is None or v == venue))
    waits = []
    for k in range(int((end - start) / step_s)):
        moment = start + k * step_s
        receipts = [at for at, created in found if created > moment]
        if receipts:
            waits.append(min(receipts) - moment)
    return waits


def idle_gap(received: list[tuple[float, str, str]], legs: dict[str, tuple[float, str]],
             before: float) -> float | None:
    """The p50 gap between opportunities' first legs reaching a venue, before the first kill."""
    firsts: dict[str, float] = {}
    for at, _, cid in received:
        if cid in legs and at < before:
            opportunity = legs[cid][1]
            firsts[opportunity] = min(at, firsts.get(opportunity, at))
    times = sorted(firsts.values())
    gaps = [b - a for a, b in zip(times, times[1:])]
    return summarize_latencies(gaps)["p50"] if gaps else None


def ray_restart_floor(kills: int) -> list[float]:
    """SIGKILL an actor with nothing to import or set up ``kills`` times in the run's own Ray: seconds until its new
    process answers, polled as ``kill_one`` polls the rayarb actors. What Ray's restart alone costs: the kills'
    baseline."""
    import ray

    class Empty:  # defined here so Ray ships it by value: its new process imports nothing of rayarb
        def pid(self) -> int:
            return os.getpid()

    empty = ray.remote(Empty).options(max_restarts=-1, max_task_retries=0, num_cpus=0).remote()
    seconds = []
    try:
        for _ in range(kills):
            pid = _get(empty.pid.remote(), 60)
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            while time.time() - killed_at < RECOVERY_TIMEOUT_S:
                try:
                    if _get(empty.pid.remote()) != pid:
                        seconds.append(time.time() - killed_at)
                        break
                except Exception:  # unavailable while Ray restarts it; then a call reaches the new process
                    time.sleep(0.05)
    finally:
        ray.kill(empty)
    return seconds


def actor_kills(args: argparse.Namespace, directory: Path, standby: bool = False) -> dict[str, Any]:
    """Each of ``args.types`` killed ``args.kills`` times, then each hot-path type hung ``args.hangs`` times; with
    ``standby`` (every standby on), the active exchange actors, detector and order manager killed
    ``args.standby_kills`` times each, then hung ``args.hangs`` times each."""
    kinds = list(PAIRED) if standby else args.types
    plan = [(kind, args.standby_kills if standby else args.kills) for kind in kinds]
    plan += [(kind + HUNG, args.hangs) for kind in (PAIRED if standby else HOT_PATH) if args.hangs]
    with simulator_venues(args, directory, seed=11) as sim:
        sim.start(timeout_s=120)
        orders = Orders(sim.venues)
        job = production_job(sim.venues, directory / ("standby" if standby else "actors"), standby=standby)
        run = BackgroundRun(job).start()
        kills: list[dict[str, Any]] = []
        try:
            wait_for("the run to trade", lambda: run.error is None and getattr(job, "baseline", None) is not None
                     and bool(orders.all()), timeout_s=STARTUP_S, interval_s=0.5)
            idle_start = time.time()
            time.sleep(args.idle)  # orders with nothing killed: the market's own pace
            first_kill = time.time()
            venues = list(job.deployment.venue_names)
            from execution.journal import Journal

            live_journal = Journal(job.deployment.journal_path)  # read beside the running order manager (WAL)
            for kind, count in plan:
                hang, kind_killed = kind.endswith(HUNG), kind.removesuffix(HUNG)
                for k in range(count):
                    wait_until_trading(job, orders, 0.0)
                    venue = venues[k % len(venues)] if kind_killed in ("exchange", WITH_STANDBY) else None
                    if kind_killed in PAIRED:
                        role = PAIRED[kind_killed] or exchange_actor_name(venue)
                        wait_for(f"{role}'s active actor", lambda: active_actor(role) is not None,
                                 timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.1)
                        name = active_actor(role)
                        standby = next(n for n in standby_pair(role) if n != name)
                    else:
                        name, standby = (f"exchange:{venue}" if venue else kind_killed), None
                    kills.append({"type": kind, **kill_one(name, venue, live_journal, standby, hang=hang)})
            live_journal.close()
            wait_until_trading(job, orders, time.time())
            floor = [] if standby else ray_restart_floor(args.kills)
        finally:
            job.stop()
            finish(run)
        received = orders.all()
    legs = arbitrage_legs(job)
    for kill in kills:
        kill["to_next_order_s"] = next_order_after(kill, received, legs, kill["venue"])
    market = {"anywhere": market_waits(received, legs, idle_start, first_kill),
              "venue": [w for v in venues for w in market_waits(received, legs, idle_start, first_kill, v)]}
    return {"kills": kills, "idle_gap_s": idle_gap(received, legs, first_kill), "ray_floor_s": floor,
            "market_waits_s": market}


def follow_node_loss(cluster: Any, victim: str, moved: list[str], killed_at: float, killed_mono: float,
                     trading_again: Any) -> dict[str, float | None]:
    """Until ``trading_again()`` and the supervisor whole again: seconds from the kill until Ray declared the node
    dead, until every actor it held was alive on another node (Ray's restart: a new process, its constructor run), and
    until the supervisor reported every actor up and wired again (which can come after the first order)."""
    from tests.cluster.test_node_loss import actor_placement

    dead = back = rewired = None
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while rewired is None or not trading_again():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not trading again and rewired within {RECOVERY_TIMEOUT_S:g} s of the node loss")
        now = time.time() - killed_at
        if dead is None and victim not in cluster.alive_node_ids():
            dead = now
        if back is None:
            placed = actor_placement(moved)
            if all(n in placed and placed[n][1] == "ALIVE" and placed[n][0] != victim for n in moved):
                back = now
        if rewired is None and back is not None and _get(actor("supervisor").all_up.remote()):
            rewired = now
        time.sleep(FOLLOW_S)
    return {"declared_dead_s": dead, "back_s": back, "rewired_s": rewired,
            "steps_s": restart_steps(moved, killed_at, killed_mono)}


def restart_steps(moved: list[str], killed_at: float, killed_mono: float) -> dict[str, dict[str, float]]:
    """Where each lost actor's restart went, in seconds from the kill: the supervisor noticing its new process and
    having rewired it (its events), and the new process's start-up steps (its health's ``start_timeline``)."""
    steps: dict[str, dict[str, float]] = {name: {} for name in moved}
    for at, name, what in _get(actor("supervisor").status.remote())["events"]:
        if name in steps and at >= killed_mono and what.split(":")[0] in ("restarted", "rewired"):
            steps[name]["supervisor " + what.split(":")[0]] = round(at - killed_mono, 3)
    for name in moved:
        for step, at in _get(actor(name).health.remote()).get("start_timeline", []):
            steps[name][step] = round(at - killed_at, 3)
    return steps


def node_losses(args: argparse.Namespace, directory: Path, standby: bool = False,
                silent: bool = False) -> dict[str, Any]:
    """Worker nodes lost until ``args.node_losses`` of them stopped trading, each time the worker whose loss stops the
    most of it; with ``standby``, ``args.standby_node_losses`` with every standby on (a lost actor stops trading only
    if it was the active one); ``silent``: nodes silenced (every process stopped, its connections left open) rather
    than killed, ``args.silent_node_losses`` of them (``args.standby_silent_node_losses`` with standbys)."""
    from tests.cluster.nodes import started_cluster
    from tests.cluster.test_node_loss import actor_placement

    losses: list[dict[str, Any]] = []
    # the workers carry rayarb_worker: the hot path never lands on the head, so every loss of a worker can take it
    with started_cluster(hot_path_on_workers=True) as cluster, simulator_venues(args, directory, seed=12) as sim:
        sim.start(timeout_s=120)
        orders = Orders(sim.venues)
        # every node is on this host: channels on loopback (as tests/cluster/test_node_loss.py)
        run_name = ("silent-" if silent else "") + ("standby-nodes" if standby else "nodes")
        job = production_job(sim.venues, directory / run_name, address=cluster.address,
                             run={"channels": "127.0.0.1"}, standby=standby)
        run = BackgroundRun(job).start()
        try:
            wait_for("the run to trade", lambda: run.error is None and getattr(job, "baseline", None) is not None
                     and bool(orders.all()), timeout_s=STARTUP_S, interval_s=0.5)
            names = job.deployment.actor_names + ("supervisor",)
            from execution.journal import Journal

            live_journal = Journal(job.deployment.journal_path)  # read beside the running order manager (WAL)
            wanted = {(False, False): args.node_losses, (True, False): args.standby_node_losses,
                      (False, True): args.silent_node_losses, (True, True): args.standby_silent_node_losses}[
                standby, silent]
            # a worker holding no actor that trading needs is lost when no worker holds one (with standbys, a
            # takeover can leave every active one on the worker that is not the next to go): such a loss measures
            # nothing and its figures are apart, so losses go on until ``wanted`` stopped trading, at most three
            # times as many in all
            while sum(x["stopped"] for x in losses) < wanted and len(losses) < 3 * wanted:
                # a fresh worker joins first (the cluster keeps its size), so that the lost actors may restart on it
                # and a later loss has them to lose, rather than all ending on the head
                fresh = cluster.add_worker()
                wait_for("a fresh worker node", lambda: fresh in cluster.alive_node_ids(), timeout_s=60,
                         interval_s=0.1)
                wait_until_trading(job, orders, 0.0)
                placed = actor_placement(names)
                roles = [exchange_actor_name(v) for v in job.deployment.venue_names] + [DETECTOR, ORDER_MANAGER]
                active = {role: active_actor(role) for role in roles} if standby else {}
                trading = [n for n in placed if trading_stopped([n]) and active.get(role_of(n), n) == n]
                # the worker whose loss stops the most of trading (with standbys, the one with the most active
                # actors: a node of standbys alone measures no takeover), else the one with the most actors
                per_worker = Counter(placed[n][0] for n in trading if placed[n][0] in cluster.workers) or Counter(
                    node for node, _, _ in placed.values() if node in cluster.workers)
                victim = per_worker.most_common(1)[0][0] if per_worker else next(iter(cluster.workers))
                moved = sorted(n for n, (node, _, _) in placed.items() if node == victim)
                stopped = trading_stopped([n for n in moved if n in trading])
                needs = stopped or [None]  # stopped nothing: the next order anywhere
                pids = [pid for name in moved if (pid := pid_of(name)) is not None]
                killed_at, killed_mono = time.time(), time.monotonic()
                if silent:  # nothing it holds answers from now on, nor refuses: an order sent there is not trading
                    cluster.silence_worker(victim)
                else:
                    cluster.remove_worker(victim)
                    # remove_worker kills the node's processes as a crashed host loses them; count from the kill,
                    # orders created once they are gone (an order sent through one of them is not trading again).
                    wait_for("the lost node's processes gone", lambda: not any(alive(pid) for pid in pids),
                             timeout_s=RECOVERY_TIMEOUT_S, interval_s=0.005)
                gone_at = time.time()
                timeline = follow_node_loss(cluster, victim, moved, killed_at, killed_mono,
                                            lambda: all(leg_sent_since(live_journal, gone_at, v) for v in needs))
                if silent:
                    cluster.remove_worker(victim)  # its stopped processes ended
                losses.append({"killed_at": killed_at, "gone_at": gone_at, "moved": moved, "stopped": bool(stopped),
                               "needs": needs, "standby": standby, "silent": silent, **timeline})
            live_journal.close()
            wait_until_trading(job, orders, time.time())
        finally:
            job.stop()
            finish(run)
        received = orders.all()
    legs = arbitrage_legs(job)
    for loss in losses:
        waits = [next_order_after(loss, received, legs, venue) for venue in loss["needs"]]
        loss["to_next_order_s"] = None if None in waits else max(waits)
    return {"losses": losses}


def figures_of(result: dict[str, Any]) -> list[Figure]:
    figures = []
    if result.get("idle_gap_s") is not None:
        figures.append(Figure("gap between opportunities with nothing killed p50", round(result["idle_gap_s"], 3), "s"))
    market = {where: summarize_latencies(waits) for where, waits in result.get("market_waits_s", {}).items() if waits}
    for where, label in (("anywhere", "anywhere"), ("venue", "to a given venue")):
        if where in market:
            s = market[where]
            figures += [Figure(f"nothing killed: a moment -> next order {label} p50 ({s['count']} moments)",
                               _r(s["p50"]), "s"),
                        Figure(f"nothing killed: a moment -> next order {label} max", _r(s["max"]), "s")]
    if result.get("ray_floor_s"):
        floor = summarize_latencies(result["ray_floor_s"])
        figures += [Figure(f"baseline: an empty actor killed -> its new process answers p50 "
                           f"({len(result['ray_floor_s'])} kills)", _r(floor["p50"]), "s"),
                    Figure("baseline: an empty actor killed -> its new process answers max", _r(floor["max"]), "s")]
    for kind in (*TYPES, *PAIRED, *(kind + HUNG for kind in (*HOT_PATH, *PAIRED))):
        kills = [k for k in result.get("kills", []) if k["type"] == kind]
        if not kills:
            continue
        # what was done to it: "exchange killed" (10 kills), "exchange hung" (5 hangs)
        event, noun = (kind, "hangs") if kind.endswith(HUNG) else (f"{kind} killed", "kills")
        killed = kind.removesuffix(HUNG)  # the kind of actor
        to_order = [k["to_next_order_s"] for k in kills if k["to_next_order_s"] is not None]
        back = [k["back_s"] for k in kills if k["back_s"] is not None]
        rewired = [k["rewired_s"] for k in kills if k["rewired_s"] is not None]
        s = summarize_latencies(to_order)
        # the market's own wait as the baseline: to the killed exchange actor's venue, else to any venue
        base = market.get("venue" if killed in ("exchange", WITH_STANDBY) else "anywhere", {})
        figures += [
            Figure(f"{event} -> next order p50 ({len(kills)} {noun})", _r(s["p50"]), "s",
                   baseline=_r(base.get("p50")), target="<= 2 s"),
            Figure(f"{event} -> next order max", _r(s["max"]), "s", baseline=_r(base.get("max")),
                   target="<= 2 s"),
            Figure(f"{event} -> its new process answers p50", _r(summarize_latencies(back)["p50"]), "s"),
            Figure(f"{event} -> supervisor has rewired it p50", _r(summarize_latencies(rewired)["p50"]), "s"),
        ]
        # what of the next order's wait is the market's: from rayarb being whole again (the supervisor has rewired the
        # killed actor; with a standby, the standby has taken the venue over) to the next crossing taken
        paired = killed in PAIRED
        whole_key, whole = ("taken_over_s", "the standby took over") if paired else ("rewired_s", "rewired")
        if paired:
            taken_over = [k["taken_over_s"] for k in kills if k["taken_over_s"] is not None]
            figures.append(Figure(f"{event} -> the standby has taken over p50",
                                  _r(summarize_latencies(taken_over)["p50"]), "s"))
        waits = [max(0.0, k["to_next_order_s"] - k[whole_key]) for k in kills
                 if k["to_next_order_s"] is not None and k[whole_key] is not None]
        if waits:
            figures.append(Figure(f"{event}: {whole} -> next order p50 (the market's next crossing)",
                                  _r(summarize_latencies(waits)["p50"]), "s"))
        if len(to_order) < len(kills):
            figures.append(Figure(f"{killed} {noun} with no order within {RECOVERY_TIMEOUT_S:g} s",
                                  len(kills) - len(to_order), noun, target="0"))
    for with_standby, silent in ((False, False), (True, False), (False, True), (True, True)):
        losses = [x for x in result.get("losses", [])
                  if x.get("standby", False) == with_standby and x.get("silent", False) == silent]
        if not losses:
            continue
        lost = "silenced" if silent else "lost"
        # a loss that took no actor trading needs stops nothing: its figures are apart (the restarted actors stay
        # where Ray put them, so after a few losses the worker lost may hold none; the supervisor is on the head);
        # with a standby per venue and detector, a lost exchange actor or detector stops trading only if it was the
        # active one
        took = ("with an active exchange actor, detector or order manager on it, standbys"
                if with_standby else "with an exchange actor, the detector or the order manager on it")
        for label, group in ((took, [x for x in losses if x["stopped"]]),
                             ("with none of them on it" + (", standbys" if with_standby else ""),
                              [x for x in losses if not x["stopped"]])):
            to_order = [x["to_next_order_s"] for x in group if x["to_next_order_s"] is not None]
            if not group:
                continue
            s = summarize_latencies(to_order)
            target = "<= 3 s" if group[0]["stopped"] else None
            figures += [Figure(f"worker node {lost} {label} -> next order p50 ({len(group)} of {len(losses)} "
                               "losses)", _r(s["p50"]), "s", target=target),
                        Figure(f"worker node {lost} {label} -> next order max", _r(s["max"]), "s", target=target)]
            if group[0]["stopped"] and not with_standby:  # where a loss's time goes when every lost actor restarts
                phases = [_node_loss_phases(x) for x in group]
                for what in phases[0]:
                    times = [p[what] for p in phases if p[what] is not None]
                    if times:
                        figures.append(Figure(f"worker node {lost} -> {what} p50",
                                              _r(summarize_latencies(times)["p50"]), "s"))
    return figures


def _node_loss_phases(loss: dict[str, Any]) -> dict[str, float | None]:
    """Seconds from a node loss to the end of each phase of its recovery (None: not seen, or it lost no such actor)."""
    return {"Ray declared the node dead": loss.get("declared_dead_s"),
            "every lost actor alive on another node": loss.get("back_s"),
            "supervisor has rewired them": loss.get("rewired_s"),
            "the supervisor has asked every new exchange actor to start": _last_exchange_step(loss, "start called"),
            "every new exchange actor started (ccxt's clients, markets, fees)": _last_exchange_step(loss, "started")}


def _last_exchange_step(loss: dict[str, Any], step: str) -> float | None:
    """When the last of a loss's lost exchange actors reached ``step`` of its start-up (None: it lost none)."""
    times = [steps.get(step) for name, steps in loss.get("steps_s", {}).items() if name.startswith("exchange:")]
    return None if not times or None in times else max(times)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kills per actor type")
    parser.add_argument("--types", default=",".join(TYPES), help="actor types to kill, comma-separated")
    parser.add_argument("--standby-kills", type=int, default=10,
                        help="active exchange actors, detectors, order managers killed with standbys "
                             "(0: no such phase)")
    parser.add_argument("--hangs", type=int, default=5,
                        help="exchange actors, detectors, order managers hung (SIGSTOP) in each of those runs "
                             "(0: none)")
    parser.add_argument("--node-losses", type=int, default=10,
                        help="worker node losses that stop trading (0: no cluster phase)")
    parser.add_argument("--standby-node-losses", type=int, default=10,
                        help="worker nodes lost with a standby per venue and detector (0: no such phase)")
    parser.add_argument("--silent-node-losses", type=int, default=10,
                        help="worker nodes silenced (every process stopped, connections left open) that stop trading "
                             "(0: no such phase)")
    parser.add_argument("--standby-silent-node-losses", type=int, default=10,
                        help="worker nodes silenced with a standby per venue and detector (0: no such phase)")
    parser.add_argument("--crossing-rate", type=float, default=0.5,
                        help="share of the simulated market's updates that cross between venues (simulator default "
                             "0.08)")
    parser.add_argument("--idle", type=float, default=60.0,
                        help="seconds of trading with nothing killed before the first kill (the market's own waits)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.types = [t for t in args.types.split(",") if t] if args.kills else []
    unknown = sorted(set(args.types) - set(TYPES))
    if unknown:
        raise SystemExit(f"--types: unknown actor type(s) {', '.join(unknown)}; known: {', '.join(TYPES)}")
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-recovery-") as directory:
        if args.types or args.hangs:
            result.update(actor_kills(args, Path(directory)))
        if args.standby_kills or args.hangs:
            standby = actor_kills(args, Path(directory), standby=True)
            result["kills"] = result.get("kills", []) + standby["kills"]
            result.setdefault("idle_gap_s", standby["idle_gap_s"])
            market = result.setdefault("market_waits_s", {"anywhere": [], "venue": []})
            for where, waits in standby["market_waits_s"].items():  # both runs' idle windows, pooled
                market[where] = market[where] + waits
        if args.node_losses:
            result.update(node_losses(args, Path(directory)))
        if args.standby_node_losses:
            result["losses"] = result.get("losses", []) + node_losses(args, Path(directory), standby=True)["losses"]
        for standby, wanted in ((False, args.silent_node_losses), (True, args.standby_silent_node_losses)):
            if wanted:
                result["losses"] = result.get("losses", []) + node_losses(args, Path(directory), standby=standby,
                                                                          silent=True)["losses"]
    figures = figures_of(result)
    print(json.dumps({"figures": {f.name: f.value for f in figures},
                      "kills": [{k: v for k, v in kill.items() if k != "killed_at"}
                                for kill in result.get("kills", [])],
                      "losses": [{k: v for k, v in x.items() if k != "killed_at"} for x in result.get("losses", [])]},
                     indent=1, default=str))
    command = "python -m benchmarks.bench_recovery " + " ".join(argv if argv is not None else sys.argv[1:])
    record("recovery", "Recovery: actor killed (SIGKILL) or worker node lost -> next order sent to a venue",
           command.strip(), figures, path=args.results,
           notes="Supervisor at its default settings (heartbeat every 0.2 s, 1 s timeout, 3 misses). Next order = the "
                 "venue's receipt of the first order created after the kill (to the killed exchange actor's own venue "
                 "after an exchange kill; after a node loss, to every venue the loss stopped); it can come no sooner "
                 f"than the market offers a crossing: it crosses on {args.crossing_rate:g} of its updates (the "
                 "simulator's default is 0.08). Baseline = the market's own wait: from each moment of "
                 f"{args.idle:g} s with nothing killed to the next order (to a given venue for an exchange kill, else "
                 "to any venue).")
    return result


if __name__ == "__main__":
    main()
