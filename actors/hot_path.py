"""What the hot-path actors (exchange connections, detector, order manager) do to their event-loop thread once
started: real-time scheduling, a bound on how long an idle CPU takes to wake, and the startup objects taken out of the
garbage collector's reach.

Every hop of the hot path wakes a thread in another actor process. Under the normal (fair) policy a woken thread may
wait for another process to use up its time slice first, and on a busy machine those waits make up most of the tail
of tick-to-order latency (BENCHMARKS.md: p99 17 -> 8 ms on two cores). A thread under ``SCHED_FIFO`` runs as soon as it
is woken. Only the event-loop threads of the exchange actors, the detector and the order manager ask for it: they
sleep between messages, so they take little CPU, and the kernel keeps a share of every CPU for normal threads even if
one of them spins.

The process needs the right (root, CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least the priority); without it the thread
keeps the normal policy and says why.

Each hop also wakes a CPU. An idle CPU may sleep in a state it takes long to leave (on a VM: the virtual CPU halts,
and the host must schedule it again), and the woken code then runs on cold caches. A process may ask the kernel to keep
every CPU in idle states it leaves within a bound (PM QoS, ``/dev/cpu_dma_latency``, what tuned's latency-performance
profile does), for as long as the process lives; 0 keeps idle CPUs polling. On the 2-core VM this took tick-to-order
from p50 3.7 / p99 7.9 ms to 3.1 / 5.4 ms (BENCHMARKS.md). It costs power: idle CPUs poll while a run lasts.

A full collection of a process that has imported Ray, ccxt and pandas walks a quarter of a million objects (tens of
milliseconds with the loop stopped); frozen once started, those objects are never walked again.
"""
from __future__ import annotations

import gc
import logging
import os
import struct
import threading

logger = logging.getLogger(__name__)

MAX_REALTIME_PRIORITY = 49  # stay below the kernel's own real-time threads (50 and up)
CAP_SYS_NICE = 23
CPU_LATENCY_DEVICE = "/dev/cpu_dma_latency"
MAX_CPU_WAKE_LATENCY_US = 1_000_000
_cpu_latency_requests: list[int] = []  # open files: each request lasts while its file stays open


def may_use_realtime_priority(priority: int) -> bool:
    """Whether this process may put a thread under ``SCHED_FIFO`` at ``priority`` (CAP_SYS_NICE or its rtprio
    limit), without trying."""
    try:
        with open("/proc/self/status") as status:
            effective = next(int(line.split()[1], 16) for line in status if line.startswith("CapEff:"))
        if effective & (1 << CAP_SYS_NICE):
            return True
    except (OSError, StopIteration, ValueError):
        pass
    try:
        import resource
        soft, _hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    except (ImportError, AttributeError):  # not a Linux
        return False
    return soft == resource.RLIM_INFINITY or soft >= priority


def run_in_realtime(priority: int) -> str:
    """Move the calling thread to ``SCHED_FIFO`` at ``priority`` (0: leave it alone). Returns what it runs under,
    e.g. ``"realtime 10"`` or ``"normal (not permitted)"``, for health checks and the run report."""
    if not 0 <= priority <= MAX_REALTIME_PRIORITY:
        raise ValueError(f"realtime priority must be within 0..{MAX_REALTIME_PRIORITY}, got {priority}")
    if priority == 0:
        return "normal"
    if not hasattr(os, "sched_setscheduler"):
        return "normal (real-time scheduling is not available on this platform)"
    thread_id = threading.get_native_id()
    try:
        os.sched_setscheduler(thread_id, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        reason = "not permitted" if isinstance(exc, PermissionError) else os.strerror(exc.errno or 0)
        logger.warning("hot-path thread stays under the normal policy: real-time priority %d %s", priority, reason)
        return f"normal ({reason})"
    return f"realtime {priority}"


def limit_cpu_wake_latency(max_us: int | None, device: str = CPU_LATENCY_DEVICE) -> str:
    """Ask the kernel to keep every CPU in idle states it leaves within ``max_us`` microseconds, for the rest of this
    process's life (None: leave the CPUs alone). Returns what holds, e.g. ``"cpu wake <= 0 us"`` or
    ``"cpu wake not limited (not permitted)"``, for health checks and the run report."""
    if max_us is None:
        return "cpu wake not limited"
    if not 0 <= max_us <= MAX_CPU_WAKE_LATENCY_US:
        raise ValueError(f"cpu wake latency must be within 0..{MAX_CPU_WAKE_LATENCY_US} us, got {max_us}")
    try:
        fd = os.open(device, os.O_WRONLY)
    except OSError as exc:
        reason = "not permitted" if isinstance(exc, PermissionError) else os.strerror(exc.errno or 0)
        logger.warning("idle CPUs may sleep deeply: cpu wake latency %d us %s", max_us, reason)
        return f"cpu wake not limited ({reason.lower()})"
    try:
        os.write(fd, struct.pack("i", max_us))
    except OSError as exc:
        os.close(fd)
        return f"cpu wake not limited ({os.strerror(exc.errno or 0).lower()})"
    _cpu_latency_requests.append(fd)
    return f"cpu wake <= {max_us} us"


def prepare_hot_path_thread(realtime_priority: int, cpu_wake_latency_us: int | None = None) -> str:
    """Called on the event-loop thread at the end of an actor's start; returns what it got, e.g.
    ``"realtime 10, cpu wake <= 0 us"``."""
    gc.freeze()
    return f"{run_in_realtime(realtime_priority)}, {limit_cpu_wake_latency(cpu_wake_latency_us)}"
