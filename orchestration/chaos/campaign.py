"""``rayarb chaos``: one campaign. Starts simulator venues (mixed dialects) in a subprocess, its own Ray (a private
local one, or with ``nodes`` a local cluster of that many worker nodes besides the head) and the run as its own
process joining that Ray (``rayarb run --address``: ``orchestration.chaos.driver``), applies the seeded schedule's
faults one after the other, each followed by waiting for the next order placed at a venue (its recovery time), samples
each actor's RSS and the order manager's opportunities in flight, ends the run (SIGINT: it reconciles and writes its
report), then checks every invariant against the venues' own
records and the journal (over every life of the run's driver). The figures go to ``chaos.json`` in the run
directory."""
from __future__ import annotations

import contextlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from orchestration.chaos.driver import RunDriver, campaign_ray
from orchestration.chaos.harness import actor, wait_for
from orchestration.chaos.injectors import Applied, Injector
from orchestration.chaos.invariants import RECOVERY_TIMEOUT_S, Records, check_all, net_exposure, rss_first_and_last
from orchestration.chaos.schedule import (ALL_KINDS, HOLD_S, NODE_FAULTS, SHORT_HOLD_S, Fault, build_schedule,
                                          kinds_for_nodes)
from orchestration.config import UserError
from simulator.client import account_balances, account_orders, account_trades
from simulator.loads import unified_symbols

logger = logging.getLogger(__name__)

FIRST_ORDER_TIMEOUT_S = 240.0  # start-up of Ray, venues and actors on a loaded 2-core machine, then the first order
STOP_TIMEOUT_S = 300.0
SAMPLE_PERIOD_S = 2.0
SHORT_GAP_S = 0.5  # --short: every kind once, back to back
FULL_GAP_S = 6.0


@dataclass(frozen=True, slots=True)
class ChaosOptions:
    duration_s: float = 600.0
    seed: int = 1
    kinds: tuple[str, ...] = ALL_KINDS
    venues: tuple[str, ...] = ("alpha", "beta:okx", "gamma")
    address: str | None = None
    run_dir: Path = Path("runs")
    short: bool = False
    nodes: int = 0  # worker nodes besides the head (a local cluster); 0: a plain local Ray
    load: bool = False  # LOAD_SYMBOLS symbols quoted LOAD_UPDATE_HZ times a second per venue and symbol
    standby: bool = False  # supervisor.*_standby: faults hit the active actor, its standby takes over


# --load: the highest opportunity rate the simulator can produce for three venues: 10 symbols at an update rate beyond
# what it can serve (the books it did produce per second are in the figures: ``load.books_per_s``).
LOAD_SYMBOLS = 10
LOAD_UPDATE_HZ = 200.0


@dataclass(slots=True)
class ChaosResult:
    run_dir: Path
    figures: dict[str, Any]
    violations: dict[str, list[str]]
    schedule: tuple[Fault, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())


def _latest_receipt(urls: dict[str, str]) -> float:
    """The newest order receipt (seconds) over every venue, 0 when none."""
    newest = 0.0
    for url in urls.values():
        for o in account_orders(url):
            if o.get("receivedTimeUs"):
                newest = max(newest, o["receivedTimeUs"] / 1e6)
    return newest


