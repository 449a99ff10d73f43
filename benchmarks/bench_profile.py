"""Where the hot path's CPU goes: py-spy samples the exchange actors, the detector and the order manager of a trading
`rayarb run` (``run.profile: latency``, as under the side-by-side benchmark) and folds each actor's samples two ways.

- **by function** (self time: the Python function on top of the stack when sampled), the few that cost the most;
- **by component** (the package that function belongs to: ccxt, msgspec, asyncio, sqlite3, Ray, rayarb's own
  ``execution``, ``actors``, ...), so a profile says which layer to look at before which line. Native code is seen
  from the Python frame that entered it: a thread whose top frame is Ray's worker loop or a thread's root runs Ray's
  core worker, or uvloop and the C extensions it calls, and is counted as such (``NATIVE``).

Each actor's CPU share is its non-idle samples over the samples a busy core would give in the window (py-spy's
``--nonblocking``: the actor is not paused while sampled, so the profile does not slow what it measures).

    python -m benchmarks.bench_profile [--load 3x2] [--update-hz 20] [--seconds 60] [--warmup 15] [--rate 200]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from benchmarks.bench_resources import STARTUP_S, actor_pids, parse_load  # noqa: E402
from benchmarks.loads import start_venues, unified_symbols  # noqa: E402
from benchmarks.results import RESULTS, ROOT, Figure, record  # noqa: E402
from tests.integration.runs import BackgroundRun, account_orders, make_job, wait_for  # noqa: E402

# ``name (path)`` or ``name (path:line)``: one frame of py-spy's folded ("raw") output
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")
_STDLIB_HINTS = ("/lib/python3", "<frozen ")
# A thread sampled running with one of these on top runs native code below it, which py-spy does not see without
# --native (pausing the process): Ray's core worker under the main thread's loop, or a thread's C event loop (uvloop)
# and the C extensions it calls straight from C (the socket writes, TLS).
NATIVE = {"Worker.main_loop": "native: Ray's core worker", "Thread.run": "native: under a thread's event loop",
          "Thread._bootstrap_inner": "native: under a thread's event loop"}
TOP_FUNCTIONS = 5


def component(path: str) -> str:
    """The layer a source file belongs to: a third-party package, the standard library or rayarb's own package."""
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        return package.removesuffix(".py").split(".")[0]
    root = str(ROOT) + "/"
    if path.startswith(root):
        return "rayarb " + path[len(root):].split("/", 1)[0].removesuffix(".py")
    if any(hint in path for hint in _STDLIB_HINTS):
        module = path.rsplit("/lib/python3", 1)[-1].split("/", 2)
        return "python " + (module[1].removesuffix(".py") if len(module) > 1 else path)
    return path or "unknown"


def fold(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """py-spy's folded stacks (``frame;frame;...;frame count`` per line, the root first) -> samples by the top
    frame's function (Python functions only), by its component (native code included), and in all."""
    by_function: Counter[str] = Counter()
    by_component: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        top = stack.rsplit(";", 1)[-1]
        match = _FRAME.match(top)
        name, path = (match["name"], match["path"]) if match else (top, "")
        where = NATIVE.get(name) or component(path)
        if name not in NATIVE:
            by_function[f"{name} ({where})"] += int(count)
        by_component[where] += int(count)
        total += int(count)
    return by_function, by_component, total


def profile(pids: dict[str, int], seconds: float, rate: int, directory: Path) -> dict[str, Any]:
    """py-spy on every actor at once for ``seconds``; each actor's folded samples."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    processes = {}
    for name, pid in pids.items():
        out = directory / f"{name.replace(':', '-')}.folded"
        processes[name] = (out, subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
             "--nonblocking", "--function", "--full-filenames", "--format", "raw", "--output", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (out, process) in processes.items():
        _, err = process.communicate(timeout=seconds + 120)
        if process.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy on {name} (pid {pids[name]}) failed: {err.strip()[-300:]}")
        by_function, by_component, total = fold(out.read_text())
        results[name] = {"samples": total, "cpu_share": total / (rate * seconds),
                         "functions": by_function.most_common(12), "components": by_component.most_common(8)}
    return results


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    venues, symbols = parse_load(args.load)
    with start_venues(directory, venues, symbols, args.update_hz) as sim:
        job = make_job(sim.venues, directory / "run", duration_s=None, run={"profile": "latency"},
                       symbols=unified_symbols(symbols), cooldown_s=0.0)
        background = BackgroundRun(job).start()
        try:
            wait_for("the run to trade", lambda: background.error is None and any(
                account_orders(v.url) for v in sim.venues), timeout_s=STARTUP_S, interval_s=0.5)
            time.sleep(args.warmup)  # steady state: caches, connections and the journal warmed up
            names = tuple(n for n in job.deployment.actor_names if n != "position_tracker")
            pids = actor_pids(names)
            profiles = profile(pids, args.seconds, args.rate, directory)
            if actor_pids(names) != pids:
                raise RuntimeError("an actor restarted during the window: its profile would be partial")
        finally:
            job.stop()
            background.join(300)
    return profiles


def figures_of(profiles: dict[str, Any]) -> list[Figure]:
    figures = []
    for name, p in profiles.items():
        figures.append(Figure(f"{name}: CPU", round(100 * p["cpu_share"], 1), "% of a core"))
        for component_, samples in p["components"][:4]:
            figures.append(Figure(f"{name}: in {component_}", round(100 * samples / p["samples"], 1),
                                  "% of its samples"))
        for function, samples in p["functions"][:TOP_FUNCTIONS]:
            figures.append(Figure(f"{name}: `{function}`", round(100 * samples / p["samples"], 1),
                                  "% of its samples"))
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", default="3x2", help="venues x symbols")
    parser.add_argument("--update-hz", type=float, default=20.0, help="book updates per second per venue and symbol")
    parser.add_argument("--seconds", type=float, default=60.0, help="the profiled window")
    parser.add_argument("--warmup", type=float, default=15.0, help="seconds of trading before the window")
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rayarb-bench-profile-") as tmp:
        profiles = run(args, Path(tmp))
    print(json.dumps(profiles, indent=1))
    command = "python -m benchmarks.bench_profile " + " ".join(argv if argv is not None else sys.argv[1:])
    record("profile", "Profile of the hot path: CPU per actor, by component and by function (py-spy, self time)",
           command.strip(), figures_of(profiles), path=args.results,
           notes=f"`rayarb run` (run.profile latency) trading {args.load} venues x symbols at {args.update_hz:g} "
                 f"updates/s per venue and symbol; py-spy at {args.rate} Hz for {args.seconds:g} s after "
                 f"{args.warmup:g} s of trading, without pausing the actors. Idle time is not sampled.")
    return profiles


if __name__ == "__main__":
    main()
