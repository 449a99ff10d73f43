"""A `rayarb run` on its own local Ray listens on loopback only: every listening socket of every process of the run.

The run is the one `rayarb run` makes without a config (MainJob: embedded simulator venues, rayarb's private Ray, the
metrics exporter, every actor with its hot-path channel). While it trades, the test lists the listening TCP sockets
(and bound, unconnected UDP sockets) of the driver and of every process under it — gcs_server, raylet, the dashboard,
metrics and runtime-env agents, the autoscaler monitor, every worker, the simulator venues — from /proc/net and
/proc/<pid>/fd, and asserts each is bound to a loopback address. It then dials every one of those ports on each of the
machine's other addresses: none may answer. The run starts as `rayarb run` does by default (no RAY_AUTH_MODE): its Ray
also asks for the run's own token, which is gone when the run ends.
"""
from __future__ import annotations

import io
import ipaddress
import os
import shutil
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.config import build_run_options
from orchestration.main_job import MainJob
from orchestration.ray_runtime import LOCAL_ONLY_SWITCH_ENV
from tests.integration.runs import BackgroundRun, sim_get

pytestmark = pytest.mark.ray

STARTUP_TIMEOUT_S = 180.0  # venues, Ray and every actor on a loaded 2-core machine
TRADING_TIMEOUT_S = 120.0
RUN_END_TIMEOUT_S = 120.0
DIAL_TIMEOUT_S = 2.0
TCP_LISTEN = "0A"
UDP_UNCONNECTED = "07"


@dataclass(frozen=True)
class Listener:
    pid: int
    process: str  # comm and the start of the command line
    protocol: str  # tcp, tcp6, udp, udp6
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int

    def __str__(self) -> str:
        mapped = getattr(self.ip, "ipv4_mapped", None)
        ip = f"::ffff:{mapped}" if mapped is not None else str(self.ip)
        return f"{self.protocol} {ip}:{self.port} pid {self.pid} ({self.process})"


def _decode_address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """An address of /proc/net/{tcp,udp}{,6}: the IP as host-order 32-bit words in hex, then the port."""
    hex_ip, hex_port = hex_address.split(":")
    raw = bytes.fromhex(hex_ip)
    words = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words), int(hex_port, 16)


def _sockets_by_inode() -> dict[int, tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """Every listening TCP socket and every bound, unconnected UDP socket of this network namespace."""
    found = {}
    for protocol in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]
        except FileNotFoundError:  # no IPv6 in this kernel
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
            if protocol.startswith("tcp") and state != TCP_LISTEN:
                continue
            if protocol.startswith("udp") and (state != UDP_UNCONNECTED or _decode_address(remote)[1] != 0):
                continue
            ip, port = _decode_address(local)
            found[inode] = (protocol, ip, port)
    return found


def _parent_pid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:  # gone meanwhile
        return None
    return None


def _describe(pid: int) -> str:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "gone"
    return f"{comm}: {cmdline[:100]}"


def run_processes(root_pid: int, marker: str) -> set[int]:
    """``root_pid``, every process under it, and any process whose command line names ``marker`` (the run's Ray
    temp dir: a Ray process that was re-parented still belongs to the run)."""
    children: dict[int, list[int]] = {}
    named = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        parent = _parent_pid(pid)
        if parent is not None:
            children.setdefault(parent, []).append(pid)
        try:
            if marker.encode() in (entry / "cmdline").read_bytes():
                named.add(pid)
        except OSError:
            pass
    found, todo = set(), [root_pid, *named]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def listeners_of(pids: set[int]) -> list[Listener]:
    sockets = _sockets_by_inode()
    result = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        inodes = set()
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
        description = _describe(pid)
        for inode in inodes & sockets.keys():
            protocol, ip, port = sockets[inode]
            result.append(Listener(pid, description, protocol, ip, port))
    return result


