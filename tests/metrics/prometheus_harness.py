"""Run the real Prometheus binary for a test: 127.0.0.1 on a free port, a temporary data directory, a generated config.

``PrometheusHarness`` starts ``prometheus``, waits until it is ready, answers instant queries through the HTTP API and
stops it. ``require_binary`` fails (never skips) when the binary is missing under CI=true; outside CI it skips with the
install command. ``promtool`` checks config files and metric expositions. ``dashboard_expressions`` lists every PromQL
expression of a Grafana dashboard JSON (the end-to-end test queries each of them).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
import yaml

logger = logging.getLogger(__name__)

INSTALL_HINT = "apt-get install -y --no-install-recommends prometheus"
HTTP_TIMEOUT_S = 5.0


def require_binary(name: str) -> str:
    """Path of ``prometheus`` / ``promtool``; a missing binary fails the test under CI=true, else skips it."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found on PATH (install: {INSTALL_HINT})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def promtool(*args: str, stdin: str | None = None, timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    """Run promtool with arguments; returns the completed process (the caller checks returncode)."""
    return subprocess.run([require_binary("promtool"), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout_s)


def check_metrics_exposition(text: str) -> subprocess.CompletedProcess:
    """``promtool check metrics`` on an exposition text (lint: naming, units, _total suffixes)."""
    return promtool("check", "metrics", stdin=text)


def scrape_config(file_sd_path: str | None = None, static_targets: Iterable[str] = (),
                  interval: str = "1s", job: str = "rayarb") -> dict:
    """A minimal Prometheus config scraping a file_sd JSON and/or static targets."""
    job_config: dict = {"job_name": job, "scrape_interval": interval, "scrape_timeout": interval}
    if file_sd_path:
        job_config["file_sd_configs"] = [{"files": [file_sd_path], "refresh_interval": interval}]
    targets = list(static_targets)
    if targets:
        job_config["static_configs"] = [{"targets": targets}]
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval}, "scrape_configs": [job_config]}


class PrometheusHarness:
    """One Prometheus process for one test. Use as a context manager."""

    def __init__(self, config: dict | str | Path, workdir: str | Path | None = None,
                 start_timeout_s: float = 20.0) -> None:
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="rayarb-prom-"))
        self.config_path = self.workdir / "prometheus.yml"
        if isinstance(config, dict):
            self.config_path.write_text(yaml.safe_dump(config))
        else:
            shutil.copyfile(config, self.config_path)
        self.port = free_port()
        self.start_timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "PrometheusHarness":
        binary = require_binary("prometheus")
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={self.config_path}", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={data_dir}", "--storage.tsdb.retention.time=1h", "--log.level=warn",
             "--web.enable-lifecycle"],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=HTTP_TIMEOUT_S) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prometheus not ready after {self.start_timeout_s} s: {self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "PrometheusHarness":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def api(self, endpoint: str, **params: str) -> dict:
        """GET /api/v1/<endpoint>; returns ``data`` of a successful reply, raises otherwise."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{endpoint}?{query}", timeout=HTTP_TIMEOUT_S) as reply:
            body = json.loads(reply.read())
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {endpoint} failed: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query; returns the result vector (each item has ``metric`` and ``value``)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def wait_for(self, predicate: Callable[[], object], timeout_s: float = 15.0, what: str = "condition"):
        """Poll ``predicate`` until it returns something truthy; returns it, or raises with the last state."""
        deadline = time.monotonic() + timeout_s
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
            except (urllib.error.URLError, ConnectionError, TimeoutError, RuntimeError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(0.2)
        raise TimeoutError(f"prometheus: {what} not met after {timeout_s} s (last: {last!r}); log: {self.log_tail()}")

    def wait_for_value(self, expr: str, expected: Callable[[float], bool], timeout_s: float = 15.0) -> float:
        """Poll a query returning one sample until ``expected(value)``; returns the value."""
        def check():
            result = self.query(expr)
            if len(result) == 1:
                value = float(result[0]["value"][1])
                if expected(value):
                    return (value,)
            return None
        return self.wait_for(check, timeout_s, what=f"{expr}")[0]

    def wait_for_healthy_targets(self, count: int, timeout_s: float = 15.0) -> list[dict]:
        return self.wait_for(
            lambda: (lambda ts: ts if len(ts) == count and all(t["health"] == "up" for t in ts) else None)(
                self.targets()), timeout_s, what=f"{count} healthy targets")


def dashboard_expressions(dashboard: dict | str | Path) -> list[str]:
    """Every PromQL expression (``targets[].expr``) of a Grafana dashboard, rows and nested panels included."""
    if not isinstance(dashboard, dict):
        dashboard = json.loads(Path(dashboard).read_text())
    found: list[str] = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if expr:
                    found.append(expr)
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    for row in dashboard.get("rows", []):  # the pre-v5 layout
        walk(row.get("panels", []))
    return found
