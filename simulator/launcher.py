"""Starting simulated venues: in-process (an async context manager) or as a subprocess (``python -m simulator.cli``).

In-process: ``start_local_venues(config)`` builds one engine and server per venue, of the venue's dialect
(``simulator.dialects``), the shared ``Market`` and its update loop, all on the running event loop, and yields a
``LocalSimulation`` whose items carry ``.name``, ``.dialect``, ``.url``, ``.ws_url``, ``.api_key``, ``.secret``,
``.passphrase`` ("" for a dialect without one), ``.engine`` and ``.server``.

Subprocess: ``VenueProcess`` runs the ``rayarb sim`` entry point in a child process (so the venue's CPU is not the
caller's), reads the one line per venue it prints, waits until every venue answers its dialect's public probe
(``/api/v3/ping``, ``/api/v5/public/time``) and stops it with SIGTERM. Used by tests, benchmarks and ``rayarb run``.

Ports: venue i listens on ``base_port + i``, or on a free port chosen by the OS when ``base_port`` is 0.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

from simulator.config import SimConfig, SimConfigError
from simulator.core.engine import Engine
from simulator.core.server import VenueServer, run_market_loop
from simulator.dialects import DEFAULT_DIALECT, front_end
from simulator.faults import FaultConfigError, Faults
from simulator.market import Market

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
VENUE_LINE = re.compile(
    r"^rayarb-sim venue=(?P<name>\S+)(?: dialect=(?P<dialect>\S+))? url=(?P<url>\S+) ws=(?P<ws_url>\S+) "
    r"api_key=(?P<api_key>\S+) secret=(?P<secret>\S+)(?: passphrase=(?P<passphrase>\S+))?$"
)
PROBE_PATHS = {"binance": "/api/v3/ping", "okx": "/api/v5/public/time"}
READY_LINE = "rayarb-sim ready"


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def faults_per_venue(raw: dict[str, Any] | None, venue_names: Sequence[str]) -> dict[str, Faults]:
    """Resolve a faults mapping: keyed by venue name (``{"beta": {...}}``) or one set for every venue."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise FaultConfigError("faults must be a JSON object")
    if raw and all(key in venue_names for key in raw):
        return {name: Faults.from_dict(raw.get(name) or {}) for name in venue_names}
    shared = Faults.from_dict(raw)
    return {name: shared for name in venue_names}  # frozen: one value serves every venue


@dataclass
class LocalVenue:
    """One running in-process venue. ``secret`` is the default account's, for the local client only."""

    name: str
    url: str
    ws_url: str
    api_key: str
    secret: str = field(repr=False)
    engine: Engine = field(repr=False)
    server: VenueServer = field(repr=False)
    dialect: str = DEFAULT_DIALECT
    passphrase: str = field(default="", repr=False)

    async def set_faults(self, changes: dict[str, Any], *, clear: bool = False) -> Faults:
        return await self.server.set_faults(changes, clear=clear)


class LocalSimulation:
    """The venues of one in-process simulation, indexable by position or by name, and the shared market."""

    def __init__(self, config: SimConfig, market: Market, venues: list[LocalVenue]) -> None:
        self.config = config
        self.market = market
        self.venues = venues
        self._market_task: asyncio.Task[None] | None = None

    def __iter__(self) -> Iterator[LocalVenue]:
        return iter(self.venues)

    def __len__(self) -> int:
        return len(self.venues)

    def __getitem__(self, key: int | str) -> LocalVenue:
        if isinstance(key, str):
            for venue in self.venues:
                if venue.name == key:
                    return venue
            raise KeyError(key)
        return self.venues[key]

    def refresh_market_flags(self, _server: VenueServer | None = None) -> None:
        """The book freezes while any venue has the ``freeze_book`` fault (the market is shared by all venues)."""
        self.market.frozen = any(v.server.injector.faults.freeze_book for v in self.venues)

    async def stop(self) -> None:
        if self._market_task is not None:
            self._market_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._market_task
            self._market_task = None
        for venue in self.venues:
            await venue.server.stop()


