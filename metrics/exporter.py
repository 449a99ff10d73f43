"""Export the metrics of every rayarb process on every Ray node through one Prometheus scrape configuration.

Mechanism (chosen by measurement, see docs/metrics.md): prometheus_client's multiprocess mode. Every rayarb process
writes its metric values to mmap'd files in a per-node directory ``<base_dir>/<node_id>``; one HTTP endpoint per node
reads that directory at each scrape (``MultiProcessCollector``) and serves the sum of all processes of the node, the
files of dead processes included, so counters only go up across actor restarts.

- ``enable_multiprocess(base_dir)``: called first thing in every rayarb actor (the run's base directory is
  ``Deployment.metrics_dir``) before ``RayarbMetrics`` is built; switches prometheus_client to multiprocess values
  even when it was imported before (the driver imports it during ``ray.init``).
- ``serve_directory(path, port)``: serves one node's directory on 127.0.0.1:port (``rayarb run --metrics-port``).
- ``NodeMetricsExporter`` / ``ClusterMetricsExport``: one small exporter actor pinned to each other node, and a
  Prometheus file_sd JSON listing one target per node.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import json
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_BIND_HOST = "127.0.0.1"
# metrics/prometheus.yml reads every *.json here; one file per run, so concurrent runs do not overwrite each other.
DEFAULT_FILE_SD_DIR = "/tmp/rayarb/prometheus/file_sd"
RAY_TIMEOUT_S = 30.0


class MetricsDirError(OSError):
    """A run's metrics directory exists but is not a private directory of this user."""


def run_base_dir(run_dir: str | os.PathLike[str], root: str | None = None) -> str:
    """The base directory of one run directory's metric files, the same for every driver of that run: a
    ``rayarb run --resume`` whose actors lived through the driver before it (they are detached, and write where that
    driver's Deployment said) serves the files they go on writing, and its counters go on from theirs. Private to
    this user (0700); a path there that is anything else (another user's, a symlink) is ``MetricsDirError``."""
    digest = hashlib.sha256(os.path.abspath(os.fspath(run_dir)).encode()).hexdigest()[:16]
    path = os.path.join(root or tempfile.gettempdir(), f"rayarb-metrics-{digest}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise MetricsDirError(f"{path} (the metrics directory of {os.fspath(run_dir)}) exists but is not a "
                                  f"private directory of this user: remove it") from None
    return path


def default_file_sd_path(run_id: str) -> str:
    """Where a run writes its file_sd JSON so that metrics/prometheus.yml discovers it."""
    return os.path.join(DEFAULT_FILE_SD_DIR, f"rayarb-{run_id}.json")


def node_metrics_dir(base_dir: str, node_id: str) -> str:
    """The directory holding the metric files of every rayarb process on one node."""
    return os.path.join(base_dir, node_id)


def _current_node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id()


def enable_multiprocess(base_dir: str | None = None, node_id: str | None = None) -> str | None:
    """Make this process write its metrics to its node's directory; returns that directory, or None when no base
    directory is given (``Deployment.metrics_dir`` is None), in which case metrics stay in-process.

    Must run before the process builds ``RayarbMetrics``. prometheus_client picks its value class when it is imported,
    from PROMETHEUS_MULTIPROC_DIR; as it may already be imported (ray.init imports it in the driver), the value class is
    chosen again here. Metrics built before this call stay in-process and are not exported.
    """
    if not base_dir:
        return None
    path = node_metrics_dir(base_dir, node_id or _current_node_id())
    os.makedirs(path, exist_ok=True)
    current = os.environ.get(MULTIPROC_ENV)
    if current and os.path.abspath(current) != os.path.abspath(path):
        raise RuntimeError(f"this process already writes metrics to {current}, not {path}")
    os.environ[MULTIPROC_ENV] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.get_value_class()
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prune_dead_processes(path: str) -> list[int]:
    """Drop the live-mode gauge files of processes that no longer exist (SIGKILL leaves them behind).

    Counter and histogram files of dead processes are kept on purpose: they carry the counts made before a crash.
    The exporter runs on the same node as the processes, so a pid check is meaningful.
    """
    dead: set[int] = set()
    for filename in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        try:
            pid = int(os.path.basename(filename)[:-3].rsplit("_", 1)[1])
        except ValueError:
            continue
        if not _pid_alive(pid):
            dead.add(pid)
    for pid in dead:
        mark_process_dead(pid, path)
    return sorted(dead)


class NodeCollector(Collector):
    """Collects all processes' metric files of one node directory at each scrape."""

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._collector = MultiProcessCollector(None, path=path)

    def collect(self):
        prune_dead_processes(self.path)
        return self._collector.collect()


@dataclass
class MetricsServer:
    """A running /metrics HTTP endpoint."""

    host: str
    port: int
    path: str
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_directory(path: str, port: int = 0, host: str = DEFAULT_BIND_HOST) -> MetricsServer:
    """Serve the metric files of one node directory on host:port (port 0: a free port)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(path))
    server, thread = start_http_server(port, addr=host, registry=registry)
    bound_port = server.server_address[1]
    logger.info("metrics of %s served on http://%s:%d/metrics", path, host, bound_port)
    return MetricsServer(host=host, port=bound_port, path=path, _server=server, _thread=thread)


# ---------------------------------------------------------------- one exporter per node
@dataclass(frozen=True)
class ExportTarget:
    """One scrape target: a node's endpoint."""

    node_id: str
    address: str  # host:port as Prometheus should dial it
    node_ip: str