class _Sampler:
    """Every SAMPLE_PERIOD_S: each actor's RSS (psutil on the pid its health names) and the order manager's
    opportunities in flight."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        import psutil
        import ray

        while not self._stop.wait(SAMPLE_PERIOD_S):
            for name in self.names:
                try:
                    health = ray.get(actor(name).health.remote(), timeout=2)
                    rss = psutil.Process(health["pid"]).memory_info().rss
                except Exception:  # the actor is being replaced: no sample
                    continue
                self.samples.append({"t": time.time(), "actor": name, "rss": rss,
                                     "in_flight": health.get("in_flight"),
                                     "books": (health.get("books") or {}).get("received")})


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_campaign(options: ChaosOptions, status: Any = print) -> ChaosResult:
    needing = [k for k in options.kinds if k in NODE_FAULTS]
    if needing and options.nodes < 1:
        raise UserError(f"--faults {', '.join(needing)}: needs worker nodes to lose; add --nodes 1 (or more)")
    schedule = build_schedule(
        options.seed, 0.0 if options.short else options.duration_s, options.kinds,
        tuple(v.partition(":")[0] for v in options.venues), min_gap_s=SHORT_GAP_S if options.short else FULL_GAP_S)
    with _venue_process(options) as venues:
        endpoints = venues.start(timeout_s=60)
        urls = {e.name: e.url for e in endpoints}
        before = {name: account_balances(url) for name, url in urls.items()}
        applied: list[Applied] = []
        recoveries: list[float | None] = []
        sampler = None
        # without standbys the hot path stays on the worker nodes, so that every node fault takes some of it (an
        # actor restarted on the head would stay there, and a later node fault lose an empty node); with standbys a
        # role's two actors go to different nodes, the head one of them
        with campaign_ray(options.address, options.nodes, hot_path_on_workers=not options.standby) as (address,
                                                                                                     cluster):
            # Ray started here is this host alone: the hot path's channels on loopback (a joined cluster: its nodes)
            run = {"channels": "127.0.0.1"} if options.address is None else {}
            symbols = {"symbols": unified_symbols(LOAD_SYMBOLS)} if options.load else {}
            driver = RunDriver(endpoints, address, Path(options.run_dir), cooldown_s=0.05, run=run,
                               supervisor={f"{role}_standby": options.standby
                                           for role in ("exchange", "detector", "order_manager")},
                               **symbols)
            from actors.common import DETECTOR, ORDER_MANAGER, POSITION_TRACKER, SUPERVISOR, exchange_actor_name, \
                standby_pair

            paired = [exchange_actor_name(n) for n in urls] + [DETECTOR, ORDER_MANAGER]
            names = [name for role in paired for name in (standby_pair(role) if options.standby else (role,))]
            names += [POSITION_TRACKER, SUPERVISOR]
            injector = Injector(urls, Path(), driver=driver, cluster=cluster, actor_names=tuple(names),
                                hold_s=SHORT_HOLD_S if options.short else HOLD_S)
            try:
                driver.start()
                driver.wait_trading(FIRST_ORDER_TIMEOUT_S)
                injector.run_dir = driver.run_dir
                wait_for("the first order at a venue", lambda: _latest_receipt(urls) > 0
                         or driver.exit_code() is not None, FIRST_ORDER_TIMEOUT_S, 0.5)
                if driver.exit_code() is not None:
                    raise UserError(f"the run ended with exit code {driver.exit_code()}: {driver.log_tail()}")
                status(f"trading; run dir {driver.run_dir}; {len(schedule)} faults scheduled (seed {options.seed})")
                sampler = _Sampler(names)
                sampler.start()
                began = time.monotonic()
                for fault in schedule:
                    delay = began + fault.at_s - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    applied.append(_inject(injector, fault))
                    recoveries.append(_recovery(urls, applied[-1]))
                    rec = recoveries[-1]
                    status(f"fault {fault.index + 1}/{len(schedule)} {fault.kind} {fault.target}".rstrip()
                           + (f": orders again after {rec:.1f} s" if rec is not None else ": NO ORDER after it"))
                remaining = (options.duration_s if not options.short else 0.0) - (time.monotonic() - began)
                if remaining > 0:
                    time.sleep(remaining)
            finally:
                if sampler is not None:
                    sampler.stop()
                injector.clear_all()
                try:
                    driver.stop(STOP_TIMEOUT_S)  # SIGINT, as a user's Ctrl-C: the report and journal final
                finally:
                    driver.close()
        return _check(options, driver.run_dir, urls, before, injector, applied, recoveries,
                      sampler.samples if sampler else [], schedule)


@contextlib.contextmanager
def _venue_process(options: ChaosOptions) -> Iterator[Any]:
    """The simulator's venues of the campaign in a subprocess: ``options.venues`` with the simulator's default market,
    or with ``load`` the same venues quoting LOAD_SYMBOLS symbols at LOAD_UPDATE_HZ (``simulator.loads``; its config
    file lives as long as the venues)."""
    from simulator.launcher import VenueProcess

    if not options.load:
        with VenueProcess(options.venues, seed=options.seed) as venues:
            yield venues
        return
    with tempfile.TemporaryDirectory(prefix="rayarb-chaos-load-") as directory:
        path = Path(directory) / "sim.yaml"
        path.write_text(yaml.safe_dump(_load_sim_config(options)), encoding="utf-8")
        with VenueProcess(None, config_path=path, seed=options.seed) as venues:
            yield venues


def _load_sim_config(options: ChaosOptions) -> dict[str, Any]:
    """The ``rayarb sim`` config of ``--load``: the campaign's venues (names and dialects) quoting LOAD_SYMBOLS
    symbols at LOAD_UPDATE_HZ."""
    from simulator.loads import sim_config

    config = sim_config(len(options.venues), LOAD_SYMBOLS, LOAD_UPDATE_HZ, seed=options.seed)
    for entry, spec in zip(config["venues"], options.venues):
        name, _, dialect = spec.partition(":")
        entry["name"] = name
        if dialect:
            entry["dialect"] = dialect
    return config


def _books_per_second(samples: list[dict]) -> float | None:
    """Books the exchange actors took from their venues per second over the sampled time (an actor restarted in it
    starts counting again: only increases between its consecutive samples count)."""
    by_actor: dict[str, list[tuple[float, int]]] = {}
    for s in samples:
        if s.get("books") is not None:
            by_actor.setdefault(s["actor"], []).append((s["t"], s["books"]))
    total, spans = 0, []
    for points in by_actor.values():
        total += sum(max(0, b - a) for (_, a), (_, b) in zip(points, points[1:]))
        if len(points) > 1:
            spans.append(points[-1][0] - points[0][0])
    return round(total / max(spans), 1) if spans and max(spans) > 0 else None


def _inject(injector: Injector, fault: Fault) -> Applied:
    try:
        return injector.apply(fault)
    except Exception as exc:  # a fault that could not be completed is reported, the campaign goes on
        logger.warning("fault %d (%s) failed: %s", fault.index, fault.kind, exc)
        injector.clear_all()
        applied = Applied(fault, time.time(), time.time(), {"error": f"{type(exc).__name__}: {exc}"})
        return applied


def _recovery(urls: dict[str, str], applied: Applied) -> float | None:
    """Seconds from the fault to the first order a venue received after the fault was over; None: none came."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            newest = _latest_receipt(urls)
            if newest > applied.ended:
                return newest - applied.began if newest - applied.began >= 0 else 0.0
        time.sleep(0.25)
    return None