async def start_simulation(
    config: SimConfig | None = None,
    *,
    base_port: int = 0,
    host: str = "127.0.0.1",
    faults: dict[str, Any] | None = None,
    run_market: bool = True,
) -> LocalSimulation:
    """Start every venue of ``config`` on the running loop; call ``await sim.stop()`` when done.

    ``faults`` (per venue or shared, see ``faults_per_venue``) overrides ``config.faults``. With ``run_market``
    False the book only changes through orders (and explicit ``sim.market.step``).
    """
    config = config or SimConfig.default()
    names = [v.name for v in config.venues]
    initial_faults = faults_per_venue(faults if faults is not None else config.faults, names)
    engines = {v.name: front_end(v.dialect)[0](v, list(config.symbols), wall_clock_ms) for v in config.venues}
    market = Market(config, engines, config.seed)
    symbols = [s.symbol for s in config.symbols]
    venues: list[LocalVenue] = []
    sim = LocalSimulation(config, market, venues)
    try:
        for index, venue_config in enumerate(config.venues):
            port = base_port + index if base_port else 0
            server_class = front_end(venue_config.dialect)[1]
            server = server_class(
                engines[venue_config.name],
                name=venue_config.name,
                symbols=symbols,
                host=host,
                port=port,
                faults=initial_faults[venue_config.name],
                seed=config.seed * 1000 + index,
                clock_ms=wall_clock_ms,
            )
            await server.start()
            account = venue_config.accounts[0] if venue_config.accounts else None
            venues.append(LocalVenue(
                name=venue_config.name,
                url=server.url,
                ws_url=server.ws_url,
                api_key=account.api_key if account else "",
                secret=account.secret if account else "",
                engine=engines[venue_config.name],
                server=server,
                dialect=venue_config.dialect,
                passphrase=account.passphrase if account else "",
            ))
        for venue in venues:
            venue.server.on_faults_changed = sim.refresh_market_flags
        sim.refresh_market_flags()
        if run_market:
            market.step(wall_clock_ms())
            for venue in venues:
                venue.server.publish_depth()
            sim._market_task = asyncio.get_running_loop().create_task(
                run_market_loop(market, [v.server for v in venues], config.market.update_hz, wall_clock_ms))
    except BaseException:
        await sim.stop()
        raise
    return sim


@contextlib.asynccontextmanager
async def start_local_venues(
    config: SimConfig | None = None,
    *,
    base_port: int = 0,
    host: str = "127.0.0.1",
    faults: dict[str, Any] | None = None,
    run_market: bool = True,
) -> AsyncIterator[LocalSimulation]:
    """``async with start_local_venues(SimConfig.default(("alpha",))) as sim: sim["alpha"].url ...``"""
    sim = await start_simulation(config, base_port=base_port, host=host, faults=faults, run_market=run_market)
    try:
        yield sim
    finally:
        await sim.stop()


# --- subprocess -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VenueEndpoint:
    """A venue as a ``rayarb sim`` process announced it (``passphrase`` is "" for a dialect without one)."""

    name: str
    url: str
    ws_url: str
    api_key: str
    secret: str = field(repr=False)
    dialect: str = DEFAULT_DIALECT
    passphrase: str = field(default="", repr=False)


class VenueProcessError(RuntimeError):
    """The simulator subprocess did not start (bad arguments, port in use, timeout) or did not stop."""


