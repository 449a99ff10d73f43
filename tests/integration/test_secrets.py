"""Keys only where they are used, and nowhere a run writes.

1. During a real run (real Ray, real simulator venues, keys from environment variables), every process of the run is
   read: no process environment holds a key, and no process's memory holds a venue's key or secret except that
   venue's exchange actor (the driver, which read them, and the venues themselves aside). The scanner's positive
   control: each exchange actor's memory does hold its own venue's secret.
2. `rayarb run` as an operator meets it (the CLI, in a subprocess): a run that trades, a secret the venue refuses, a
   key pasted into the config, a symbol no venue lists, a taken metrics port, a run directory that cannot be written.
   Each mistake ends in one line that names it, without a traceback, and nothing the runs leave (their stdout and
   stderr, run directories and journals, Ray's session logs, the metrics text, the Prometheus file_sd file) holds a
   key, a secret or a request signature.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
import yaml

from orchestration.config import build_run_options, parse_config
from orchestration.main_job import MainJob
from simulator.launcher import VenueProcess
from tests.integration.runs import BackgroundRun, account_orders

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parents[2]
SIGNATURE = re.compile(rb"signature=[0-9a-fA-F]{64}")
MAX_REGION_BYTES = 256 * 1024 * 1024  # larger mappings are Ray's object store reservation and mapped files


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta"), seed=11) as process:
        process.start(timeout_s=60)
        yield process


def venue_config(venues, *, symbols=("BTC/USDT",), key_env=None) -> dict:
    return {
        "venues": {e.name: {"exchange": "binance", "url": e.url,
                            "api_key_env": (key_env or {}).get(e.name, f"T_SEC_{e.name.upper()}_KEY"),
                            "secret_env": f"T_SEC_{e.name.upper()}_SECRET"} for e in venues.venues},
        "symbols": list(symbols),
        "strategy": {"min_profit_bps": 1, "cooldown_s": 0.2, "max_notional_per_trade": "500"},
        "risk": {"max_open_exposure": "100000", "loss_limit": "1000", "max_one_legged": 1000},
        "run": {"realtime_priority": 0, "cpu_wake_latency_us": None},
    }


def key_environment(venues, *, wrong_secret_for: str | None = None) -> dict[str, str]:
    environ = {}
    for e in venues.venues:
        environ[f"T_SEC_{e.name.upper()}_KEY"] = e.api_key
        environ[f"T_SEC_{e.name.upper()}_SECRET"] = e.secret[::-1] if e.name == wrong_secret_for else e.secret
    return environ


def secrets_of(venues) -> dict[str, list[bytes]]:
    return {e.name: [e.api_key.encode(), e.secret.encode()] for e in venues.venues}


# ---------------------------------------------------------------------------------- 1. processes of a live run


def readable_memory(pid: int) -> list[bytes]:
    """The process's readable private and anonymous memory, region by region."""
    regions = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            path = fields[5] if len(fields) > 5 else ""
            if "r" not in fields[1] or end - start > MAX_REGION_BYTES or path in ("[vvar]", "[vsyscall]"):
                continue
            if path.endswith(".so") or ".so." in path or path.endswith((".py", ".pyc")):
                continue  # code and libraries: the same for every process
            try:
                mem.seek(start)
                regions.append(mem.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return regions


def holds(pid: int, needles: list[bytes]) -> set[bytes]:
    found = set()
    for region in readable_memory(pid):
        found.update(n for n in needles if n in region)
    return found


def environment(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as handle:
        return handle.read()


def test_keys_live_only_in_their_venues_exchange_actor(venues, tmp_path, monkeypatch):
    import ray

    from actors.peers import NAMESPACE

    environ = key_environment(venues)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    options = build_run_options(config=parse_config(venue_config(venues), source="test"), run_dir=tmp_path,
                                metrics_port=0, duration_s=120)
    job = MainJob(options, status_stream=open(os.devnull, "w"))
    run = BackgroundRun(job).start()
    try:
        deadline = time.monotonic() + 120
        while getattr(job, "baseline", None) is None or not all(account_orders(e.url) for e in venues.venues):
            assert run.thread.is_alive() and time.monotonic() < deadline, "the run did not trade"
            time.sleep(0.2)
        assert not any(name in os.environ for name in environ)  # the driver handed its environment on without them
        pids = {}
        for name in (*job.deployment.actor_names, "supervisor"):
            actor = ray.get_actor(name, namespace=NAMESPACE)
            pids[name] = ray.get(actor.health.remote(), timeout=10)["pid"]
        status = ray.get(ray.get_actor("supervisor", namespace=NAMESPACE).status.remote(), timeout=10)
        seen_by_supervisor = repr((job.deployment, status)).encode()

        secrets = secrets_of(venues)
        every = [s for pair in secrets.values() for s in pair]
        assert not [s for s in every if s in seen_by_supervisor]
        run_processes = [p for p in psutil.Process().children(recursive=True) if p.pid != venues.pid]
        assert set(pids.values()) <= {p.pid for p in run_processes}
        assert any("raylet" in " ".join(p.cmdline()) for p in run_processes)
        for process in run_processes:
            try:
                env = environment(process.pid)
            except (psutil.Error, FileNotFoundError, ProcessLookupError):
                continue  # ended meanwhile
            assert not [s for s in every if s in env], f"a key in the environment of {process.cmdline()[:3]}"
        owner_of = {pid: name for name, pid in pids.items()}
        for process in run_processes:
            name = owner_of.get(process.pid, " ".join(process.cmdline()[:2]))
            try:
                found = holds(process.pid, every)
            except (FileNotFoundError, ProcessLookupError):
                continue
            allowed = set(secrets[name.split(":", 1)[1]]) if name.startswith("exchange:") else set()
            assert found <= allowed, f"{name} ({process.cmdline()}) holds keys it does not use"
            if name.startswith("exchange:"):
                assert secrets[name.split(":", 1)[1]][1] in found  # the scanner sees a key where one is
    finally:
        job.stop()
        run.join(120)


# ------------------------------------------------------------------------------ 2. what the runs leave behind


class CliRun:
    """`rayarb run` in a subprocess; its stderr read as it comes (the metrics address is printed there)."""

    def __init__(self, args: list[str], env: dict[str, str], *, scrape: bool = False) -> None:
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "rayarb"), "run", *args], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        self.stdout = b""
        self.stderr_lines: list[bytes] = []
        self.scraped: list[bytes] = []
        self.scrape_error: str | None = None
        self._scrape = scrape
        self._stdout_chunks: list[bytes] = []
        self._readers = [threading.Thread(target=self._read_stderr, daemon=True),
                         threading.Thread(target=self._read_stdout, daemon=True)]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        while chunk := self.process.stdout.read1(65536):
            self._stdout_chunks.append(chunk)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            match = re.match(rb"metrics: (\S+) \(file_sd (\S+)\)", line)
            if match and self._scrape:
                threading.Thread(target=self._collect, args=(match[1].decode(), match[2].decode()),
                                 daemon=True).start()

    def _collect(self, address: str, file_sd: str) -> None:
        try:
            self._collect_now(address, file_sd)
        except Exception as exc:  # said by the test's assertion on what was scraped
            self.scrape_error = f"{type(exc).__name__}: {exc}"

    def _collect_now(self, address: str, file_sd: str) -> None:
        """The metrics text and the file_sd file, once the run has traded a while."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(b"trading " in line for line in self.stderr_lines):
                time.sleep(3)  # a few orders and fills into the counters
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as response:
                    self.scraped.append(response.read())
                self.scraped.append(Path(file_sd).read_bytes())
                return
            time.sleep(0.1)

    def wait(self, timeout_s: float) -> int:
        """The exit code, once every line the run wrote has been read (each pipe has one reader)."""
        self.process.wait(timeout=timeout_s)
        for reader in self._readers:
            reader.join(10)
        self.stdout = b"".join(self._stdout_chunks)
        return self.process.returncode

    @property
    def stderr(self) -> bytes:
        return b"".join(self.stderr_lines)

    def operator_lines(self) -> list[str]:
        """What stderr says beyond the run's progress lines (timestamped INFO/WARNING logging and the live status)."""
        return [line for line in self.stderr.decode().splitlines()
                if not re.match(r"^\d{4}-\d\d-\d\dT[\d:.]+ (DEBUG|INFO|WARNING) ", line)
                and not re.match(r"^\d{4}-\d\d-\d\d [\d:,]+\t(DEBUG|INFO|WARNING) ", line)  # Ray's own logging
                and not re.match(r"^(\x1b\[\d+m)?\(\w+ pid=\d+", line)  # an actor's log line, forwarded by Ray
                and not line.startswith(("rayarb local-sim up", "  ", "books:", "started local venues", "metrics: ",
                                         "profile ", "trading "))]


