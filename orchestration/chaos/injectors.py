"""How each fault kind of ``orchestration.chaos.schedule`` is applied to a running rayarb and its simulator venues.

``Injector.apply(fault)`` injects one fault and returns once it is over (a venue fault cleared after its hold, a
killed actor replaced and up again, the kill switch tripped and reset, a killed driver's successor trading, a lost
node's actors up elsewhere); what it did is an ``Applied`` record. Venue faults go through the simulator's
``/_sim/faults`` (and ``/_sim/balance_adjust``); actor faults through the run's own Ray (SIGKILL of the actor's
process, ``ray.kill``, SIGSTOP, the order manager's crash point); ``driver_restart`` through the run's driver process
(``orchestration.chaos.driver``), ``node_lost`` and ``node_silenced`` through the local cluster
(``orchestration.local_cluster``)."""
from __future__ import annotations

import contextlib
import os
from collections import Counter
import signal
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.common import DETECTOR, ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR, exchange_actor_name, standby_pair
from orchestration.chaos.harness import active_actor, actor, wait_for
from orchestration.chaos.schedule import HOLD_S, Fault
from simulator.client import ACCOUNT, account_orders, sim_post

CALL_TIMEOUT_S = 10.0
REPLACE_TIMEOUT_S = 120.0  # a replaced actor up again, on a loaded 2-core machine
KILL_SWITCH_HOLD_S = 3.0
DRIVER_UP_TIMEOUT_S = 180.0  # a resumed `rayarb run` joined Ray and trading, on a loaded 2-core machine
NODE_TIMEOUT_S = 60.0  # a lost node noticed (fast detection: ~1.2 s), a fresh one registered
_TYPE_ACTOR = {"detector": DETECTOR, "order_manager": ORDER_MANAGER, "position_tracker": POSITION_TRACKER,
               "supervisor": SUPERVISOR}


@dataclass(slots=True)
class Applied:
    """What one fault did: when it began and ended (wall clock), and facts the invariants need."""

    fault: Fault
    began: float
    ended: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def _call(name: str, method: str, *args: Any, timeout_s: float = CALL_TIMEOUT_S) -> Any:
    import ray

    return ray.get(getattr(actor(name), method).remote(*args), timeout=timeout_s)