class VenueProcess:
    """``rayarb sim`` in a child process. ``start()`` returns once every venue answers its dialect's probe.

    ``venues`` are names, each optionally with its dialect (``"beta:okx"``; a bare name speaks Binance)."""

    def __init__(
        self,
        venues: Sequence[str] | None = ("alpha",),
        *,
        base_port: int = 0,
        seed: int | None = None,
        config_path: str | os.PathLike[str] | None = None,
        faults: str | None = None,
        log_level: str = "WARNING",
        realtime_priority: int = 0,
        python: str = sys.executable,
        extra_args: Sequence[str] = (),
        stderr: Any = None,
    ) -> None:
        self.command = [python, "-m", "simulator.cli", "--base-port", str(base_port), "--log-level", log_level,
                        "--exit-with-parent"]
        if venues:
            self.command += ["--venues", ",".join(venues)]
        if seed is not None:
            self.command += ["--seed", str(seed)]
        if config_path is not None:
            self.command += ["--config", os.fspath(config_path)]
        if faults is not None:
            self.command += ["--faults", faults]
        if realtime_priority:
            self.command += ["--realtime-priority", str(realtime_priority)]
        self.command += list(extra_args)
        self.stderr = stderr
        self.venues: list[VenueEndpoint] = []
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue(maxsize=1024)
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __getitem__(self, key: int | str) -> VenueEndpoint:
        if isinstance(key, str):
            for venue in self.venues:
                if venue.name == key:
                    return venue
            raise KeyError(key)
        return self.venues[key]

    def start(self, timeout_s: float = 30.0) -> list[VenueEndpoint]:
        if self._process is not None and self._process.poll() is None:
            return self.venues  # already running (``with VenueProcess(...)`` starts it): never a second process
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        self._process = subprocess.Popen(
            # the child stops when this pipe closes, so it cannot outlive a parent that dies without stop()
            self.command, stdout=subprocess.PIPE, stderr=self.stderr, stdin=subprocess.PIPE,
            text=True, cwd=str(REPO_ROOT), env=env,
        )
        self._reader = threading.Thread(target=self._read_stdout, name="venue-process-stdout", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout_s
        try:
            self.venues = self._read_announcements(deadline)
            for venue in self.venues:
                self._wait_for_ping(venue.url + PROBE_PATHS.get(venue.dialect, PROBE_PATHS[DEFAULT_DIALECT]), deadline)
        except BaseException:
            self.stop()
            raise
        return self.venues

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            with contextlib.suppress(queue.Full):  # after start-up nobody reads; the pipe is still drained
                self._lines.put_nowait(line.rstrip("\n"))
        with contextlib.suppress(queue.Full):
            self._lines.put_nowait(None)

    def _read_announcements(self, deadline: float) -> list[VenueEndpoint]:
        venues: list[VenueEndpoint] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise VenueProcessError("simulator subprocess did not announce its venues in time")
            try:
                line = self._lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if line is None:
                code = self._process.wait(timeout=5) if self._process else None
                raise VenueProcessError(f"simulator subprocess exited with code {code} before it was ready")
            if line == READY_LINE:
                if not venues:
                    raise VenueProcessError("simulator subprocess announced no venue")
                return venues
            match = VENUE_LINE.match(line)
            if match:
                fields = {k: v for k, v in match.groupdict().items() if v is not None}
                venues.append(VenueEndpoint(**fields))

    def _wait_for_ping(self, url: str, deadline: float) -> None:
        """Wait until ``url`` (a venue's public probe) answers."""
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2.0) as response:
                    response.read()
                return
            except urllib.error.HTTPError:
                return  # it answers (perhaps with an injected fault): it is up
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if not isinstance(reason, ConnectionRefusedError):
                    return  # it accepted the connection and then dropped or held it: an injected fault, but up
                if self._process is not None and self._process.poll() is not None:
                    raise VenueProcessError(f"simulator subprocess exited with code {self._process.returncode}")
                if time.monotonic() >= deadline:
                    raise VenueProcessError(f"venue probe {url} did not answer in time") from None
                time.sleep(0.05)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Close its stdin (it stops on EOF), then SIGTERM, then SIGKILL if it will not go; returns the exit code."""
        process = self._process
        if process is None:
            return None
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
            # a SIGTERM sent at once could land after its event loop closed and kill it with -15
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=min(timeout_s, 5.0))
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                logger.warning("simulator subprocess %s ignored SIGTERM; killing it", process.pid)
                process.kill()
                process.wait(timeout=timeout_s)
        if self._reader is not None:
            self._reader.join(timeout=timeout_s)
        if process.stdout is not None:
            process.stdout.close()
        return process.returncode

    def __enter__(self) -> "VenueProcess":
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


__all__ = [
    "LocalSimulation", "LocalVenue", "VenueEndpoint", "VenueProcess", "VenueProcessError", "SimConfigError",
    "faults_per_venue", "start_local_venues", "start_simulation",
]
