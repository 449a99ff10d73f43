"""The invariants of ``rayarb chaos``, each a function over what the campaign collected (``Records``: the venues'
own orders, trades and balances, the journal, the run report, the faults applied, the sampled actors) returning its
violations, one line each (an empty list: it holds)."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from orchestration.chaos.injectors import Applied

TERMINAL = {"filled", "expired", "canceled", "rejected", "denied"}
UNWIND_PREFIX = "unw"  # execution.risk.UNWIND_ID_PREFIX
HEDGE_PREFIX = "hedge-"
EXPOSURE_TOLERANCE = Decimal("0.01")  # per base asset across venues: a residual under the venues' minimum order
TTL_SLACK_S = 1.0  # from the journal's creation to the venue's receipt, beyond the TTL: the wire and the GIL
IN_FLIGHT_AT_TRIP_S = 1.0  # a leg journaled before the trip reaches its venue within this
MAX_IN_FLIGHT = 1000  # the order manager's opportunities in flight, at any sample
MAX_RSS_BYTES = 2 * 1024 ** 3  # any actor's process, at any sample
RSS_GROWTH = 1.5  # the last samples' median RSS over the first samples' (per actor name), plus RSS_GROWTH_FLOOR
RSS_GROWTH_FLOOR = 64 * 1024 ** 2
RECOVERY_TIMEOUT_S = 120.0


@dataclass(slots=True)
class Records:
    venue_orders: dict[str, list[dict]]
    venue_trades: dict[str, list[dict]]
    before: dict[str, dict[str, Decimal]]
    after: dict[str, dict[str, Decimal]]
    adjustments: dict[str, dict[str, Decimal]]
    journal: dict[str, Any]  # client order id -> execution.journal.JournaledOrder
    positions: dict[str, dict[str, str]]
    order_ttl_s: float
    applied: list[Applied]
    recoveries: list[float | None]
    samples: list[dict[str, Any]] = field(default_factory=list)  # {"t", "actor", "rss", "in_flight"}


def no_duplicates(r: Records) -> list[str]:
    out = []
    for venue, orders in r.venue_orders.items():
        counts = Counter(o["clientOrderId"] for o in orders)
        out += [f"{venue}: client order id {cid} placed {n} times" for cid, n in counts.items() if n > 1]
    return out


def venue_orders_journaled(r: Records) -> list[str]:
    out = []
    for venue, orders in r.venue_orders.items():
        for o in orders:
            row = r.journal.get(o["clientOrderId"])
            if row is None:
                out.append(f"{venue}: order {o['clientOrderId']} is not in the journal")
            elif row.exchange != venue:
                out.append(f"{venue}: order {o['clientOrderId']} journaled for {row.exchange}")
    return out


def fills_match_the_venues(r: Records) -> list[str]:
    """Each venue order's executed amount is what the journal says was filled of it."""
    out = []
    for venue, orders in r.venue_orders.items():
        for o in orders:
            row = r.journal.get(o["clientOrderId"])
            if row is not None and "executedQty" in o and Decimal(str(o["executedQty"])) != row.filled:
                out.append(f"{venue}: {o['clientOrderId']} executed {o['executedQty']} at the venue, journaled "
                           f"filled {row.filled} ({row.status.value})")
    return out


def journal_orders_resolved(r: Records) -> list[str]:
    known = {(venue, o["clientOrderId"]) for venue, orders in r.venue_orders.items() for o in orders}
    return [f"{row.exchange}: journaled order {cid} is {row.status.value} and unknown to its venue"
            for cid, row in r.journal.items()
            if row.status.value not in TERMINAL and (row.exchange, cid) not in known]


def positions_are_balance_changes(r: Records) -> list[str]:
    out = []
    for venue in r.before:
        for asset in set(r.before[venue]) | set(r.after[venue]):
            change = r.after[venue].get(asset, Decimal(0)) - r.before[venue].get(asset, Decimal(0))
            change -= r.adjustments.get(venue, {}).get(asset, Decimal(0))  # moved without a fill, by the campaign
            tracked = Decimal(r.positions.get(venue, {}).get(asset, "0"))
            if tracked != change:
                out.append(f"{venue} {asset}: position {tracked}, balance change {change}")
    return out