def _post(url: str, path: str, body: dict, timeout_s: float = 30.0) -> Any:
    """A /_sim/ control call, retried while the venue refuses connections (a venue_down fault ending, a restart)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return sim_post(url, path, body)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _replaced(name: str, old_incarnation: str) -> Any:
    def check() -> bool:
        if _call(name, "health", timeout_s=5)["incarnation"] == old_incarnation:
            return False
        if name == SUPERVISOR:
            return bool(_call(SUPERVISOR, "all_up", timeout_s=5))
        return bool(_call(SUPERVISOR, "status", timeout_s=5)["actors"][name]["up"])
    return check


class Injector:
    """Applies faults to one run: ``urls`` the venues' addresses by name, ``run_dir`` the run's journal directory;
    ``driver`` the run's driver process (``RunDriver``: driver_restart), ``cluster`` the local cluster
    (``NodeCluster``: node_lost, node_silenced), ``actor_names`` the run's actors (the supervisor among them);
    ``hold_s`` how long a venue fault is left on."""

    def __init__(self, urls: dict[str, str], run_dir: Path, *, driver: Any = None, cluster: Any = None,
                 actor_names: tuple[str, ...] = (), hold_s: float = HOLD_S) -> None:
        self.urls = urls
        self.hold_s = hold_s
        self.run_dir = run_dir
        self.driver = driver
        self.cluster = cluster
        self.actor_names = actor_names
        self.balance_adjustments: dict[str, dict[str, Decimal]] = {}  # venue -> asset -> delta (no fill behind it)
        self._silenced: list[str] = []  # node_silenced's nodes, stopped until the next node fault or the end

    def apply(self, fault: Fault) -> Applied:
        applied = Applied(fault, time.time())
        if fault.scope == "venue":
            self._venue(fault, applied)
        elif fault.kind == "kill_switch":
            self._kill_switch(applied)
        elif fault.kind == "driver_restart":
            self._driver_restart(applied)
        elif fault.kind in ("node_lost", "node_silenced"):
            self._node_lost(applied, silent=fault.kind == "node_silenced")
        else:
            self._actor(fault, applied)
        applied.ended = time.time()
        return applied

    def clear_all(self) -> None:
        for url in self.urls.values():
            with contextlib.suppress(Exception):
                sim_post(url, "/_sim/faults", {"clear": True})
        self._end_silenced()

    def _end_silenced(self) -> None:
        while self._silenced:
            with contextlib.suppress(Exception):
                self.cluster.remove_worker(self._silenced.pop())

    # ----- venue faults -----
    def _venue(self, fault: Fault, applied: Applied) -> None:
        url = self.urls[fault.target]
        if fault.kind == "balance_adjust":
            delta = Decimal(fault.params["delta"])
            _post(url, "/_sim/balance_adjust", {"account": ACCOUNT, "asset": fault.params["asset"],
                                                   "delta": str(delta)})
            venue = self.balance_adjustments.setdefault(fault.target, {})
            venue[fault.params["asset"]] = venue.get(fault.params["asset"], Decimal(0)) + delta
            return
        _post(url, "/_sim/faults", fault.params)
        time.sleep(max(self.hold_s, float(fault.params.get("down_for_s", 0)) + 0.5))  # the fault's duration is the fault
        _post(url, "/_sim/faults", {"clear": True})

    # ----- actor faults -----
    def _actor(self, fault: Fault, applied: Applied) -> None:
        import ray

        kind = fault.kind
        if kind == "crash_before_send":
            name = self._active(ORDER_MANAGER)
            old = _call(name, "health")["incarnation"]
            _call(name, "arm_crash_before_send")
        elif kind == "kill_in_flight":
            name = self._active(ORDER_MANAGER)
            for url in self.urls.values():
                _post(url, "/_sim/faults", {"latency_ms": 300})
            try:
                wait_for("an opportunity in flight", lambda: _call(name, "health", timeout_s=2)["in_flight"] > 0,
                         REPLACE_TIMEOUT_S, 0.005)
                info = _call(name, "health")
                old = info["incarnation"]
                os.kill(info["pid"], signal.SIGKILL)
            finally:
                for url in self.urls.values():
                    _post(url, "/_sim/faults", {"clear": True})
        elif kind == "hung_actor":
            name = self._active(exchange_actor_name(fault.target))
            info = _call(name, "health")
            old = info["incarnation"]
            os.kill(info["pid"], signal.SIGSTOP)
            applied.detail["stopped_pid"] = info["pid"]
        else:
            how, _, type_ = kind.partition("_")
            name = self._active(exchange_actor_name(fault.target) if type_ == "exchange" else _TYPE_ACTOR[type_])
            info = _call(name, "health")
            old = info["incarnation"]
            if how == "sigkill":
                os.kill(info["pid"], signal.SIGKILL)
            else:
                ray.kill(actor(name))
        applied.detail["actor"] = name
        wait_for(f"{name} replaced after {kind}", _replaced(name, old), REPLACE_TIMEOUT_S, 0.1)
        stopped = applied.detail.get("stopped_pid")
        if stopped is not None:  # the hung process, replaced: ended so it holds nothing
            with contextlib.suppress(ProcessLookupError):
                os.kill(stopped, signal.SIGKILL)

    def _active(self, role: str) -> str:
        """The actor of ``role`` (a venue's exchange actor, the detector, ...), or with a standby the active one of its
        two (the one whose loss matters)."""
        first, second = standby_pair(role)
        return (active_actor(role) if second in self.actor_names else None) or first

    # ----- the kill switch -----
    def _kill_switch(self, applied: Applied) -> None:
        """Tripped as an operator or a limit would (a journaled trip the order manager reads), held, then reset
        through ``rayarb risk reset``'s own path. The trip's time is when the order manager refuses."""
        from execution.journal import Journal
        from orchestration.risk_admin import journal_path, risk_reset

        with Journal(journal_path(self.run_dir)) as db:
            db.record_risk_event("trip", ts=time.time(), rule="one_legged", reason="tripped by rayarb chaos",
                                 detail={}, actor="rayarb chaos")
        manager = self._active(ORDER_MANAGER)
        wait_for("the kill switch tripped", lambda: _call(manager, "health")["kill_switch"] is not None,
                 REPLACE_TIMEOUT_S)
        tripped_at = time.time()
        time.sleep(KILL_SWITCH_HOLD_S)
        reset_at = time.time()
        risk_reset(self.run_dir, by="rayarb chaos")
        wait_for("trading allowed again", lambda: _call(manager, "health")["trading_allowed"],
                 REPLACE_TIMEOUT_S)
        applied.detail.update(tripped_at=tripped_at, reset_at=reset_at)

    # ----- the run's driver -----
    def _incarnations(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for name in self.actor_names:
            try:
                out[name] = _call(name, "health", timeout_s=5)["incarnation"]
            except Exception:  # restarting: no incarnation to compare
                out[name] = None
        return out

    def _driver_restart(self, applied: Applied) -> None:
        """The driver SIGKILLed (its Ray job ends with it; actors it owns die with it, detached ones live on), then
        ``rayarb run --resume RUN_DIR`` on the same journal, until it trades. The detail says which actors lived
        through it (same incarnation) and which rayarb actors the GCS holds alive afterwards."""
        if self.driver is None:
            raise RuntimeError("driver_restart needs the run as its own process")
        before = self._incarnations()
        applied.detail["killed_pid"] = self.driver.kill()
        killed_at = time.time()
        self.driver.resume()
        self.driver.wait_trading(DRIVER_UP_TIMEOUT_S)
        trading_at = time.time()
        after = self._incarnations()
        received = [o.get("receivedTimeUs", 0) / 1e6 for url in self.urls.values() for o in account_orders(url)]
        applied.detail.update(
            new_pid=self.driver.pid, without_driver_s=round(trading_at - killed_at, 3),
            orders_without_driver=sum(1 for t in received if killed_at < t <= trading_at),
            lived_through=sorted(n for n in self.actor_names if before[n] is not None and before[n] == after[n]),
            alive_actors=_alive_rayarb_actors())

    # ----- a node of the cluster -----
    def _node_lost(self, applied: Applied, silent: bool = False) -> None:
        """A fresh worker node joins (so the cluster keeps its size and the lost node's actors may restart on it, for a
        later node_lost to lose), then the worker node hosting the most rayarb actors loses every process at once
        (SIGKILL); its actors come back on other nodes and are rewired. The fault begins at the kill. ``silent``
        (node_silenced): its processes are stopped (SIGSTOP) instead, as a host gone without closing its connections;
        they stay stopped past the recovery (until the next node fault or the campaign's end), so that trading must
        come back with them holding their connections open."""
        from orchestration.local_cluster import actor_placement

        cluster = self.cluster
        if cluster is None or not cluster.workers:
            raise RuntimeError(f"{applied.fault.kind} needs a worker node (rayarb chaos --nodes 1 or more)")
        self._end_silenced()
        placed = actor_placement(self.actor_names)
        per_worker = Counter(node for node, _, _ in placed.values() if node in cluster.workers)
        victim = per_worker.most_common(1)[0][0] if per_worker else next(iter(cluster.workers))
        moved = sorted(name for name, (node, _, _) in placed.items() if node == victim)
        before = {name: _call(name, "health")["incarnation"] for name in moved}
        fresh = cluster.add_worker()
        wait_for("a fresh worker node", lambda: fresh in cluster.alive_node_ids(), NODE_TIMEOUT_S, 0.1)
        applied.began = time.time()  # recovery is from the kill, not from the fresh node's start
        lost = time.monotonic()
        if silent:
            cluster.silence_worker(victim)
            self._silenced.append(victim)
        else:
            cluster.remove_worker(victim)
        applied.detail.update(node=victim, moved=moved, fresh_node=fresh)
        wait_for("the lost node noticed", lambda: victim not in cluster.alive_node_ids(), NODE_TIMEOUT_S, 0.1)
        applied.detail["noticed_s"] = round(time.monotonic() - lost, 3)
        for name in moved:
            wait_for(f"{name} replaced after {applied.fault.kind}", _replaced(name, before[name]), REPLACE_TIMEOUT_S,
                     0.1)
        applied.detail["replaced_s"] = round(time.monotonic() - lost, 3)
        now = actor_placement(moved)
        applied.detail["moved_to"] = {name: "fresh" if now.get(name, ("?",))[0] == fresh else now.get(name, ("?",))[0]
                                      for name in moved}


def _alive_rayarb_actors() -> dict[str, int]:
    """Actor name (class for unnamed ones) -> how many the GCS holds not DEAD, in the rayarb namespace."""
    import ray

    from actors.peers import NAMESPACE

    counts: Counter = Counter()
    for a in ray._private.state.actors().values():
        if a.get("State") != "DEAD" and a.get("RayNamespace", NAMESPACE) == NAMESPACE:
            counts[a.get("Name") or a.get("ClassName") or "?"] += 1
    return dict(sorted(counts.items()))
