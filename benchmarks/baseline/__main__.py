"""``python -m benchmarks.baseline``: run the baseline bot once. Reads one JSON object on stdin (``strategy`` and ``risk``:
the run config's sections as plain data; ``symbols``; ``venues``: name -> [ccxt id, url, key, secret,
passphrase]; ``seconds``; ``realtime_priority``; ``cpu_wake_latency_us``; ``out``: a file), so no key is on a command
line or in an environment, and writes one JSON object to ``out``: its samples and counts."""
from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import uvloop

from benchmarks.baseline.bot import BaselineBot
from execution.log import configure_logging


async def run(spec: dict) -> dict:
    venues = {name: tuple(entry) for name, entry in spec["venues"].items()}
    bot = BaselineBot(venues, list(spec["symbols"]), SimpleNamespace(**spec["strategy"]),
                      SimpleNamespace(**spec["risk"]))
    try:
        await bot.start()
        await bot.run(float(spec["seconds"]), realtime_priority=int(spec.get("realtime_priority", 0)),
                      cpu_wake_latency_us=spec.get("cpu_wake_latency_us"))
    finally:
        await bot.close()
    return {"samples": bot.samples, "books": bot.books, "detected": bot.detected, "taken": bot.taken,
            "outcomes": bot.outcomes, "scheduling": bot.scheduling}


def main() -> None:
    configure_logging("WARNING")
    spec = json.loads(sys.stdin.readline())
    result = json.dumps(uvloop.run(run(spec)))
    Path(spec["out"]).write_text(result, encoding="utf-8")  # not stdout: the loop may leave it non-blocking


if __name__ == "__main__":
    main()