def is_loopback(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """127.0.0.0/8, ::1, and ::ffff:127.x.y.z (what gRPC's IPv6 socket bound to 127.0.0.1 shows)."""
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def other_addresses() -> set[str]:
    """This machine's non-loopback IPv4 addresses: the local routes of /proc/net/fib_trie, and the source address of
    the default route."""
    found = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in zip(lines, lines[1:]):
            if line.strip() == "/32 host LOCAL":
                found.add(previous.split()[-1])
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # no packet is sent: this only picks the route's source address
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return {ip for ip in found if not ipaddress.ip_address(ip).is_loopback}


def answers(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=DIAL_TIMEOUT_S):
            return True
    except OSError:
        return False


def wait_for(what: str, predicate, timeout_s: float, interval_s: float = 0.2):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def test_a_local_run_listens_on_loopback_only(tmp_path, monkeypatch):
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):  # as `rayarb run` starts: Ray's defaults
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    ray_temp = tempfile.mkdtemp(prefix="rl-", dir="/tmp")  # short: Ray's socket paths stay under ~107 characters
    status = io.StringIO()
    options = build_run_options(metrics_port=0, run_dir=tmp_path)  # `rayarb run` without a config or --address
    job = MainJob(options, sim_seed=7, status_stream=status, ray_init_kwargs={"temp_dir": ray_temp})
    run = BackgroundRun(job).start()
    try:
        wait_for("the run to trade", lambda: "trading " in status.getvalue() or run.error, STARTUP_TIMEOUT_S)
        assert run.error is None, run.error
        # an order at a venue: opportunities went over the hot-path channels, so every channel server listens
        venues = job.venue_process.venues
        wait_for("an order at a venue", lambda: any(sim_get(v.url, "/_sim/orders") for v in venues),
                 TRADING_TIMEOUT_S)

        pids = run_processes(os.getpid(), ray_temp)
        listeners = listeners_of(pids)
        processes = {listener.process for listener in listeners}
        described = "\n".join(sorted(map(str, listeners)))
        # the run's processes were all found and all listen somewhere: this test sees what it must judge
        for kind in ("gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::DetectorActor",
                     "ray::OrderManagerActor", "ray::ExchangeConnection", "simulator.cli"):
            assert any(kind in p for p in processes), f"no listener of {kind} among:\n{described}"
        assert any(listener.pid == os.getpid() for listener in listeners), described  # the driver
        assert any(listener.pid == job.venue_process.pid for listener in listeners), described

        open_to_network = [listener for listener in listeners if not is_loopback(listener.ip)]
        assert not open_to_network, ("listening beyond loopback:\n" + "\n".join(map(str, open_to_network))
                                     + f"\n\nall listeners:\n{described}")

        # and from the outside: no port of the run answers on any other address of this machine
        for ip in other_addresses():
            answering = [listener for listener in listeners if answers(ip, listener.port)]
            assert not answering, f"answering on {ip}: " + ", ".join(map(str, answering))

        import ray
        from ray._private import ray_constants

        node_ips = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}
        assert node_ips == {"127.0.0.1"}, node_ips  # what every Ray process of the node binds to
        # the switch that made the node address loopback was for Ray's start only: a later join behaves as usual
        assert LOCAL_ONLY_SWITCH_ENV not in os.environ and ray_constants.ENABLE_RAY_CLUSTER
        # and loopback is not all: the run's Ray asks for the run's token (tests/orchestration/test_ray_runtime.py)
        assert os.environ["RAY_AUTH_MODE"] == "token"
        token_path = Path(os.environ["RAY_AUTH_TOKEN_PATH"])
        assert token_path.is_file() and "RAY_AUTH_TOKEN" not in os.environ
    finally:
        job.stop()
        try:
            exit_code = run.join(RUN_END_TIMEOUT_S)
        finally:
            shutil.rmtree(ray_temp, ignore_errors=True)
    assert exit_code == 0
    assert not token_path.exists() and "RAY_AUTH_TOKEN_PATH" not in os.environ  # gone with the run's Ray
