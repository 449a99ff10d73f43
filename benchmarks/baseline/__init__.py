"""The in-process baseline of the side-by-side benchmark: one asyncio process on uvloop doing what rayarb does, the way
a single-process bot would (``benchmarks.baseline.bot``). ``run_bot`` runs it in a process of its own."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.results import ROOT


def run_bot(venues: Any, symbols: list[str], config: Any, seconds: float, directory: Path, *,
            realtime_priority: int = 0, cpu_wake_latency_us: int | None = None,
            window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Run the bot for ``seconds`` against the simulator ``venues`` (``simulator.launcher``'s) with ``config``'s
    strategy and risk sections, and return what it wrote (``benchmarks/baseline/__main__.py``). ``window``: (after,
    length) in seconds of its run, over which it also measures its own CPU, books, opportunities and memory."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = {
        "venues": {v.name: [v.dialect or "binance", v.url, v.api_key, v.secret, v.passphrase or None] for v in venues},
        "symbols": symbols, "seconds": seconds,
        "strategy": config.strategy.model_dump(mode="json"), "risk": config.risk.model_dump(mode="json"),
        "realtime_priority": realtime_priority, "cpu_wake_latency_us": cpu_wake_latency_us,
        "window": None if window is None else list(window), "out": str(directory / "baseline.json"),
    }
    child = subprocess.run([sys.executable, "-m", "benchmarks.baseline"], input=json.dumps(spec) + "\n",
                           capture_output=True, text=True, cwd=ROOT, timeout=seconds + 180)
    if child.returncode != 0:
        raise SystemExit(f"baseline failed ({child.returncode}): {child.stderr.strip().splitlines()[-1:]}")
    return json.loads(Path(spec["out"]).read_text(encoding="utf-8"))