class NodeMetricsExporter:
    """Ray actor (see ``exporter_actor_class``) pinned to one node; serves that node's directory."""

    def __init__(self, base_dir: str, host: str = DEFAULT_BIND_HOST, port: int = 0) -> None:
        import ray

        self.node_id = ray.get_runtime_context().get_node_id()
        self.node_ip = ray.util.get_node_ip_address()
        self._server = serve_directory(node_metrics_dir(base_dir, self.node_id), port=port, host=host)

    def target(self) -> ExportTarget:
        host = self._server.host
        dial_host = self.node_ip if host in ("0.0.0.0", "::", "") else host
        return ExportTarget(node_id=self.node_id, address=f"{dial_host}:{self._server.port}", node_ip=self.node_ip)

    def ping(self) -> bool:
        return True

    def close(self) -> None:
        self._server.close()


@functools.cache
def exporter_actor_class():
    """The Ray actor class of ``NodeMetricsExporter`` (made on demand so importing this module needs no Ray)."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)(NodeMetricsExporter)


def file_sd_entries(targets: Iterable[ExportTarget]) -> list[dict]:
    return [{"targets": [t.address], "labels": {"node_id": t.node_id, "node_ip": t.node_ip}}
            for t in sorted(targets, key=lambda t: t.address)]


def write_file_sd(path: str, targets: Iterable[ExportTarget]) -> None:
    """Write a Prometheus file_sd JSON atomically (Prometheus may read it at any moment)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".file_sd-", dir=directory)
    with os.fdopen(fd, "w") as handle:
        json.dump(file_sd_entries(targets), handle, indent=1)
    os.replace(tmp, path)


class ClusterMetricsExport:
    """Endpoints for every alive node of the connected Ray cluster, and the file_sd JSON that lists them.

    The local node is served from this process (on ``local_port`` when given, e.g. ``--metrics-port``); every other
    node gets a ``NodeMetricsExporter`` actor pinned to it with a hard NodeAffinitySchedulingStrategy. ``refresh()``
    adds exporters for nodes that joined later and rewrites the file.
    """

    def __init__(self, base_dir: str, file_sd_path: str, host: str = DEFAULT_BIND_HOST,
                 local_port: int | None = 0, node_port: int = 0) -> None:
        self.base_dir = base_dir
        self.file_sd_path = file_sd_path
        self.host = host
        self.local_port = local_port
        self.node_port = node_port
        self.local_server: MetricsServer | None = None
        self.local_node_id: str | None = None
        self._actors: dict[str, object] = {}
        self.targets: dict[str, ExportTarget] = {}

    def start(self) -> list[ExportTarget]:
        import ray

        self.local_node_id = ray.get_runtime_context().get_node_id()
        if self.local_port is not None:
            # Serve the directory without switching this process to multiprocess mode: the driver records nothing,
            # and a PROMETHEUS_MULTIPROC_DIR in its environment would leak into the Ray workers it starts.
            path = node_metrics_dir(self.base_dir, self.local_node_id)
            os.makedirs(path, exist_ok=True)
            self.local_server = serve_directory(path, port=self.local_port, host=self.host)
            host = self.local_server.host
            node_ip = ray.util.get_node_ip_address()
            dial_host = node_ip if host in ("0.0.0.0", "::", "") else host
            self.targets[self.local_node_id] = ExportTarget(
                self.local_node_id, f"{dial_host}:{self.local_server.port}", node_ip)
        return self.refresh()

    def refresh(self) -> list[ExportTarget]:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        for node_id in sorted(alive):
            if node_id in self._actors or (node_id == self.local_node_id and self.local_server is not None):
                continue
            options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
                       "name": f"rayarb_metrics_exporter_{node_id[:16]}", "get_if_exists": True}
            self._actors[node_id] = exporter_actor_class().options(**options).remote(
                self.base_dir, self.host, self.node_port)
        # Ask every exporter again: a restarted one may listen on another port, a dead node's one is dropped.
        pending = {node_id: actor.target.remote() for node_id, actor in self._actors.items() if node_id in alive}
        for node_id in list(self._actors):
            if node_id not in alive:
                self._actors.pop(node_id)
        for node_id, ref in pending.items():
            try:
                self.targets[node_id] = ray.get(ref, timeout=RAY_TIMEOUT_S)
            except Exception:  # the node may be dying; it is dropped from the targets and retried next refresh
                logger.warning("metrics exporter on node %s did not answer", node_id, exc_info=True)
                self.targets.pop(node_id, None)
                self._actors.pop(node_id, None)
        for node_id in list(self.targets):
            if node_id not in alive:
                self.targets.pop(node_id)
        write_file_sd(self.file_sd_path, self.targets.values())
        logger.info("metrics targets: %s", ", ".join(t.address for t in self.targets.values()))
        return list(self.targets.values())

    def stop(self) -> None:
        import ray

        from ray.exceptions import ActorDiedError, ActorUnschedulableError

        for node_id, actor in self._actors.items():
            try:
                ray.get(actor.close.remote(), timeout=5)
                ray.kill(actor)
            except (ActorDiedError, ActorUnschedulableError):  # its node is gone, and the exporter with it
                logger.info("metrics exporter on node %s: gone with its node", node_id)
            except Exception:  # stopping must go on for the others
                logger.warning("metrics exporter actor on node %s did not stop cleanly", node_id, exc_info=True)
        self._actors.clear()
        if self.local_server is not None:
            self.local_server.close()
            self.local_server = None
        try:  # the targets are gone: Prometheus must not keep scraping them
            os.unlink(self.file_sd_path)
        except FileNotFoundError:
            pass