def files_under(*roots: Path) -> list[Path]:
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def test_nothing_a_run_leaves_holds_a_key_a_secret_or_a_signature(venues, tmp_path):
    ray_tmp = Path(tempfile.mkdtemp(prefix="rs", dir="/tmp"))  # short: Ray's unix socket paths have a length limit
    run_dirs = tmp_path / "runs"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("T_SEC_")}
    base_env.update(RAY_TMPDIR=str(ray_tmp), RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    base_env.setdefault("RAY_AUTH_MODE", "disabled")

    def config_file(name: str, raw: dict) -> str:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        return str(path)

    good = config_file("good", venue_config(venues))
    runs: list[CliRun] = []
    try:
        # a run that trades, its metrics scraped while it does
        trading = CliRun(["--config", good, "--duration", "60", "--run-dir", str(run_dirs), "--metrics-port", "0"],
                         {**base_env, **key_environment(venues)}, scrape=True)
        runs.append(trading)
        deadline = time.monotonic() + 120
        while len(trading.scraped) < 2 and trading.scrape_error is None and trading.process.poll() is None:
            assert time.monotonic() < deadline, "the trading run was not scraped"
            time.sleep(0.2)
        trading.process.send_signal(signal.SIGINT)  # scraped while trading: ended as an operator's Ctrl-C ends it

        # the operator's mistakes, all started at once (each run is its own process with its own Ray, if any)
        def mistake(args: list[str], env_extra: dict[str, str] | None = None) -> CliRun:
            runs.append(CliRun(args, {**base_env, **key_environment(venues), **(env_extra or {})}))
            return runs[-1]

        started = time.monotonic()
        # a secret the venue refuses
        refused = mistake(["--config", good, "--duration", "60", "--run-dir", str(run_dirs), "--metrics-port", "0"],
                          key_environment(venues, wrong_secret_for="beta"))
        # a symbol no venue lists
        unlisted = mistake(["--config", config_file("unlisted", venue_config(venues, symbols=("DOGE/USDT",))),
                            "--duration", "60", "--run-dir", str(run_dirs), "--metrics-port", "0"])
        # a key pasted where the NAME of its variable belongs
        alpha = venues["alpha"]
        pasted = mistake(["--config", config_file("pasted", venue_config(venues, key_env={"alpha": alpha.api_key}))])
        # a run directory that cannot be written (a file stands where it should be)
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        unwritable = mistake(["--config", good, "--run-dir", str(blocker / "runs")])
        # a metrics port already taken
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            busy = mistake(["--config", good, "--run-dir", str(run_dirs), "--metrics-port", str(port)])
            assert busy.wait(60) == 1

        assert trading.wait(180) == 0, trading.stderr.decode()[-3000:]
        assert len(trading.scraped) == 2, trading.scrape_error
        assert b"rayarb_orders_total" in trading.scraped[0]

        # refused: one line naming the venue, well before the start-up timeout
        assert refused.wait(180) == 1
        assert time.monotonic() - started < 90
        assert len(refused.operator_lines()) == 1, refused.stderr.decode()[-3000:]
        assert refused.operator_lines()[0].startswith(
            "rayarb run: venues.beta: the venue refused the API key or secret (AuthenticationError: ")
        assert "Signature for this request is not valid" in refused.operator_lines()[0]

        assert unlisted.wait(180) == 1
        assert unlisted.operator_lines() in (["rayarb run: symbols: DOGE/USDT not listed by venue alpha"],
                                             ["rayarb run: symbols: DOGE/USDT not listed by venue beta"],
                                             ["rayarb run: symbols: DOGE/USDT not listed by venue alpha; "
                                              "symbols: DOGE/USDT not listed by venue beta"]), unlisted.stderr[-3000:]

        assert pasted.wait(60) == 2
        assert pasted.operator_lines() == [f"rayarb run: {tmp_path / 'pasted.yaml'}: venues.alpha.api_key_env: must "
                                           "be the NAME of an environment variable (letters, digits, underscore), "
                                           "not a key"]

        assert len(busy.operator_lines()) == 1
        assert busy.operator_lines()[0].startswith(f"rayarb run: metrics port 127.0.0.1:{port} is not available")

        assert unwritable.wait(60) == 1
        assert len(unwritable.operator_lines()) == 1
        assert unwritable.operator_lines()[0].startswith(f"rayarb run: cannot write the run directory {blocker}")

        for run in runs[1:]:  # each operator's mistake: one line, no traceback
            for text in (run.stderr, run.stdout):
                at = text.find(b"Traceback")
                assert at < 0, text[max(0, at - 500):at + 2500].decode(errors="replace")

        # everything left behind, scanned
        texts = {f"run {i} stdout": run.stdout for i, run in enumerate(runs)}
        texts.update({f"run {i} stderr": run.stderr for i, run in enumerate(runs)})
        texts.update({f"scrape {i}": text for i, text in enumerate(trading.scraped)})
        left = files_under(run_dirs, ray_tmp)
        assert any(p.name == "journal.sqlite" for p in left) and any("session_" in str(p) for p in left)
        assert any(p.suffix in (".err", ".out", ".log") for p in left)
        texts.update({str(p): p.read_bytes() for p in left})
        needles = [s for pair in secrets_of(venues).values() for s in pair]
        control = b"x" + needles[1] + b" signature=" + b"ab" * 32
        assert [n for n in needles if n in control] and SIGNATURE.search(control)  # the scan finds what is there
        leaks = {where: [n.decode()[:4] + "..." for n in needles if n in text] + SIGNATURE.findall(text)[:1]
                 for where, text in texts.items()}
        assert {where: found for where, found in leaks.items() if found} == {}
    finally:
        for run in runs:
            if run.process.poll() is None:
                run.process.kill()
        shutil.rmtree(ray_tmp, ignore_errors=True)
