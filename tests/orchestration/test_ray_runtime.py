"""orchestration.ray_runtime: one RAY_AUTH_MODE decision for every process rayarb starts, on a real local Ray, a join
from another process, and quick clear errors for bad or unreachable addresses."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import ray

from orchestration.ray_runtime import (
    RAYARB_NAMESPACE,
    _refresh_ray_config,
    RayStartError,
    ensure_auth_mode_env,
    shutdown_ray,
    start_or_join_ray,
)

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clean_auth_env(monkeypatch, tmp_path):
    """No auth variables and a HOME without ~/.ray/auth_token; Ray's cached config re-read afterwards."""
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield tmp_path
    monkeypatch.undo()
    _refresh_ray_config()  # Ray's cached auth mode follows the restored environment again


def test_a_user_set_auth_mode_is_kept(clean_auth_env, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    assert ensure_auth_mode_env() == "token"
    assert ensure_auth_mode_env("10.0.0.1:6379") == "token"
    assert os.environ["RAY_AUTH_MODE"] == "token"
    monkeypatch.setenv("RAY_AUTH_MODE", "Disabled")
    assert ensure_auth_mode_env("auto") == "disabled"


def test_an_unknown_auth_mode_is_refused(clean_auth_env, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "kerberos")
    with pytest.raises(RayStartError, match="RAY_AUTH_MODE must be one of disabled, token, got 'kerberos'"):
        ensure_auth_mode_env()


def test_own_local_ray_is_disabled_and_joining_uses_a_token_when_one_exists(clean_auth_env, monkeypatch):
    home = clean_auth_env
    assert ensure_auth_mode_env() == "disabled" and os.environ["RAY_AUTH_MODE"] == "disabled"
    monkeypatch.delenv("RAY_AUTH_MODE")
    assert ensure_auth_mode_env("auto") == "disabled"  # no token anywhere
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(home / "missing-token"))
    assert ensure_auth_mode_env("auto") == "disabled"
    (home / "cluster-token").write_text("t" * 32)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(home / "cluster-token"))
    monkeypatch.delenv("RAY_AUTH_MODE")
    assert ensure_auth_mode_env("10.0.0.1:6379") == "token"
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH")
    monkeypatch.delenv("RAY_AUTH_MODE")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("t" * 32)
    assert ensure_auth_mode_env("auto") == "token"
    monkeypatch.delenv("RAY_AUTH_MODE")
    assert ensure_auth_mode_env() == "disabled"  # rayarb's own Ray never uses a stray token


def test_local_only_settings_with_an_address_are_refused():
    with pytest.raises(RayStartError, match="num_cpus, temp_dir only apply when rayarb starts its own Ray"):
        start_or_join_ray("127.0.0.1:6379", num_cpus=1, temp_dir="/tmp/x")
    assert not ray.is_initialized()


def test_an_unreachable_or_malformed_address_fails_fast():
    started = time.monotonic()
    with pytest.raises(RayStartError, match="no Ray cluster reachable at '127.0.0.1:"):
        start_or_join_ray(f"127.0.0.1:{free_port()}")
    with pytest.raises(RayStartError, match="a Ray address is 'auto' or HOST:PORT"):
        start_or_join_ray("cluster-without-port")
    assert time.monotonic() - started < 10
    assert not ray.is_initialized()


JOIN_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import ray
    from orchestration.ray_runtime import start_or_join_ray, shutdown_ray
    info = start_or_join_ray(sys.argv[1])
    try:
        print(info.node_id, info.namespace, info.auth_mode, os.environ["RAY_AUTH_MODE"],
              ray.get(ray.get_actor("probe").node.remote(), timeout=30), flush=True)
    finally:
        shutdown_ray()
    """
)


@ray.remote(num_cpus=0)
class Probe:
    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def auth_mode(self) -> str | None:
        return os.environ.get("RAY_AUTH_MODE")


def test_local_ray_start_then_join_from_another_process(clean_auth_env):
    temp_dir = tempfile.mkdtemp(prefix="rarb-")  # short: Ray's socket paths must stay under ~107 characters
    metrics_port = free_port()
    try:
        info = start_or_join_ray(num_cpus=1, temp_dir=temp_dir, metrics_export_port=metrics_port,
                                 object_store_memory=100 * 1024 * 1024)
        assert info.started_locally and info.namespace == RAYARB_NAMESPACE == "rayarb"
        assert info.auth_mode == "disabled" == os.environ["RAY_AUTH_MODE"]
        assert info.dashboard_url is None and info.metrics_export_port == metrics_port
        assert info.session_dir and info.session_dir.startswith(temp_dir)
        assert ray.get_runtime_context().namespace == "rayarb"
        assert not (clean_auth_env / ".ray" / "auth_token").exists()  # Ray's default would have created it

        probe = Probe.options(name="probe").remote()
        assert ray.get(probe.auth_mode.remote(), timeout=60) == "disabled"  # inherited by Ray's workers
        deadline = time.monotonic() + 30
        while True:  # the per-node metrics agent (ray[default]) serves on the requested port
            try:
                socket.create_connection(("127.0.0.1", metrics_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "metrics export port never opened"
                time.sleep(0.5)

        with pytest.raises(RayStartError, match="already initialised"):
            start_or_join_ray()

        env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
        result = subprocess.run([sys.executable, "-c", JOIN_SCRIPT, info.address], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=90)
        assert result.returncode == 0, result.stderr[-2000:]
        node_id, namespace, auth_mode, env_mode, actor_node = result.stdout.split()
        assert (node_id, namespace, auth_mode, env_mode) == (info.node_id, "rayarb", "disabled", "disabled")
        assert actor_node == info.node_id  # the joined driver reached the named actor in the rayarb namespace
    finally:
        shutdown_ray()
        shutdown_ray()  # idempotent
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not ray.is_initialized()
