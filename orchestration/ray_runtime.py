"""Starting a local Ray for rayarb, or joining a running cluster, with one consistent authentication mode.

**rayarb's own Ray listens on loopback only.** Ray 2.60 binds every port of a node to the class of the node's address:
with a routable node address the GCS, the raylet (node and object manager), every worker's and the driver's gRPC
server listen on every interface (``::``), and the dashboard, metrics, runtime-env agents and the autoscaler monitor on
``0.0.0.0`` or the node address; with node address ``127.0.0.1`` all of them listen on ``127.0.0.1`` (gRPC's sockets
show as ``::ffff:127.0.0.1``), the Python agents deciding by ``ray._common.network_utils.is_localhost(node_ip)``.
``ray.init(_node_ip_address="127.0.0.1")`` alone does not give that address: ``ray.init`` replaces a loopback address
by the machine's routable one (``services.resolve_ip_for_localhost``) unless Ray's local-only switch is on
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, Ray's default on macOS and Windows). ``start_or_join_ray`` therefore turns
the switch on while its Ray starts (``loopback_node_address``: the environment for the processes Ray starts,
``ray_constants`` for this one), restores it afterwards, and stops the Ray again with ``RayStartError`` if its node
address is not loopback. Measured on Linux by ``tests/orchestration/test_listeners.py``, which lists the listening
sockets of every process of a ``rayarb run``: before, 19 of 30 in one run were on ``::``, ``0.0.0.0`` or the
machine's address; now none is, so no port of rayarb's own Ray is reachable from another machine.

A process that joins such a Ray by a loopback address (``127.0.0.1:PORT``, ``localhost:PORT``) goes through the same
switch: otherwise Ray would dial the machine's routable address, where nothing listens. Ray's own command-line tools
need it as well, with the run's token file (below, logged at start): ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0
RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH=FILE ray status --address 127.0.0.1:PORT``.

**Authentication.** Loopback keeps other machines out, not other users or programs of this one, so rayarb's own Ray
also uses token authentication, with a fresh token per run: 256 random bits in a file only this user can read (0600,
in a 0700 directory from ``tempfile.mkdtemp``), named to Ray and to every process it starts by
``RAY_AUTH_TOKEN_PATH``; the token itself is never in an environment variable. Ray's gRPC servers and its agents'
HTTP APIs (health checks aside) ask for it: a driver without it or with another token cannot join, an HTTP request
without it is answered 401, with another one 403 (``tests/orchestration/test_ray_runtime.py``). ``shutdown_ray``
deletes the file and puts the variables back.

Ray 2.60 switches token authentication on by default for a new local cluster (creating ~/.ray/auth_token), while a
process that joins by address only uses a token it can find. Every process rayarb starts must therefore agree on
``RAY_AUTH_MODE``; ``ensure_auth_mode_env`` decides it once, in the environment, so Ray's own child processes (raylet,
workers, actors) inherit the same value:

- an explicit ``RAY_AUTH_MODE`` set by the user is always kept (``disabled``: no token even on the own Ray, as the
  test suite's throw-away Rays run; ``token`` with a token already available: that token);
- rayarb's own local Ray (no address) otherwise uses ``token`` with the run's token (above);
- joining a cluster (``auto`` or ``host:port``) uses ``token`` when a token is available (``RAY_AUTH_TOKEN``,
  ``RAY_AUTH_TOKEN_PATH`` or ``~/.ray/auth_token``), which is what a real deployment (ray_cluster.yaml) runs with,
  and ``disabled`` otherwise. A process that joins rayarb's own Ray (``127.0.0.1:PORT``) needs the run's
  ``RAY_AUTH_TOKEN_PATH``.

The dashboard stays off unless asked for (on loopback when it is on). All actors live in the ``rayarb`` namespace.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from orchestration.config import UserError

logger = logging.getLogger(__name__)

RAYARB_NAMESPACE = "rayarb"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
AUTH_TOKEN_ENV = "RAY_AUTH_TOKEN"
AUTH_TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
AUTH_MODES = ("disabled", "token")
RUN_TOKEN_BYTES = 32  # 256 bits, as Ray's own generator
# The node address of rayarb's own Ray: every Ray process binds its ports to the node's address class (see above).
LOOPBACK_NODE_IP = "127.0.0.1"
# Ray's switch for "a machine that never joins a cluster" (its default on macOS and Windows): node address 127.0.0.1.
LOCAL_ONLY_SWITCH_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# ray.init(address=...) retries an unreachable GCS for minutes; a TCP probe first turns that into a quick, clear error.
CONNECT_PROBE_TIMEOUT_S = 5.0
# A joining process asks the GCS for the cluster's id up to this many times, 1 s apart (Ray's own default is 20, for any
# error: a refused token, which no retry mends, took 20 s to be said). The TCP probe has already found it listening.
# Ray's RAY_gcs_server_port_wait_time_s, when the operator sets it, is kept.
GCS_CONNECT_ENV = "RAY_gcs_server_port_wait_time_s"
JOIN_GCS_ATTEMPTS = 3
# A call to an actor whose process is gone fails at once (ActorUnavailableError while Ray restarts it) instead of
# being held 1 s for the GCS to say whether the actor is dead for good, Ray's default; KubeRay sets the same for Ray
# Serve's services. Ray restarts a SIGKILLed actor in ~0.5 s, so the supervisor's heartbeat (and any caller) reaches
# the new process 0.6-0.9 s after the kill instead of 1.8-2.0 s (benchmarks/bench_recovery.py). The config of the
# cluster, not of one process: set where a Ray is started (here, orchestration.local_cluster, ray_cluster.yaml).
FAIL_FAST_ON_DEAD_ACTORS = MappingProxyType({"timeout_ms_task_wait_for_death_info": 0})


class RayStartError(UserError):
    """Ray could not be started or joined: check the address, that the cluster runs, and its auth mode / token."""


@dataclass(frozen=True, slots=True)
class RayRuntimeInfo:
    """What ``start_or_join_ray`` connected to."""

    started_locally: bool
    address: str  # the GCS address of the cluster
    namespace: str
    node_id: str
    auth_mode: str
    dashboard_url: str | None
    session_dir: str | None  # logs and Ray's metrics service-discovery file live under its parent
    metrics_export_port: int | None
    auth_token_path: str | None = None  # the run's token file when rayarb issued one (a path, never the token)


def _token_available(environ: Mapping[str, str]) -> bool:
    if environ.get(AUTH_TOKEN_ENV):
        return True
    token_path = environ.get(AUTH_TOKEN_PATH_ENV)
    if token_path:
        return Path(token_path).expanduser().is_file()
    return (Path.home() / ".ray" / "auth_token").is_file()


def ensure_auth_mode_env(address: str | None = None) -> str:
    """Set ``RAY_AUTH_MODE`` in this process's environment (inherited by every process Ray starts) and return it.

    A value the user set is kept (``RayStartError`` if it is neither ``disabled`` nor ``token``). Otherwise: no
    ``address`` (rayarb's own local Ray) -> ``token`` (``start_or_join_ray`` issues the run's token); joining a
    cluster -> ``token`` if a token is available, else ``disabled``.
    """
    current = os.environ.get(AUTH_MODE_ENV)
    if current is not None:
        mode = current.strip().lower()
        if mode not in AUTH_MODES:
            raise RayStartError(f"{AUTH_MODE_ENV} must be one of {', '.join(AUTH_MODES)}, got {current!r}")
    elif address is None:
        mode = "token"
    else:
        mode = "token" if _token_available(os.environ) else "disabled"
    os.environ[AUTH_MODE_ENV] = mode
    _refresh_ray_config()  # even if unchanged: the cache may predate a change made by someone else
    return mode


def _refresh_ray_config() -> None:
    """Ray caches its config (auth mode included) from the environment; re-read it if Ray is loaded but not running.

    Without this, a process that imported Ray before the variable was set would start Ray in the cached mode.
    """
    if "ray._raylet" not in sys.modules:
        return
    import ray

    if ray.is_initialized():
        return
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # private API, pinned by ray>=2.60,<2.61

        Config.initialize("")  # first the mode, then the token: see ray._private.authentication_test_utils
        AuthenticationTokenLoader.instance().reset_cache()
    except (ImportError, AttributeError) as e:  # a newer Ray: ray.init re-reads the environment itself
        logger.debug("could not refresh Ray's cached config: %s", e)


def start_or_join_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    include_dashboard: bool = False,
    temp_dir: str | os.PathLike[str] | None = None,
    metrics_export_port: int | None = None,
    object_store_memory: int | None = None,
) -> RayRuntimeInfo:
    """Start a private local Ray (``address=None``) or join a cluster (``"auto"`` or ``"host:port"``).

    ``num_cpus``, ``include_dashboard``, ``temp_dir``, ``metrics_export_port`` and ``object_store_memory`` shape a
    local start; a cluster already has them, so passing them with an address is a ``RayStartError``. Failures to start
    or connect are ``RayStartError`` with one readable line.
    """
    local_only = {"num_cpus": num_cpus, "temp_dir": temp_dir, "metrics_export_port": metrics_export_port,
                  "object_store_memory": object_store_memory}
    if address is not None:
        given = [name for name, value in local_only.items() if value is not None]
        if include_dashboard:
            given.append("include_dashboard")
        if given:
            raise RayStartError(f"{', '.join(given)} only apply when rayarb starts its own Ray; "
                                f"the cluster at {address!r} already has its settings")
    if address is not None and address != "auto":
        _probe_address(address, CONNECT_PROBE_TIMEOUT_S)
    auth_before = {name: os.environ.get(name) for name in (AUTH_MODE_ENV, AUTH_TOKEN_ENV, AUTH_TOKEN_PATH_ENV)}
    auth_mode = ensure_auth_mode_env(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats prompt or upload from a trading process
    if address is None:
        # Ray starts workers at niceness 15; on the hot path each hop then waits behind any other process
        # (measured here: a paced actor hop p50 3.4 -> 2.9 ms at niceness 0).
        os.environ.setdefault("RAY_worker_niceness", "0")

    import ray

    if ray.is_initialized():
        raise RayStartError("Ray is already initialised in this process; call shutdown_ray() first")
    if address is None and auth_mode == "token" and (auth_before[AUTH_MODE_ENV] is None
                                                     or not _token_available(os.environ)):
        _issue_run_token(auth_before)
    kwargs: dict[str, Any] = {"namespace": RAYARB_NAMESPACE}
    if address is None:
        kwargs.update(
            _node_ip_address=LOOPBACK_NODE_IP,
            # "local": always a private new Ray; with no address Ray would join whatever cluster was started last on
            # this machine (/tmp/ray/ray_current_cluster), e.g. someone else's.
            address="local",
            num_cpus=num_cpus,
            include_dashboard=include_dashboard,
            _temp_dir=str(Path(temp_dir).resolve()) if temp_dir is not None else None,
            _metrics_export_port=metrics_export_port,
            object_store_memory=object_store_memory,
            _system_config=dict(FAIL_FAST_ON_DEAD_ACTORS),
        )
    else:
        kwargs["address"] = address
    try:
        local = address is None or _is_loopback_address(address)
        with (loopback_node_address() if local else contextlib.nullcontext(),
              contextlib.nullcontext() if address is None else _bounded_gcs_connect()):
            context = ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        shutdown_ray()  # a half-started Ray, and the run's token
        first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        where = f"join the Ray cluster at {address!r}" if address is not None else "start a local Ray"
        raise RayStartError(f"could not {where} ({AUTH_MODE_ENV}={auth_mode}): {first_line}") from e
    except BaseException:  # interrupted: whatever Ray started goes, and the token with it
        shutdown_ray()
        raise
    if address is None:
        _check_node_ip_is_loopback(context.address_info.get("node_ip_address"))
    info = RayRuntimeInfo(
        started_locally=address is None,
        address=context.address_info.get("gcs_address") or context.address_info.get("address") or "",
        namespace=RAYARB_NAMESPACE,
        node_id=ray.get_runtime_context().get_node_id(),
        auth_mode=auth_mode,
        dashboard_url=context.dashboard_url or None,
        session_dir=context.address_info.get("session_dir"),
        metrics_export_port=metrics_export_port if address is None else None,
        auth_token_path=os.environ.get(AUTH_TOKEN_PATH_ENV) if _run_token is not None else None,
    )
    logger.info("ray %s at %s (namespace %s, auth %s%s%s)", "started" if info.started_locally else "joined",
                info.address, info.namespace, info.auth_mode,
                f", {AUTH_TOKEN_PATH_ENV}={info.auth_token_path}" if info.auth_token_path else "",
                f", dashboard {info.dashboard_url}" if info.dashboard_url else "")
    return info


@dataclass(frozen=True, slots=True)
class _RunToken:
    directory: Path
    # the auth variables as they were before, put back when the Ray stops (a user's RAY_AUTH_TOKEN among them)
    saved_env: dict[str, str | None] = field(repr=False)


_run_token: _RunToken | None = None


def _issue_run_token(saved_env: dict[str, str | None]) -> Path:
    """A fresh token for rayarb's own Ray, in a file only this user can read (0600 in a 0700 directory).

    Only its path goes into the environment (``RAY_AUTH_TOKEN_PATH``, inherited by every process Ray starts); a
    ``RAY_AUTH_TOKEN`` in the environment (a token in clear, and Ray would prefer it) is taken out while this Ray runs.
    ``shutdown_ray`` deletes the file and puts the variables back.
    """
    global _run_token
    _discard_run_token()
    directory = Path(tempfile.mkdtemp(prefix="rayarb-ray-auth-"))  # mkdtemp: mode 0700
    path = directory / "token"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_hex(RUN_TOKEN_BYTES))
    _run_token = _RunToken(directory, dict(saved_env))
    os.environ.pop(AUTH_TOKEN_ENV, None)
    os.environ[AUTH_TOKEN_PATH_ENV] = str(path)
    _refresh_ray_config()
    return path


def _discard_run_token() -> None:
    """Put the auth variables back as they were and delete the run's token (after Ray stopped)."""
    global _run_token
    token, _run_token = _run_token, None
    if token is None:
        return
    for name, value in token.saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _refresh_ray_config()  # before the file goes: nothing may reload a token that no longer exists
    shutil.rmtree(token.directory, ignore_errors=True)


