"""The run of a ``rayarb chaos`` campaign as its own process, as a user runs it: the Ray the campaign starts
(``campaign_ray``: a private local Ray, a local cluster of ``--nodes`` worker nodes, or a cluster it joins) and
``rayarb run --config FILE --address ADDR --run-dir DIR`` joining it (``RunDriver``). The config file names the venues'
key variables; the keys reach the run in its environment only (never its command line, never a file). The driver can
be SIGKILLed (``kill``) and started again on the same journal (``resume``: ``rayarb run --resume RUN_DIR``), and is
ended as a user's Ctrl-C would (``stop``: SIGINT, then its report is final). Each driver life logs to
``driver-<n>.log``, copied into the run directory at the end."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from orchestration.chaos.harness import credentials_of, raw_run_config
from orchestration.config import UserError

TRADING_LINE = re.compile(r"^trading .*; run dir (?P<run_dir>.+)$", re.MULTILINE)
EXIT_TIMEOUT_S = 30.0  # a SIGKILLed driver gone
LOG_TAIL_CHARS = 400


@contextlib.contextmanager
def campaign_ray(address: str | None, nodes: int, hot_path_on_workers: bool = False) -> Iterator[tuple[str, Any]]:
    """This process joined to the campaign's Ray; yields its address and the ``NodeCluster`` (None unless ``nodes``).
    ``address``: join that cluster; else ``nodes`` worker nodes besides a head on this host (``hot_path_on_workers``:
    they carry ``rayarb_worker``, so the exchange actors and detectors run on them only), or a private local Ray
    (token authentication, its token file named to the run by ``RAY_AUTH_TOKEN_PATH``)."""
    from orchestration.ray_runtime import shutdown_ray, start_or_join_ray

    if address is not None and nodes:
        raise UserError("--nodes starts a local cluster; it cannot be combined with --address")
    if nodes:
        from orchestration.local_cluster import started_cluster

        with started_cluster(workers=nodes, hot_path_on_workers=hot_path_on_workers) as cluster:
            try:
                start_or_join_ray(cluster.address)
                yield cluster.address, cluster
            finally:
                shutdown_ray()
        return
    info = start_or_join_ray(address)
    try:
        yield (address or info.address), None
    finally:
        shutdown_ray()


class RunDriver:
    """``rayarb run`` in a subprocess, trading ``endpoints`` on the Ray at ``address``; its run goes under
    ``run_parent``. ``run_dir`` is known once the first life trades."""

    def __init__(self, endpoints, address: str, run_parent: Path, **config: Any) -> None:
        self.endpoints = list(endpoints)
        self.address = address
        self.run_parent = Path(run_parent).resolve()
        self.work_dir = Path(tempfile.mkdtemp(prefix="rayarb-chaos-driver-"))
        self.config_path = self.work_dir / "config.yaml"
        raw = raw_run_config(self.endpoints, **config)
        raw["metrics"] = {"port": 0}  # any free port: campaigns and tests may run side by side
        self.config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.run_dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self.lives = 0
        self.logs: list[Path] = []

    # ----- one life -----
    def _environment(self) -> dict[str, str]:
        """This process's environment (Ray's auth mode and token file among it) plus each venue's keys, under the
        variable names the config gives them."""
        env = dict(os.environ)
        for endpoint in self.endpoints:
            keys = credentials_of(endpoint)
            entry = raw_run_config([endpoint])["venues"][endpoint.name]
            env[entry["api_key_env"]] = keys.api_key
            env[entry["secret_env"]] = keys.secret
            if "passphrase_env" in entry:
                env[entry["passphrase_env"]] = keys.passphrase or ""
        return env

    def _launch(self, *where: str) -> None:
        self.lives += 1
        log = self.work_dir / f"driver-{self.lives}.log"
        self.logs.append(log)
        command = [sys.executable, "-m", "orchestration.cli", "run", "--config", str(self.config_path),
                   "--address", self.address, "--log-level", "INFO", *where]
        with open(log, "wb") as out:
            self.process = subprocess.Popen(command, env=self._environment(), stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.run_parent.mkdir(parents=True, exist_ok=True)
        self._launch("--run-dir", str(self.run_parent))

    def resume(self) -> None:
        assert self.run_dir is not None, "resume before the first life traded"
        self._launch("--resume", str(self.run_dir))

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self) -> str:
        """The last lines of the current life's log, on one line, and where the whole log is."""
        if not self.logs:
            return ""
        text = self.logs[-1].read_text(errors="replace").strip()
        where = self.run_dir / self.logs[-1].name if self.run_dir is not None else self.logs[-1]  # see close()
        return " | ".join(text[-LOG_TAIL_CHARS:].splitlines()[-4:]) + f" (log: {where})"

    def trading(self) -> bool:
        """The current life says it trades (its run directory learnt from that line); ``UserError`` if it ended."""
        match = TRADING_LINE.search(self.logs[-1].read_text(errors="replace")) if self.logs else None
        if match is not None:
            self.run_dir = self.run_dir or Path(match["run_dir"].strip())
            return True
        code = self.exit_code()
        if code is not None:
            raise UserError(f"the run (rayarb run, life {self.lives}) ended with exit code {code} before trading: "
                            f"{self.log_tail()}")
        return False

    def wait_trading(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.trading():
            if time.monotonic() >= deadline:
                raise UserError(f"the run (rayarb run, life {self.lives}) was not trading within {timeout_s:.0f} s: "
                                f"{self.log_tail()}")
            time.sleep(0.2)

    # ----- ending it -----
    def kill(self) -> int:
        """SIGKILL the driver's process, as a crashed host process dies (no clean stop); returns its pid."""
        assert self.process is not None
        pid = self.process.pid
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(EXIT_TIMEOUT_S)
        return pid

    def stop(self, timeout_s: float) -> int:
        """End the current life as a user's Ctrl-C does (SIGINT: the run stops trading, reconciles and writes its
        report); its exit code. Past ``timeout_s`` it is SIGKILLed and ``UserError`` says so."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise UserError(f"the run did not end within {timeout_s:.0f} s of SIGINT: {self.log_tail()}") from None
        if code != 0:
            raise UserError(f"the run ended with exit code {code}: {self.log_tail()}")
        return code

    def close(self) -> None:
        """Nothing left running; the logs go into the run directory (or stay in the work directory, named)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.kill()
        if self.run_dir is not None and self.run_dir.is_dir():
            for log in self.logs:
                with contextlib.suppress(OSError):
                    shutil.copy(log, self.run_dir / log.name)
            shutil.rmtree(self.work_dir, ignore_errors=True)