def net_exposure(r: Records) -> dict[str, Decimal]:
    """Per base asset: the sum over venues of the position (quote assets excluded)."""
    total: dict[str, Decimal] = {}
    for assets in r.positions.values():
        for asset, amount in assets.items():
            if asset not in ("USDT", "USD", "USDC"):
                total[asset] = total.get(asset, Decimal(0)) + Decimal(amount)
    return total


def exposure_within_tolerance(r: Records) -> list[str]:
    return [f"net {asset} exposure {amount} beyond {EXPOSURE_TOLERANCE}" for asset, amount in net_exposure(r).items()
            if abs(amount) > EXPOSURE_TOLERANCE]


def nothing_after_ttl(r: Records) -> list[str]:
    out = []
    for venue, orders in r.venue_orders.items():
        for o in orders:
            row = r.journal.get(o["clientOrderId"])
            if row is None or o.get("receivedTimeUs") is None:
                continue
            late = o["receivedTimeUs"] / 1e6 - row.created_ts
            if late > r.order_ttl_s + TTL_SLACK_S:
                out.append(f"{venue}: {o['clientOrderId']} received {late:.2f} s after it was made "
                           f"(TTL {r.order_ttl_s} s)")
    return out


def nothing_after_kill_switch(r: Records) -> list[str]:
    out = []
    windows = [(a.detail["tripped_at"], a.detail["reset_at"]) for a in r.applied if "tripped_at" in a.detail]
    for venue, orders in r.venue_orders.items():
        for o in orders:
            received = (o.get("receivedTimeUs") or 0) / 1e6
            for tripped, reset in windows:
                if not tripped < received <= reset:
                    continue
                row = r.journal.get(o["clientOrderId"])
                if row is None:
                    continue  # reported by venue_orders_journaled
                if row.client_order_id.startswith(UNWIND_PREFIX) or (row.opportunity_id or "").startswith(HEDGE_PREFIX):
                    continue  # reduces exposure: allowed while tripped
                if row.created_ts > tripped or received - tripped > IN_FLIGHT_AT_TRIP_S:
                    out.append(f"{venue}: leg {o['clientOrderId']} sent {received - tripped:.2f} s after the trip")
    return out


def trading_resumed(r: Records) -> list[str]:
    return [f"no order placed within {RECOVERY_TIMEOUT_S:.0f} s after fault {a.fault.index} ({a.fault.kind})"
            for a, rec in zip(r.applied, r.recoveries) if rec is None]


def rss_first_and_last(samples: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per actor with 8 samples or more: the median RSS of its first quarter of samples and of its last quarter."""
    by_actor: dict[str, list[int]] = {}
    for s in samples:
        if s.get("rss"):
            by_actor.setdefault(s["actor"], []).append(s["rss"])
    out = {}
    for name, values in by_actor.items():
        if len(values) >= 8:
            quarter = len(values) // 4
            out[name] = (sorted(values[:quarter])[quarter // 2], sorted(values[-quarter:])[quarter // 2])
    return out


def bounded_queues_and_rss(r: Records) -> list[str]:
    out = []
    for s in r.samples:
        if s.get("in_flight") is not None and s["in_flight"] > MAX_IN_FLIGHT:
            out.append(f"{s['actor']}: {s['in_flight']} opportunities in flight (bound {MAX_IN_FLIGHT})")
        if s.get("rss") and s["rss"] > MAX_RSS_BYTES:
            out.append(f"{s['actor']}: RSS {s['rss'] // 2**20} MiB (bound {MAX_RSS_BYTES // 2**20} MiB)")
    for name, (first, last) in rss_first_and_last(r.samples).items():
        if last > first * RSS_GROWTH + RSS_GROWTH_FLOOR:
            out.append(f"{name}: RSS grew from {first // 2**20} to {last // 2**20} MiB")
    return out


INVARIANTS = {
    "no client order id placed twice": no_duplicates,
    "every venue order in the journal": venue_orders_journaled,
    "every journaled order terminal or known": journal_orders_resolved,
    "journaled fills = venue executions": fills_match_the_venues,
    "positions = venue balance changes": positions_are_balance_changes,
    "net exposure within tolerance": exposure_within_tolerance,
    "nothing sent after its TTL": nothing_after_ttl,
    "nothing sent after the kill switch": nothing_after_kill_switch,
    "orders placed after each fault": trading_resumed,
    "queues and RSS bounded": bounded_queues_and_rss,
}


def check_all(r: Records) -> dict[str, list[str]]:
    return {name: check(r) for name, check in INVARIANTS.items()}
