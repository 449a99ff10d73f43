"""``rayarb run``: the main job.

Starts (or joins) Ray, starts local simulator venues when there is no config, creates the supervisor (which creates
and wires every other actor), takes the run's balance baseline, lets the detector trade, shows a live status, and on
exit (duration reached or Ctrl-C) stops detection, waits for what is in flight, reconciles, writes the run report and
tears everything down. The supervisor itself is watched from here and recreated if it dies.

Why one module of ~520 lines: a run's life is one sequence over one state (start or adopt a running run, the
baseline, trading, the stop, the reconciliation, the report); what stands alone is beside it (``config``,
``report``, ``credentials``, ``metrics.exporter``).
"""
from __future__ import annotations

import logging
import signal
import socket
import ssl
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from execution.log import register_secret
from orchestration.config import Config, Credentials, Mode, RunConfig, RunOptions, UserError
from orchestration.credentials import CredentialCourier, forget_key_variables
from orchestration.ray_runtime import shutdown_ray, start_or_join_ray
from orchestration.report import (MAX_RAW_SAMPLES, LiveStatus, StatusDisplay, slowest_ticks, summarize_latencies,
                                  write_run_report)

logger = logging.getLogger(__name__)

LOCAL_VENUES = ("alpha", "beta:okx", "gamma")  # the no-config run's venues: "name" (Binance's dialect) or "name:dialect"
EMBEDDED_VENUES_REALTIME_PRIORITY = 20  # above the latency profile's hot path (10)
STARTUP_TIMEOUT_S = 120.0
RAY_CALL_TIMEOUT_S = 30.0
STATUS_PERIOD_S = 1.0
STATUS_LATENCY_SAMPLES = 1000  # the live status shows tick-to-order over the newest samples
FINAL_SCRAPE_WAIT_S = 2.0  # two scrape intervals of metrics/prometheus.yml


def _ray_get(ref: Any, timeout_s: float = RAY_CALL_TIMEOUT_S) -> Any:
    import ray

    return ray.get(ref, timeout=timeout_s)


