"""How each fault kind of ``orchestration.chaos.schedule`` is applied to a running rayarb and its simulator venues.

``Injector.apply(fault)`` injects one fault and returns once it is over (a venue fault cleared after its hold, a
killed actor replaced and up again, the kill switch tripped and reset); what it did is an ``Applied`` record. Venue
faults go through the simulator's ``/_sim/faults`` (and ``/_sim/balance_adjust``); actor faults through the run's
own Ray (SIGKILL of the actor's process, ``ray.kill``, SIGSTOP, the order manager's crash point)."""
from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from actors.common import DETECTOR, ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR, exchange_actor_name
from orchestration.chaos.harness import actor, wait_for
from orchestration.chaos.schedule import HOLD_S, Fault
from simulator.client import ACCOUNT, sim_post

CALL_TIMEOUT_S = 10.0
REPLACE_TIMEOUT_S = 120.0  # a replaced actor up again, on a loaded 2-core machine
KILL_SWITCH_HOLD_S = 3.0
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
    """Applies faults to one run: ``urls`` the venues' addresses by name, ``run_dir`` the run's journal directory."""

    def __init__(self, urls: dict[str, str], run_dir: Path) -> None:
        self.urls = urls
        self.run_dir = run_dir
        self.balance_adjustments: dict[str, dict[str, Decimal]] = {}  # venue -> asset -> delta (no fill behind it)

    def apply(self, fault: Fault) -> Applied:
        applied = Applied(fault, time.time())
        if fault.scope == "venue":
            self._venue(fault, applied)
        elif fault.kind == "kill_switch":
            self._kill_switch(applied)
        else:
            self._actor(fault, applied)
        applied.ended = time.time()
        return applied

    def clear_all(self) -> None:
        for url in self.urls.values():
            with contextlib.suppress(Exception):
                sim_post(url, "/_sim/faults", {"clear": True})

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
        time.sleep(max(HOLD_S, float(fault.params.get("down_for_s", 0)) + 0.5))  # the fault's duration is the fault
        _post(url, "/_sim/faults", {"clear": True})

    # ----- actor faults -----
    def _actor(self, fault: Fault, applied: Applied) -> None:
        import ray

        kind = fault.kind
        if kind == "crash_before_send":
            name = ORDER_MANAGER
            old = _call(name, "health")["incarnation"]
            _call(name, "arm_crash_before_send")
        elif kind == "kill_in_flight":
            name = ORDER_MANAGER
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
            name = exchange_actor_name(fault.target)
            info = _call(name, "health")
            old = info["incarnation"]
            os.kill(info["pid"], signal.SIGSTOP)
            applied.detail["stopped_pid"] = info["pid"]
        else:
            how, _, type_ = kind.partition("_")
            name = exchange_actor_name(fault.target) if type_ == "exchange" else _TYPE_ACTOR[type_]
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

    # ----- the kill switch -----
    def _kill_switch(self, applied: Applied) -> None:
        """Tripped as an operator or a limit would (a journaled trip the order manager reads), held, then reset
        through ``rayarb risk reset``'s own path. The trip's time is when the order manager refuses."""
        from execution.journal import Journal
        from orchestration.risk_admin import journal_path, risk_reset

        with Journal(journal_path(self.run_dir)) as db:
            db.record_risk_event("trip", ts=time.time(), rule="one_legged", reason="tripped by rayarb chaos",
                                 detail={}, actor="rayarb chaos")
        wait_for("the kill switch tripped", lambda: _call(ORDER_MANAGER, "health")["kill_switch"] is not None,
                 REPLACE_TIMEOUT_S)
        tripped_at = time.time()
        time.sleep(KILL_SWITCH_HOLD_S)
        reset_at = time.time()
        risk_reset(self.run_dir, by="rayarb chaos")
        wait_for("trading allowed again", lambda: _call(ORDER_MANAGER, "health")["trading_allowed"],
                 REPLACE_TIMEOUT_S)
        applied.detail.update(tripped_at=tripped_at, reset_at=reset_at)