def _check(options: ChaosOptions, run_dir: Path, urls: dict[str, str], before: dict, injector: Injector,
           applied: list[Applied], recoveries: list[float | None], samples: list[dict],
           schedule: tuple[Fault, ...]) -> ChaosResult:
    from execution.journal import Journal
    from orchestration.report import load_run_report

    report = load_run_report(run_dir)
    with Journal(run_dir / "journal.sqlite") as db:
        journal = {row.client_order_id: row for row in db.orders()}
    venue_orders = {name: account_orders(url) for name, url in urls.items()}
    records = Records(
        venue_orders=venue_orders, venue_trades={name: account_trades(url) for name, url in urls.items()},
        before=before, after={name: account_balances(url) for name, url in urls.items()},
        adjustments=injector.balance_adjustments, journal=journal, positions=report.report["positions"],
        order_ttl_s=2.0, applied=applied, recoveries=recoveries, samples=samples)
    violations = check_all(records)
    kinds: dict[str, int] = {}
    for a in applied:
        kinds[a.fault.kind] = kinds.get(a.fault.kind, 0) + 1
    done = [r for r in recoveries if r is not None]
    rss: dict[str, int] = {}
    in_flight = 0
    for s in samples:
        rss[s["actor"]] = max(rss.get(s["actor"], 0), s["rss"])
        in_flight = max(in_flight, s.get("in_flight") or 0)
    exposure = net_exposure(records)
    figures = {
        "seed": options.seed, "duration_s": options.duration_s, "short": options.short, "standby": options.standby,
        "venues": list(options.venues), "nodes": options.nodes,
        "faults": len(applied), "fault_kinds": len(kinds), "faults_by_kind": dict(sorted(kinds.items())),
        "faults_not_completed": {str(a.fault.index): a.detail["error"] for a in applied if "error" in a.detail},
        "attempts": report.report["opportunities_taken"],
        "opportunities_detected": report.report["opportunities_detected"],
        "outcomes": report.report.get("outcomes", {}),
        "orders": sum(len(o) for o in venue_orders.values()), "journaled_orders": len(journal),
        "fills": sum(len(t) for t in records.venue_trades.values()),
        "duplicates": len(violations["no client order id placed twice"]),
        "untracked": len(violations["every venue order in the journal"]),
        "balance_mismatches": len(violations["positions = venue balance changes"]),
        "max_residual": str(max((abs(v) for v in exposure.values()), default=Decimal(0))),
        "net_exposure": {k: str(v) for k, v in exposure.items()},
        "recovery_s": {"p50": _percentile(done, 0.5), "max": max(done) if done else None, "count": len(done)},
        "recoveries": [{"index": a.fault.index, "kind": a.fault.kind, "target": a.fault.target,
                        "applied_s": round(a.ended - a.began, 3), "recovery_s": r, "detail": a.detail}
                       for a, r in zip(applied, recoveries)],
        "max_rss_mib": {k: round(v / 2 ** 20, 1) for k, v in sorted(rss.items())},
        "rss_first_last_mib": {k: [round(a / 2 ** 20, 1), round(b / 2 ** 20, 1)]
                               for k, (a, b) in sorted(rss_first_and_last(samples).items())},
        "max_in_flight": in_flight, "samples": len(samples),
        "load": {"symbols": LOAD_SYMBOLS, "update_hz": LOAD_UPDATE_HZ, "books_per_s": _books_per_second(samples)}
        if options.load else None,
        "violations": {name: len(v) for name, v in violations.items()},
        "violation_lines": {name: v[:50] for name, v in violations.items() if v},
        "command": command_line(options),
    }
    (run_dir / "chaos.json").write_text(json.dumps(figures, indent=2, default=str) + "\n")
    # the venues' own records, for whoever reads a violation (the venues are gone after the campaign)
    (run_dir / "chaos-venues.json").write_text(json.dumps(
        {"orders": venue_orders, "trades": records.venue_trades, "before": before, "after": records.after,
         "adjustments": injector.balance_adjustments}, default=str) + "\n")
    return ChaosResult(run_dir, figures, violations, schedule)


def command_line(options: ChaosOptions) -> str:
    parts = ["rayarb chaos", f"--seed {options.seed}"]
    if options.short:
        parts.append("--short")
    else:
        parts.append(f"--duration {options.duration_s:g}")
    if options.kinds not in (ALL_KINDS, kinds_for_nodes(ALL_KINDS, options.nodes, asked=False)):
        parts.append(f"--faults {','.join(options.kinds) or 'none'}")
    if tuple(options.venues) != ("alpha", "beta:okx", "gamma"):
        parts.append(f"--venues {','.join(options.venues)}")
    if options.nodes:
        parts.append(f"--nodes {options.nodes}")
    if options.load:
        parts.append("--load")
    if options.standby:
        parts.append("--standby")
    return " ".join(parts)


def check_venues(venues: tuple[str, ...]) -> tuple[str, ...]:
    if len(venues) < 2:
        raise UserError("--venues: at least two venues are needed for arbitrage")
    return venues

