"""orchestration.ray_runtime: one RAY_AUTH_MODE decision for every process rayarb starts; rayarb's own Ray on a fresh
per-run token (a join from another process needs it, Ray's agents refuse requests without it, it is in no process
environment and gone after the run); quick clear errors for bad or unreachable addresses."""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import ray

from orchestration.ray_runtime import (
    GCS_CONNECT_ENV,
    JOIN_GCS_ATTEMPTS,
    RAYARB_NAMESPACE,
    _bounded_gcs_connect,
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


def test_own_local_ray_uses_a_token_and_joining_uses_one_when_one_exists(clean_auth_env, monkeypatch):
    home = clean_auth_env
    assert ensure_auth_mode_env() == "token" and os.environ["RAY_AUTH_MODE"] == "token"
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
    assert ensure_auth_mode_env() == "token"  # start_or_join_ray issues the run's own token: see below


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

    def environment(self) -> dict[str, str]:
        return dict(os.environ)


def run_process_environs(root_pid: int) -> dict[int, tuple[bytes, bytes]]:
    """(command line, environment at start) of ``root_pid`` and every process under it (Ray's processes of a local
    start), from /proc. A Python process of Ray's that retitles itself (``ray::...``) may overwrite that memory."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            parent = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid:")), None)
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = {}, [root_pid]
    while todo:
        pid = todo.pop()
        try:
            found[pid] = (Path(f"/proc/{pid}/cmdline").read_bytes(), Path(f"/proc/{pid}/environ").read_bytes())
        except OSError:
            continue
        todo.extend(children.get(pid, ()))
    return found


def join_in_subprocess(address: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", JOIN_SCRIPT, address], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def agent_answer(port: int, token: str | None) -> int:
    """HTTP status of a request to the runtime-env agent (the one that builds a worker's environment)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/get_runtime_envs_info", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def test_local_ray_runs_with_a_fresh_token_that_a_joining_process_needs(clean_auth_env, monkeypatch):
    home = clean_auth_env
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("s" * 64)  # a stray token: rayarb's own Ray does not use it
    monkeypatch.setenv("RAY_AUTH_TOKEN", "u" * 64)  # a token in clear for another cluster: set aside while Ray runs
    temp_dir = tempfile.mkdtemp(prefix="rarb-")  # short: Ray's socket paths must stay under ~107 characters
    metrics_port = free_port()
    token_path = None
    try:
        info = start_or_join_ray(num_cpus=1, temp_dir=temp_dir, metrics_export_port=metrics_port,
                                 object_store_memory=100 * 1024 * 1024)
        assert info.started_locally and info.namespace == RAYARB_NAMESPACE == "rayarb"
        assert info.auth_mode == "token" == os.environ["RAY_AUTH_MODE"]
        assert info.address.startswith("127.0.0.1:")
        assert info.dashboard_url is None and info.metrics_export_port == metrics_port
        assert info.session_dir and info.session_dir.startswith(temp_dir)
        assert ray.get_runtime_context().namespace == "rayarb"

        # a fresh token, readable by this user only, named by its path and never itself in an environment
        token_path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
        token = token_path.read_text()
        assert len(token) == 64 and token != "s" * 64 and int(token, 16) >= 0
        assert stat.S_IMODE(token_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(token_path.parent.stat().st_mode) == 0o700
        assert "RAY_AUTH_TOKEN" not in os.environ

        probe = Probe.options(name="probe").remote()
        assert ray.get(probe.auth_mode.remote(), timeout=60) == "token"  # inherited by Ray's workers
        processes = run_process_environs(os.getpid())
        assert len(processes) >= 5  # this driver, gcs_server, raylet, agents, the probe's worker
        assert not [pid for pid, (_, environ) in processes.items() if token.encode() in environ or b"u" * 64 in environ]
        # the GCS and the raylet (which starts every worker and agent) were given the token's path
        servers = {name: [environ for cmdline, environ in processes.values()
                          if cmdline.split(b"\0")[0].endswith(name.encode())]
                   for name in ("gcs_server", "raylet")}
        assert all(environs and all(str(token_path).encode() in e for e in environs) for environs in servers.values())
        # and a worker's live environment holds the path, not the token
        worker_env = ray.get(probe.environment.remote(), timeout=60)
        assert worker_env["RAY_AUTH_TOKEN_PATH"] == str(token_path) and "RAY_AUTH_TOKEN" not in worker_env
        assert not [name for name, value in worker_env.items() if token in value]

        deadline = time.monotonic() + 30
        while True:  # the per-node metrics agent (ray[default]) serves on the requested port
            try:
                socket.create_connection(("127.0.0.1", metrics_port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "metrics export port never opened"
                time.sleep(0.5)

        # Ray's agents' HTTP APIs want the token
        agent_port = next(n["RuntimeEnvAgentPort"] for n in ray.nodes() if n["NodeID"] == info.node_id)
        assert agent_answer(agent_port, None) == 401
        assert agent_answer(agent_port, "0" * 64) == 403
        assert agent_answer(agent_port, token) not in (401, 403)

        with pytest.raises(RayStartError, match="already initialised"):
            start_or_join_ray()

        # another process joins with the run's token path (inherited) and reaches the named actor
        env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
        result = join_in_subprocess(info.address, env)
        assert result.returncode == 0, result.stderr[-2000:]
        node_id, namespace, auth_mode, env_mode, actor_node = result.stdout.split()
        assert (node_id, namespace, auth_mode, env_mode) == (info.node_id, "rayarb", "token", "token")
        assert actor_node == info.node_id  # the joined driver reached the named actor in the rayarb namespace

        # without the token, or with another one, it cannot (the three tries run at once: a refused join retries)
        without = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
        (home / "wrong-token").write_text("0" * 64)
        refused_envs = {"no token": dict(without, RAY_AUTH_MODE="disabled"),
                        "the stray ~/.ray/auth_token": dict(without, RAY_AUTH_MODE="token"),
                        "a wrong token": dict(without, RAY_AUTH_MODE="token",
                                              RAY_AUTH_TOKEN_PATH=str(home / "wrong-token"))}
        tries = {name: subprocess.Popen([sys.executable, "-c", JOIN_SCRIPT, info.address], cwd=REPO, env=refused_env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, refused_env in refused_envs.items()}
        try:
            for name, process in tries.items():
                stdout, stderr = process.communicate(timeout=120)
                assert process.returncode != 0 and "RayStartError: could not join" in stderr, (name, stdout)
        finally:
            for process in tries.values():
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
    finally:
        shutdown_ray()
        shutdown_ray()  # idempotent
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not ray.is_initialized()
    # the token is gone with the Ray, and the environment is as it was
    assert token_path is not None and not token_path.exists() and not token_path.parent.exists()
    assert not {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH"} & set(os.environ)
    assert os.environ["RAY_AUTH_TOKEN"] == "u" * 64
    assert (home / ".ray" / "auth_token").read_text() == "s" * 64


def test_an_explicitly_disabled_local_ray_has_no_token(clean_auth_env, monkeypatch):
    """RAY_AUTH_MODE=disabled set by the user (as this suite does for its throw-away Rays) is kept: no token file."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    temp_dir = tempfile.mkdtemp(prefix="rarb-")
    try:
        info = start_or_join_ray(num_cpus=1, temp_dir=temp_dir, object_store_memory=100 * 1024 * 1024)
        assert info.auth_mode == "disabled" and "RAY_AUTH_TOKEN_PATH" not in os.environ
        assert ray.get(Probe.remote().auth_mode.remote(), timeout=60) == "disabled"
    finally:
        shutdown_ray()
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert os.environ["RAY_AUTH_MODE"] == "disabled"
    assert not (clean_auth_env / ".ray" / "auth_token").exists()  # Ray's default would have created it


def test_a_join_asks_the_gcs_a_few_times_unless_the_operator_set_rays_own_limit(monkeypatch):
    monkeypatch.delenv(GCS_CONNECT_ENV, raising=False)
    with _bounded_gcs_connect():  # a refused token is not mended by Ray's 20 retries a second apart
        assert os.environ[GCS_CONNECT_ENV] == str(JOIN_GCS_ATTEMPTS)
    assert GCS_CONNECT_ENV not in os.environ
    monkeypatch.setenv(GCS_CONNECT_ENV, "120")  # a head restarting over a large state: the operator's budget
    with _bounded_gcs_connect():
        assert os.environ[GCS_CONNECT_ENV] == "120"
    assert os.environ[GCS_CONNECT_ENV] == "120"
