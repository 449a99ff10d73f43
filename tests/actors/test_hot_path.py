"""Real-time scheduling of hot-path threads: granted where the process may, refused with a reason where it may not,
and never applied to any thread but the caller."""
from __future__ import annotations

import ctypes
import os
import resource
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from actors.hot_path import (
    CAP_SYS_NICE,
    CPU_LATENCY_DEVICE,
    MAX_CPU_WAKE_LATENCY_US,
    MAX_REALTIME_PRIORITY,
    limit_cpu_wake_latency,
    may_use_realtime_priority,
    run_in_realtime,
)

PR_CAPBSET_DROP = 24


def _in_a_new_thread(priority: int) -> tuple[str, int, int]:
    """(what the call returned, the new thread's policy, its priority) — the test's own thread is never touched."""
    result: list = []

    def work() -> None:
        answer = run_in_realtime(priority)
        tid = threading.get_native_id()
        result.append((answer, os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(10)
    return result[0]


def test_the_calling_thread_runs_fifo_at_the_priority_where_the_process_may():
    answer, policy, priority = _in_a_new_thread(7)
    if may_use_realtime_priority(7):
        assert (answer, policy, priority) == ("realtime 7", os.SCHED_FIFO, 7)
    else:
        assert (answer, policy) == ("normal (not permitted)", os.SCHED_OTHER)
    main = threading.get_native_id()
    assert os.sched_getscheduler(main) == os.SCHED_OTHER  # only the calling thread moves


def test_priority_zero_leaves_the_thread_alone():
    assert _in_a_new_thread(0) == ("normal", os.SCHED_OTHER, 0)


@pytest.mark.parametrize("priority", [-1, MAX_REALTIME_PRIORITY + 1, 99])
def test_priorities_outside_the_range_are_refused_by_name(priority):
    expected = f"realtime priority must be within 0..{MAX_REALTIME_PRIORITY}, got {priority}"
    with pytest.raises(ValueError, match=expected):
        run_in_realtime(priority)


def test_a_process_without_the_right_keeps_the_normal_policy_and_says_why():
    """An unprivileged user with no rtprio limit: what a laptop or a default container gives."""
    code = (
        "import os\n"
        "from actors.hot_path import may_use_realtime_priority, run_in_realtime\n"
        "print(may_use_realtime_priority(10), run_in_realtime(10), os.sched_getscheduler(0))\n"
    )

    def without_the_right() -> None:  # in the child, before exec: no CAP_SYS_NICE (even as root), rtprio limit 0
        resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))
        if ctypes.CDLL(None, use_errno=True).prctl(PR_CAPBSET_DROP, CAP_SYS_NICE, 0, 0, 0) != 0 and os.geteuid() == 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         preexec_fn=without_the_right, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "normal", "(not", "permitted)", str(os.SCHED_OTHER)]
    assert "real-time priority 10 not permitted" in out.stderr


def _cpu_latency_target() -> int:
    with open(CPU_LATENCY_DEVICE, "rb") as device:
        return struct.unpack("i", device.read(4))[0]


def test_a_cpu_wake_latency_request_holds_while_its_process_lives():
    code = (
        "import sys\n"
        "from actors.hot_path import limit_cpu_wake_latency\n"
        "print(limit_cpu_wake_latency(0), flush=True)\n"
        "sys.stdin.readline()\n"  # alive until the test has looked
    )
    readable = os.access(CPU_LATENCY_DEVICE, os.R_OK)
    before = _cpu_latency_target() if readable else None  # another process (tuned, say) may hold a request already
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        answer = child.stdout.readline().strip()
        if os.access(CPU_LATENCY_DEVICE, os.W_OK):
            assert answer == "cpu wake <= 0 us"
            assert _cpu_latency_target() == 0  # the kernel's target, for every CPU, while the child lives
        else:
            assert answer.startswith("cpu wake not limited (")
    finally:
        child.communicate("done\n", timeout=10)
    if readable:
        assert _cpu_latency_target() == before  # released with the process


def test_a_cpu_wake_latency_request_writes_the_bound_and_keeps_the_file_open(tmp_path):
    device = tmp_path / "cpu_dma_latency"
    device.write_bytes(b"")
    assert limit_cpu_wake_latency(25, device=str(device)) == "cpu wake <= 25 us"
    assert device.read_bytes() == struct.pack("i", 25)
    assert limit_cpu_wake_latency(None) == "cpu wake not limited"
    assert limit_cpu_wake_latency(5, device=str(tmp_path / "absent")) == \
        "cpu wake not limited (no such file or directory)"


@pytest.mark.parametrize("bound", [-1, MAX_CPU_WAKE_LATENCY_US + 1])
def test_cpu_wake_latencies_outside_the_range_are_refused_by_name(bound):
    with pytest.raises(ValueError, match=f"cpu wake latency must be within 0..{MAX_CPU_WAKE_LATENCY_US} us, got"):
        limit_cpu_wake_latency(bound)
