"""What the hot-path actors (exchange connections, detector, order manager) do to their event-loop thread once
started: real-time scheduling, and the startup objects taken out of the garbage collector's reach.

Every hop of the hot path wakes a thread in another actor process. Under the normal (fair) policy a woken thread may
wait for another process to use up its time slice first, and on a busy machine those waits make up most of the tail
of tick-to-order latency (BENCHMARKS.md: p99 17 -> 8 ms on two cores). A thread under ``SCHED_FIFO`` runs as soon as it
is woken. Only the event-loop threads of the exchange actors, the detector and the order manager ask for it: they
sleep between messages, so they take little CPU, and the kernel keeps a share of every CPU for normal threads even if
one of them spins.

The process needs the right (root, CAP_SYS_NICE, or an RLIMIT_RTPRIO of at least the priority); without it the thread
keeps the normal policy and says why.

A full collection of a process that has imported Ray, ccxt and pandas walks a quarter of a million objects (tens of
milliseconds with the loop stopped); frozen once started, those objects are never walked again.
"""
from __future__ import annotations

import gc
import logging
import os
import threading

logger = logging.getLogger(__name__)

MAX_REALTIME_PRIORITY = 49  # stay below the kernel's own real-time threads (50 and up)
CAP_SYS_NICE = 23


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


def prepare_hot_path_thread(realtime_priority: int) -> str:
    """Called on the event-loop thread at the end of an actor's start; returns the scheduling policy it got."""
    gc.freeze()
    return run_in_realtime(realtime_priority)
