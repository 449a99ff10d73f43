"""The seeded fault schedule of ``rayarb chaos``: which fault, where and when. Pure: the same seed, duration, kinds
and venues give the same faults (``build_schedule``); nothing here touches a venue or an actor."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from orchestration.config import UserError

# Each kind: what it injects. "venue" kinds are /_sim/faults bodies set on one venue for ``hold_s`` and then cleared;
# "actor" kinds act on one actor of the run (its type in the kind's name); "system" kinds act on the run itself.
VENUE_FAULTS: dict[str, dict[str, Any]] = {
    "venue_5xx": {"error_share": 0.6, "error_status": 503},
    "throttle_429": {"throttle_next": 6, "throttle_status": 429, "retry_after_s": 1},
    "throttle_418": {"throttle_next": 4, "throttle_status": 418, "retry_after_s": 1},
    "dropped_connections": {"drop_share": 0.4},
    "accept_then_drop": {"accept_then_drop_next": 3},
    "venue_down": {"down": "refuse", "down_for_s": 3},
    "venue_silent": {"down": "silent", "down_for_s": 3},
    "partial_fills": {"partial_fills_only": True},
    "rejected_legs": {"reject_next_orders": 3},
    "accept_then_reject": {"accept_then_reject_next": 3, "reject_status": 503},  # placed, answered "unknown"
    "depth_gap": {"ws_gap_next": 3},
    "ws_disconnect": {"ws_disconnect_next": 2},
    "frozen_book": {"freeze_book": True},
    "clock_skew": {"clock_skew_ms": 45_000},
    "latency_spike": {"latency_ms": 400, "jitter_ms": 200},
    "malformed_replies": {"malformed_next": 3, "malformed": "garbage_json"},
    "book_lie": {"book_lie_next": 3},
    "phantom_fill": {"phantom_fill_next": 1},
    "balance_adjust": {},  # POST /_sim/balance_adjust, not a /_sim/faults body
}
ACTOR_TYPES = ("exchange", "detector", "order_manager", "position_tracker", "supervisor")
ACTOR_FAULTS = tuple(f"{how}_{kind}" for how in ("sigkill", "raykill") for kind in ACTOR_TYPES) + (
    "crash_before_send",  # order manager SIGKILLs itself between the journal append and the send
    "kill_in_flight",  # order manager SIGKILLed between the send and the answer (slow venue answers)
    "hung_actor",  # an exchange actor SIGSTOPped: the heartbeat finds it, it is replaced
)
SYSTEM_FAULTS = (
    "kill_switch",  # the kill switch tripped (journaled), nothing sent after it, then reset
    "driver_restart",  # the run's driver process SIGKILLed, `rayarb run --resume RUN_DIR` started on the same journal
    "node_lost",  # a worker node's processes all SIGKILLed, a fresh node added (needs rayarb chaos --nodes 1 or more)
    "node_silenced",  # the same node's processes all SIGSTOPped instead: nothing answers, no connection closes
)
NODE_FAULTS = ("node_lost", "node_silenced")  # the kinds that need worker nodes besides the head
ALL_KINDS = tuple(VENUE_FAULTS) + ACTOR_FAULTS + SYSTEM_FAULTS
HOLD_S = 2.0  # how long a venue fault is left on before it is cleared
SHORT_HOLD_S = 1.0  # the same in --short (orders reach the venues several times a second)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: ``kind`` at ``at_s`` seconds into the campaign, on ``target`` (a venue, an exchange actor's venue,
    or "" where the kind names its target)."""

    index: int
    at_s: float
    kind: str
    target: str
    params: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)

    @property
    def scope(self) -> str:
        return "venue" if self.kind in VENUE_FAULTS else "system" if self.kind in SYSTEM_FAULTS else "actor"


def parse_kinds(text: str | None) -> tuple[str, ...]:
    """``--faults``: a comma-separated list of kinds, "all" / nothing for every kind, or "none" (a campaign of load
    alone, ``--load``)."""
    if text is None or text.strip() in ("", "all"):
        return ALL_KINDS
    if text.strip() == "none":
        return ()
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in ALL_KINDS]
    if unknown:
        raise UserError(f"--faults: unknown fault kind {', '.join(unknown)} (known: {', '.join(ALL_KINDS)})")
    return kinds


def build_schedule(seed: int, duration_s: float, kinds: tuple[str, ...], venues: tuple[str, ...], *,
                   warmup_s: float = 0.0, min_gap_s: float = 6.0) -> tuple[Fault, ...]:
    """Every kind at least once, then more drawn at random while the duration has room (one fault per
    ``min_gap_s``); kinds shuffled, targets and times drawn from ``seed``. Faults are in time order."""
    if not kinds:
        return ()
    if not venues:
        raise UserError("--venues: no venue given")
    rng = random.Random(seed)
    room = max(len(kinds), int((duration_s - warmup_s) // min_gap_s))
    order = list(kinds)
    rng.shuffle(order)
    order += [rng.choice(kinds) for _ in range(room - len(kinds))]
    gap = max(min_gap_s, (duration_s - warmup_s) / len(order)) if duration_s > warmup_s else min_gap_s
    faults = []
    for index, kind in enumerate(order):
        target = rng.choice(venues) if kind in VENUE_FAULTS or kind.endswith("exchange") or kind == "hung_actor" else ""
        jitter = rng.uniform(0.0, gap / 4)
        params = dict(VENUE_FAULTS.get(kind, {}))
        if kind == "balance_adjust":
            params = {"asset": "USDT", "delta": str(rng.choice((-3, -1, 2, 5)))}
        faults.append(Fault(index, round(warmup_s + index * gap + jitter, 3), kind, target, params))
    return tuple(faults)


def kinds_for_nodes(kinds: tuple[str, ...], nodes: int, *, asked: bool) -> tuple[str, ...]:
    """The kinds a campaign with ``nodes`` worker nodes can apply: without any, a kind that needs one is refused in
    one line when ``asked`` for by name, and left out of "all"."""
    if nodes >= 1:
        return kinds
    needing = [k for k in kinds if k in NODE_FAULTS]
    if needing and asked:
        raise UserError(f"--faults {', '.join(needing)}: needs worker nodes to lose; add --nodes 1 (or more)")
    return tuple(k for k in kinds if k not in NODE_FAULTS)