@contextlib.contextmanager
def loopback_node_address() -> Iterator[None]:
    """Within the block Ray takes this machine for one that never joins a cluster: a node this process starts (by
    ``ray.init`` or ``ray.cluster_utils.Cluster``) gets node address 127.0.0.1, so all its processes listen on
    loopback, and a loopback address this process joins is dialled as given.

    ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough: Ray replaces a loopback address by the machine's
    routable one unless its local-only switch is on. The switch is read once, when ``ray`` is imported, hence the
    module constant as well as the environment (which the raylet, and through it every worker and agent, inherits).
    Both are restored afterwards so that a later join from this process behaves as usual.
    """
    from ray._private import ray_constants  # private API, pinned by ray>=2.60,<2.61

    saved_env = os.environ.get(LOCAL_ONLY_SWITCH_ENV)
    saved_constant = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[LOCAL_ONLY_SWITCH_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_constant
        if saved_env is None:
            os.environ.pop(LOCAL_ONLY_SWITCH_ENV, None)
        else:
            os.environ[LOCAL_ONLY_SWITCH_ENV] = saved_env


@contextlib.contextmanager
def _bounded_gcs_connect() -> Iterator[None]:
    """Within the block a join asks the GCS ``JOIN_GCS_ATTEMPTS`` times before it gives up (unless the operator set
    Ray's own limit); the variable is restored afterwards."""
    if GCS_CONNECT_ENV in os.environ:
        yield
        return
    os.environ[GCS_CONNECT_ENV] = str(JOIN_GCS_ATTEMPTS)
    try:
        yield
    finally:
        os.environ.pop(GCS_CONNECT_ENV, None)


def _is_loopback_address(address: str) -> bool:
    """``host:port`` on this machine's loopback (a local Ray such as rayarb's own): Ray must dial it as given."""
    if "://" in address:  # ray:// is Ray Client, which dials the address as given
        return False
    host = address.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_node_ip_is_loopback(node_ip: str | None) -> None:
    """Stop a local Ray whose node address is not loopback: its processes would listen on every interface."""
    try:
        loopback = node_ip is not None and ipaddress.ip_address(node_ip).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        shutdown_ray()
        raise RayStartError(f"the local Ray took node address {node_ip!r} instead of {LOOPBACK_NODE_IP}: its ports "
                            f"would be open to the network, so it was stopped")


def _probe_address(address: str, timeout_s: float) -> None:
    """Raise ``RayStartError`` unless something accepts TCP connections at ``host:port`` (or ``ray://host:port``)."""
    target = address.split("://", 1)[-1]
    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        raise RayStartError(f"a Ray address is 'auto' or HOST:PORT, got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=timeout_s):
            pass
    except OSError as e:
        raise RayStartError(f"no Ray cluster reachable at {address!r}: {e.strerror or e}") from None


def shutdown_ray() -> None:
    """Disconnect from Ray (and stop it if rayarb started it). Safe to call when Ray is not running."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    _discard_run_token()