class MainJob:
    """One run. ``run()`` returns the process exit code; ``stop()`` (or SIGINT/SIGTERM) ends it cleanly."""

    def __init__(self, options: RunOptions, *, sim_seed: int | None = None, status_stream: Any = None,
                 ray_init_kwargs: dict[str, Any] | None = None, resume_dir: str | Path | None = None) -> None:
        self.options = options
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        # --resume: the same directory and journal (kill switch, outcomes, PnL go on from it), else a new one
        self.run_dir = Path(resume_dir) if resume_dir is not None else Path(options.run_dir) / self.run_id
        self.sim_seed = sim_seed
        self.status_stream = status_stream if status_stream is not None else sys.stderr
        self.ray_init_kwargs = ray_init_kwargs or {}
        self._stop = threading.Event()
        self.venue_process: Any = None
        self.courier: CredentialCourier | None = None
        self._display = StatusDisplay(self.status_stream)  # redrawn in place on a terminal, else one line each
        self.metrics_export: Any = None
        self.metrics_dir: str | None = None  # the run's metric files (metrics.exporter.run_base_dir)
        self.supervisor: Any = None
        self.supervisor_incarnation: str | None = None  # the supervisor process that was started
        self.adopted_baseline: dict | None = None  # the balance baseline of a running run this driver resumes
        self.deployment: Any = None
        self.config: Config | None = None
        self.started_at = time.time()
        self.report_paths: Any = None

    def stop(self) -> None:
        self._stop.set()

    # ----- set-up -----
    def _venues(self) -> Config:
        if self.options.config is not None:
            for venue in self.options.config.venues:
                if venue.declared_remote_simulator:
                    print(f"venue {venue.name} at {venue.url} is treated as a rayarb simulator on another host "
                          f"(venues.{venue.name}.simulator: true): its orders are sent there without --live",
                          file=self.status_stream)
            return self.options.config
        from simulator.launcher import VenueProcess

        # The no-config run has the standard profile. Where the hot path runs real-time, the venues run real-time
        # above it: they stand for exchanges on other machines, which never wait for our CPU.
        priority = EMBEDDED_VENUES_REALTIME_PRIORITY if RunConfig().realtime_priority else 0
        self.venue_process = VenueProcess(LOCAL_VENUES, base_port=0, seed=self.sim_seed, realtime_priority=priority)
        endpoints = self.venue_process.start(timeout_s=60)
        print("started local venues: " + ", ".join(f"{e.name} ({e.dialect}) {e.url}" for e in endpoints),
              file=self.status_stream)
        return Config.default_local({e.name: e.url for e in endpoints},
                                    {e.name: (e.api_key, e.secret, e.passphrase or None) for e in endpoints},
                                    {e.name: e.dialect for e in endpoints})

    def _prepare_run_dir(self) -> None:
        """The run directory exists and takes files, before anything is started or sent."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            probe = self.run_dir / ".writable"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise UserError(f"cannot write the run directory {self.run_dir}: {e.strerror or e} "
                            f"(--run-dir / run.run_dir)") from None

    def _check_metrics_port(self) -> None:
        """A metrics port that is taken ends the run before it starts, in one line."""
        port, host = self.options.metrics_port, self.options.metrics_host
        if not port:
            return
        try:
            with socket.create_server((host, port)):
                pass
        except OSError as e:
            raise UserError(f"metrics port {host}:{port} is not available: {e.strerror or e} "
                            f"(--metrics-port / metrics.port; 0 picks a free port)") from None

    def _credentials(self, config: Config) -> dict[str, Credentials]:
        """The keys of every venue that signs (none in paper mode); they go to the courier and nowhere else."""
        if self.options.mode is Mode.PAPER:
            return {}
        credentials = {}
        for venue in config.venues:
            keys = self.options.credentials.get(venue.name) or venue.inline_credentials
            if keys is None:
                raise UserError(f"venues.{venue.name}: {self.options.mode.value} mode needs keys")
            register_secret(keys.api_key, keys.secret, keys.passphrase)
            credentials[venue.name] = keys
        return credentials

    def _start_courier(self, credentials: dict[str, Credentials]) -> None:
        from actors.peers import NAMESPACE

        if credentials:  # to each of a venue's exchange actors (its standby too)
            self.courier = CredentialCourier(credentials, self.deployment.exchange_actors, NAMESPACE)
            self.courier.start()

    def _deployment(self, config: Config) -> Any:
        from actors.common import HEAD_RESOURCE, WORKER_RESOURCE, Deployment

        paper = self.options.mode is Mode.PAPER
        specs = venue_specs(config, self.options.mode)
        return Deployment(run_id=self.run_id, venues=specs, symbols=tuple(config.symbols),
                          **actor_sections(config),
                          journal_path=str((self.run_dir / "journal.sqlite").resolve()),
                          paper_balances=config.run.paper_balances if paper else (),
                          pin_stateful_to_head=_cluster_has(HEAD_RESOURCE),
                          hot_path_on_workers=_cluster_has(WORKER_RESOURCE),
                          channels=self._channel_settings(config),
                          realtime_priority=config.run.realtime_priority,
                          cpu_wake_latency_us=config.run.cpu_wake_latency_us,
                          detector_shards=config.detector.shards, metrics_dir=self.metrics_dir)

    def _adopt_running_run(self, deployment: Any) -> Any:
        """The run to drive: ``deployment``, or, when this run's supervisor still runs (its driver was killed; this
        is the ``--resume``), the run it keeps: its run id, settings and channel key, and its balance baseline. The
        run goes on: every actor created from now on is of that run (its journal position, the key its peers hold),
        and positions and PnL count from the run's start, not from this driver's."""
        import ray

        from actors.common import SUPERVISOR
        from actors.peers import NAMESPACE

        try:
            running = ray.get_actor(SUPERVISOR, namespace=NAMESPACE)
            adopted, baseline = _ray_get(running.running_run.remote(), 10)
        except Exception:  # none runs (the usual start), or it is dying: a run of its own
            return deployment
        if adopted.journal_path != deployment.journal_path:
            return deployment
        print(f"resuming run {adopted.run_id}: its actors still run; they go on with its settings",
              file=self.status_stream)
        self.run_id, self.adopted_baseline = adopted.run_id, baseline
        return adopted

    def _channel_settings(self, config: Config) -> Any:
        """Direct hot-path channels for this run (a fresh key per run, and TLS material for channels beyond loopback),
        unless the config turns them off."""
        from actors.transport import new_channel_settings

        host = config.run.channels
        if host == "off":
            return None
        if host == "auto":  # a Ray rayarb started is this host alone; a cluster spans machines
            host = "127.0.0.1" if self.options.address is None else "node"
        try:
            return new_channel_settings(host, certificate_file=config.run.channel_tls_certificate,
                                        key_file=config.run.channel_tls_key)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise UserError(f"run.channel_tls_certificate: the certificate and key do not load: "
                            f"{getattr(e, 'strerror', None) or e}") from None

    def _start_ray_and_metrics(self) -> None:
        from metrics.exporter import ClusterMetricsExport, MetricsDirError, default_file_sd_path, run_base_dir

        try:
            self.metrics_dir = run_base_dir(self.run_dir)  # handed to every actor in the Deployment
        except MetricsDirError as e:
            raise UserError(f"metrics: {e}") from None
        # No runtime_env: with one, Ray starts each worker through a second interpreter (~0.5 s of CPU per actor
        # start and restart, benchmarks/bench_recovery.py); the actors are told what they need in their arguments.
        start_or_join_ray(self.options.address, **self.ray_init_kwargs)
        self.metrics_export = ClusterMetricsExport(self.metrics_dir, default_file_sd_path(self.run_id),
                                                   host=self.options.metrics_host,
                                                   local_port=self.options.metrics_port)
        try:
            self.metrics_export.start()
        except OSError as e:
            raise UserError(f"metrics: cannot serve on {self.options.metrics_host}:{self.options.metrics_port}: "
                            f"{e.strerror or e} (--metrics-port / metrics.port)") from None
        print(f"metrics: {', '.join(t.address for t in self.metrics_export.targets.values())} "
              f"(file_sd {self.metrics_export.file_sd_path})", file=self.status_stream)

    def _ensure_supervisor(self) -> Any:
        import ray

        from actors.placement import supervisor_options
        from actors.supervisor import SupervisorActor

        self.supervisor = ray.remote(SupervisorActor).options(**supervisor_options(self.deployment)).remote(
            self.deployment)
        _ray_get(self.supervisor.start.remote(), 60)
        self.supervisor_incarnation = _ray_get(self.supervisor.health.remote())["incarnation"]
        return self.supervisor

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if _ray_get(self.supervisor.all_up.remote()):
                return
            refused = [a["refused"] for a in _ray_get(self.supervisor.status.remote())["actors"].values()
                       if a.get("refused")]
            if refused:  # something only the operator can fix: a key the venue refuses, a symbol it does not list
                raise UserError("; ".join(sorted(set(refused))))
            if self._stop.wait(0.2):
                return
        status = _ray_get(self.supervisor.status.remote())
        waiting = "; ".join(f"{name}: {a['last_error'] or 'no answer'}" for name, a in status["actors"].items()
                            if not a["up"])
        raise UserError(f"actors did not come up within {STARTUP_TIMEOUT_S:.0f} s ({waiting})")

    def _actor(self, name: str) -> Any:
        import ray

        from actors.peers import NAMESPACE

        return ray.get_actor(name, namespace=NAMESPACE)

    def _active(self, role: str, timeout_s: float = RAY_CALL_TIMEOUT_S) -> Any:
        """The actor playing ``role`` now: with a standby (supervisor.*_standby), the one the supervisor says is
        active."""
        if len(self.deployment.members(role)) > 1:
            role = _ray_get(self.supervisor.active_actor.remote(role), timeout_s)
        return self._actor(role)

    # ----- the run -----
    def run(self) -> int:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        if threading.current_thread() is threading.main_thread():
            for sig in previous:
                signal.signal(sig, lambda *_: self.stop())
        try:
            self._prepare_run_dir()
            self._check_metrics_port()
            forget_key_variables(self.options.config)  # nothing this process starts from here on inherits the keys
            self.config = self._venues()
            print(self.config.run.describe_profile(), file=self.status_stream)
            credentials = self._credentials(self.config)
            self._start_ray_and_metrics()
            self.deployment = self._adopt_running_run(self._deployment(self.config))
            self._start_courier(credentials)
            self._ensure_supervisor()
            self._wait_until_up()
            from actors.common import POSITION_TRACKER

            baseline = self.adopted_baseline or _ray_get(self._actor(POSITION_TRACKER).venue_balances.remote())
            self.baseline = baseline
            _ray_get(self.supervisor.begin_trading.remote(baseline))
            self.started_at = time.time()
            print(f"trading {', '.join(self.config.symbols)} on {', '.join(self.config.venue_names)} "
                  f"({self.options.mode.value}); run dir {self.run_dir}", file=self.status_stream)
            try:
                self._loop()
            finally:
                self._end_status()
            self._finish()
            print(self._final_summary(), file=self.status_stream)
            return 0
        finally:
            self._teardown()
            if threading.current_thread() is threading.main_thread():
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    def _loop(self) -> None:
        deadline = None if self.options.duration_s is None else time.monotonic() + self.options.duration_s
        while not self._stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._stop.wait(STATUS_PERIOD_S)
            try:
                self._watch_supervisor()
                self._print_status()
            except Exception as exc:  # a status hiccup must not end the run
                logger.warning("status unavailable: %s", type(exc).__name__)

    def _watch_supervisor(self) -> None:
        from ray.exceptions import RayActorError

        try:
            health = _ray_get(self.supervisor.health.remote(), 5)
        except RayActorError:
            logger.warning("supervisor died: recreating it (it re-adopts the running actors)")
        else:
            if health["incarnation"] == self.supervisor_incarnation:
                return
            # Ray restarted it by itself (its node was lost, its process killed): the new process watches nothing
            # until it is started; a call made while it restarted may just have waited and succeeded.
            logger.warning("supervisor restarted by Ray: starting it again (it re-adopts the running actors)")
        self._ensure_supervisor()
        _ray_get(self.supervisor.begin_trading.remote(self.baseline))

    def _detector_healths(self, timeout_s: float = RAY_CALL_TIMEOUT_S) -> dict[str, dict[str, Any]]:
        """Every detector actor's health answer, by actor name; a shard's actor that does not answer is left out when
        its other one (supervisor.detector_standby) answers."""
        healths: dict[str, dict[str, Any]] = {}
        for shard in self.deployment.detector_names:
            answers, error = {}, None
            for name in self.deployment.members(shard):
                try:
                    answers[name] = _ray_get(self._actor(name).health.remote(), timeout_s)
                except Exception as exc:
                    error = exc
            if not answers and error is not None:
                raise error
            healths.update(answers)
        return healths

    def status(self) -> LiveStatus:
        from actors.common import ORDER_MANAGER, exchange_actor_name

        summary = _ray_get(self._active(ORDER_MANAGER, 10).summary.remote(STATUS_LATENCY_SAMPLES), 10)
        detected = sum(h.get("detected", 0) for h in self._detector_healths(10).values())
        ages = {}
        for venue in self.config.venue_names:
            try:
                health = _ray_get(self._active(exchange_actor_name(venue), 5).health.remote(), 5)
                book_ages = [a for a in health["book_age_s"].values()]
                ages[venue] = min(book_ages) * 1000 if book_ages else None
            except Exception:
                ages[venue] = None
        latency = summarize_latencies(summary["tick_to_order_s"])
        pnl = sum((Decimal(v) for v in summary["realised_profit"].values()), Decimal(0))
        return LiveStatus(
            uptime_s=time.time() - self.started_at, mode=self.options.mode.value, book_age_ms=ages,
            opportunities_detected=detected, opportunities_taken=summary["opportunities_taken"],
            orders=summary["orders"], fills=summary["fills"], one_legged=summary["one_legged"], pnl_total=pnl,
            tick_to_order_p50_ms=None if latency["p50"] is None else latency["p50"] * 1000,
            tick_to_order_p99_ms=None if latency["p99"] is None else latency["p99"] * 1000,
            max_book_age_ms=self.config.strategy.max_book_age_ms, kill_switch=summary["kill_switch"])

    def _print_status(self) -> None:
        self._display.show(self.status())

    def _end_status(self) -> None:
        self._display.close()

    # ----- the end -----
    def _finish(self) -> None:
        from actors.common import ORDER_MANAGER, POSITION_TRACKER, exchange_actor_name

        _ray_get(self.supervisor.stop_trading.remote())
        manager = self._active(ORDER_MANAGER)
        _ray_get(manager.drain.remote(30.0), 60)
        tracker = self._actor(POSITION_TRACKER)
        _ray_get(manager.replay_fills.remote(), 60)
        balances = _ray_get(tracker.reconcile_balances.remote(), 60)
        summary = _ray_get(manager.summary.remote())
        exported = _ray_get(manager.export.remote(), 60)
        changes = _ray_get(tracker.balance_changes.remote())
        marks = self._marks()
        _ray_get(tracker.set_marks.remote(marks))  # the PnL gauges end marked at the same prices as the report
        detectors = self._detector_healths()
        skipped = sum((Counter(h.get("skipped", {})) for h in detectors.values()), Counter())
        senders = [*detectors.values(), _ray_get(manager.health.remote())] + [
            _ray_get(self._active(exchange_actor_name(venue)).health.remote()) for venue in self.config.venue_names]
        pnl_currency = self.config.symbols[0].split("/")[1]
        report_summary = {
            "mode": self.options.mode.value,
            "run_id": self.run_id,
            "duration_s": round(time.time() - self.started_at, 3),
            "started_at_ms": int(self.started_at * 1000),
            "venues": {v.name: {"exchange": v.exchange, "url": v.url} for v in self.config.venues},
            "symbols": list(self.config.symbols),
            "opportunities_detected": sum(h.get("detected", 0) for h in detectors.values()),
            "opportunities_taken": summary["opportunities_taken"],
            # skipped by the detector or refused by the order manager's risk checks, by reason (both may count one)
            "opportunities_skipped": dict(skipped + Counter(summary["denied"])),
            # per detector shard (detector.shards): its symbols, the books it took in, what it detected and skipped
            "detector_shards": {name: {"symbols": h.get("symbols", []), "updates": h.get("updates", 0),
                                       "detected": h.get("detected", 0), "skipped": h.get("skipped", {})}
                                for name, h in detectors.items()},
            "outcomes": summary["outcomes"],
            "one_legged": summary["one_legged"],
            "pnl": mark_to_market(changes, marks, pnl_currency),
            "pnl_currency": pnl_currency,
            "realised_profit": summary["realised_profit"],
            "positions": changes,
            "marks": {s: str(p) for s, p in marks.items()},
            "balance_check": balances,
            "kill_switch": summary["kill_switch"],
            "risk": summary.get("risk"),  # the risk engine's status, from the journal (execution/risk.py)
            "tick_to_order_s": summary["tick_to_order_s"],
            "tick_to_order_first_legs": [
                {"exchange": venue, "client_order_id": client_order_id, "book_received_at": book_received_at}
                for venue, client_order_id, book_received_at in summary["tick_to_order_first_legs"][-MAX_RAW_SAMPLES:]],
            "tick_to_order_stages": {stage: summarize_latencies(samples)
                                     for stage, samples in summary["tick_to_order_stages_s"].items()},
            # where the tail went: the slowest opportunities, stage by stage
            "tick_to_order_slowest": slowest_ticks(summary["tick_to_order_s"], summary["tick_to_order_stages_s"],
                                                   summary["tick_to_order_first_legs"]),
            "order_round_trip": summarize_latencies(summary["order_round_trip_s"]),
            "order_round_trip_s": summary["order_round_trip_s"][-MAX_RAW_SAMPLES:],  # plotted (metrics.plots)
            "journal": self.deployment.journal_path,
            "hot_path": {  # how books, opportunities, legs and fills travelled between the actors
                "transport": "channels" if self.deployment.channels is not None else "ray",
                "direct_calls": sum(h.get("channel_calls", {}).get("direct", 0) for h in senders),
                "calls_through_ray": sum(h.get("channel_calls", {}).get("through_ray", 0) for h in senders),
                # per hot-path actor: the policy its event-loop thread ran under ("realtime 10", "normal (...)")
                "scheduling": {name: h.get("scheduling") for name, h in
                               zip((*detectors, "order_manager", *(f"exchange:{v}" for v in self.config.venue_names)),
                                   senders)},
            },
        }
        self.report_paths = write_run_report(self.run_dir, summary=report_summary, orders=exported["orders"],
                                             fills=exported["fills"])
        self.summary = report_summary

    def _marks(self) -> dict[str, Decimal]:
        """Mid price per symbol, averaged over the venues that have a book."""
        marks: dict[str, Decimal] = {}
        for symbol in self.config.symbols:
            mids = []
            for venue in self.config.venue_names:
                try:
                    book = _ray_get(self._actor(f"exchange:{venue}").latest_book.remote(symbol), 5)
                except Exception:
                    continue
                if book is not None and book.best_bid is not None and book.best_ask is not None:
                    mids.append((book.best_bid + book.best_ask) / 2)
            if mids:
                marks[symbol] = sum(mids, Decimal(0)) / len(mids)
        return marks

    def _final_summary(self) -> str:
        s = self.summary
        latency = summarize_latencies(s["tick_to_order_s"])
        p50 = "-" if latency["p50"] is None else f"{latency['p50'] * 1000:.2f} ms"
        p99 = "-" if latency["p99"] is None else f"{latency['p99'] * 1000:.2f} ms"
        total = sum((Decimal(v) for v in s["pnl"].values()), Decimal(0))
        return (f"run {self.run_id} done: {s['opportunities_detected']} opportunities detected, "
                f"{s['opportunities_taken']} taken, outcomes {s['outcomes']}, one-legged {s['one_legged']}, "
                f"PnL (marked to market) {total.quantize(Decimal('0.00000001'))} {s['pnl_currency']}, tick-to-order p50 {p50} p99 {p99}; report in {self.run_dir}")

    def _teardown(self) -> None:
        import ray

        if ray.is_initialized():
            from actors.peers import NAMESPACE

            if self.supervisor is not None:
                try:
                    _ray_get(self.supervisor.shutdown.remote(), 10)
                except Exception:
                    pass
            if self.courier is not None:
                self.courier.stop(timeout_s=0)  # no more deliveries; its polls end as the actors go
            names = list(self.deployment.actor_names) + ["supervisor"] if self.deployment else []
            for name in names:
                try:
                    ray.kill(ray.get_actor(name, namespace=NAMESPACE))
                except Exception:
                    pass
            if self.courier is not None:
                self.courier.stop()
        if self.metrics_export is not None:
            if self.report_paths is not None:
                time.sleep(FINAL_SCRAPE_WAIT_S)  # let Prometheus scrape the final counts before the endpoints go
            try:
                self.metrics_export.stop()
            except Exception:
                pass
        if self.options.address is None or ray.is_initialized():
            shutdown_ray()
        if self.venue_process is not None:
            self.venue_process.stop()


def actor_sections(config: Config) -> dict[str, Any]:
    """The config's strategy, risk, supervisor and retry sections as the deployment hands them to the actors: plain
    values (``actors.common``), so that no actor process imports pydantic to unpickle them."""
    from actors.common import RiskSection, StrategySection, SupervisorSection
    from execution.error_handler import RetryPolicy

    return {"strategy": StrategySection(**config.strategy.model_dump()), "risk": RiskSection(**config.risk.model_dump()),
            "supervisor": SupervisorSection(**config.supervisor.model_dump()),
            "retry": RetryPolicy(**config.retry.model_dump())}


def venue_specs(config: Config, mode: Mode) -> tuple[Any, ...]:
    """What each exchange actor is told about its venue: paper unless the mode sends orders; never the keys."""
    from actors.exchange import VenueSpec

    return tuple(VenueSpec(name=venue.name, exchange_id=venue.exchange, url=venue.url, paper=mode is Mode.PAPER,
                           testnet=venue.testnet, simulator=venue.is_local) for venue in config.venues)


def _cluster_has(resource: str) -> bool:
    """True on a cluster with a node that carries ``resource``: ``rayarb_head`` (ray_cluster.yaml) places the order
    manager, the position tracker (they hold the journal) and the supervisor on that node; ``rayarb_worker`` the
    exchange actors and detectors on the nodes that carry it, off the head."""
    import ray

    return ray.cluster_resources().get(resource, 0) > 0


def mark_to_market(changes: dict[str, dict[str, Decimal]], marks: dict[str, Decimal], currency: str
                   ) -> dict[str, Decimal]:
    """Per venue: every asset's balance change valued in ``currency`` at ``marks`` (realized + unrealized - fees)."""
    price = {symbol.split("/")[0]: mark for symbol, mark in marks.items() if symbol.endswith("/" + currency)}
    price[currency] = Decimal(1)
    return {venue: sum((amount * price[asset] for asset, amount in assets.items() if asset in price), Decimal(0))
            for venue, assets in changes.items()}


def run_main_job(options: RunOptions, resume_dir: str | Path | None = None) -> int:
    return MainJob(options, resume_dir=resume_dir).run()
