"""A run of rayarb against given simulator venues, driven from this process: its config (``run_config``), the job
(``make_job``), the job in a thread (``BackgroundRun``), its actors by name (``actor``) and waiting on a condition
(``wait_for``). Used by ``rayarb chaos``, the benchmarks and the integration tests."""
from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

from orchestration.config import Credentials, RunOptions, parse_config, resolve_mode
from orchestration.main_job import MainJob

WAIT_S = 60.0  # what a condition on a running system may take on a loaded 2-core machine


def venue_entry(endpoint) -> dict[str, str]:
    """The config entry of a simulator venue: its dialect is the venue's exchange (``binance`` for an endpoint that
    names none); a dialect with a passphrase (OKX) names its variable, as it names the key's and the secret's."""
    exchange = getattr(endpoint, "dialect", None) or "binance"
    entry = {"exchange": exchange, "url": endpoint.url, "api_key_env": f"K_{endpoint.name.upper()}",
             "secret_env": f"S_{endpoint.name.upper()}"}
    if getattr(endpoint, "passphrase", ""):
        entry["passphrase_env"] = f"P_{endpoint.name.upper()}"
    return entry


def credentials_of(endpoint) -> Credentials:
    """The keys of a simulator venue's account (and its passphrase where the dialect has one)."""
    return Credentials(endpoint.api_key, endpoint.secret, getattr(endpoint, "passphrase", "") or None)


def run_config(endpoints, *, run: dict | None = None, risk: dict | None = None, detector: dict | None = None,
               symbols: list[str] | None = None, supervisor: dict | None = None, **strategy) -> Any:
    return parse_config(raw_run_config(endpoints, run=run, risk=risk, detector=detector, symbols=symbols,
                                       supervisor=supervisor, **strategy), source="test")


def raw_run_config(endpoints, *, run: dict | None = None, risk: dict | None = None, detector: dict | None = None,
                   symbols: list[str] | None = None, supervisor: dict | None = None, **strategy) -> dict[str, Any]:
    """The config of a run against these venues as plain data (a YAML file's content): keys by variable name only."""
    return {
        "venues": {e.name: venue_entry(e) for e in endpoints},
        "symbols": symbols or ["BTC/USDT", "ETH/USDT"],
        "detector": detector or {},
        "strategy": {"min_profit_bps": 1, "cooldown_s": 0.2, "max_notional_per_trade": "500", **strategy},
        "risk": {"max_open_exposure": "100000", "loss_limit": "1000", "max_one_legged": 1000, **(risk or {})},
        "supervisor": {"heartbeat_period_s": 0.3, "heartbeat_timeout_s": 1.5, "failures_before_restart": 3,
                       **(supervisor or {})},
        "run": run or {},
    }


def make_job(endpoints, run_dir: Path, duration_s: float | None, *, run: dict | None = None,
             risk: dict | None = None, resume_dir: Path | None = None, detector: dict | None = None,
             symbols: list[str] | None = None, address: str | None = None, supervisor: dict | None = None,
             **strategy) -> MainJob:
    config = run_config(endpoints, run=run, risk=risk, detector=detector, symbols=symbols, supervisor=supervisor,
                        **strategy)
    options = RunOptions(config=config, mode=resolve_mode(config, live=False), duration_s=duration_s,
                         run_dir=run_dir, metrics_port=0, address=address,
                         credentials={e.name: credentials_of(e) for e in endpoints})
    return MainJob(options, status_stream=io.StringIO(), resume_dir=resume_dir)


class BackgroundRun:
    """A MainJob running in a thread, so a test can act on the actors while it trades."""

    def __init__(self, job: MainJob) -> None:
        self.job = job
        self.result: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="rayarb-run", daemon=True)

    def _run(self) -> None:
        try:
            self.result = self.job.run()
        except BaseException as exc:  # reported by join()
            self.error = exc

    def start(self) -> "BackgroundRun":
        self.thread.start()
        return self

    def join(self, timeout_s: float) -> int:
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            raise TimeoutError(f"run still going after {timeout_s} s")
        if self.error is not None:
            raise self.error
        return self.result


def actor(name: str) -> Any:
    """A running actor of the run, by name."""
    import ray

    from actors.peers import NAMESPACE

    return ray.get_actor(name, namespace=NAMESPACE)


def active_exchange_actor(venue: str) -> str | None:
    """Which of the venue's two exchange actors (supervisor.exchange_standby) says it is active (``active_actor``)."""
    from actors.common import exchange_actor_name

    return active_actor(exchange_actor_name(venue))


def active_actor(role: str) -> str | None:
    """Which of the role's two actors (a venue's exchange actors, a detector shard's) says it is active; None while
    neither does (one restarting, the other not yet taken over)."""
    import ray

    from actors.common import standby_pair

    for name in standby_pair(role):
        try:
            if ray.get(actor(name).health.remote(), timeout=5)["active"]:
                return name
        except Exception:  # restarting, or not created
            continue
    return None


def wait_for(what: str, predicate: Any, timeout_s: float = WAIT_S, interval_s: float = 0.1) -> None:
    """Wait until ``predicate()`` holds; an exception counts as not yet (the actor may be dead or restarting)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:
            pass
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}")
