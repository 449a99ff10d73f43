"""``python -m benchmarks.baseline``: run the baseline bot once. Reads one JSON object on stdin (``strategy`` and ``risk``:
the run config's sections as plain data; ``symbols``; ``venues``: name -> [ccxt id, url, key, secret,
passphrase]; ``seconds``; ``realtime_priority``; ``cpu_wake_latency_us``; ``window``: [after, length] in seconds or
null; ``out``: a file), so no key is on a command line or in an environment, and writes one JSON object to ``out``: its
samples and counts, and over the window its own CPU time, books, opportunities taken and memory (``window``)."""
from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import uvloop

from benchmarks.baseline.bot import BaselineBot
from execution.log import configure_logging


async def run(spec: dict) -> dict:
    venues = {name: tuple(entry) for name, entry in spec["venues"].items()}
    bot = BaselineBot(venues, list(spec["symbols"]), SimpleNamespace(**spec["strategy"]),
                      SimpleNamespace(**spec["risk"]))
    window: dict[str, float] = {}
    try:
        await bot.start()
        running = bot.run(float(spec["seconds"]), realtime_priority=int(spec.get("realtime_priority", 0)),
                          cpu_wake_latency_us=spec.get("cpu_wake_latency_us"))
        if spec.get("window"):
            await asyncio.gather(running, measure(bot, *spec["window"], into=window))
        else:
            await running
    finally:
        await bot.close()
    return {"samples": bot.samples, "books": bot.books, "detected": bot.detected, "taken": bot.taken,
            "outcomes": bot.outcomes, "scheduling": bot.scheduling, "window": window or None}


async def measure(bot: BaselineBot, after_s: float, length_s: float, *, into: dict[str, float]) -> None:
    """The bot's own CPU time (every thread), books and opportunities taken over ``length_s`` seconds from
    ``after_s`` into its run, and its memory at the end (RSS, and PSS where the kernel gives it)."""
    await asyncio.sleep(after_s)
    start, cpu, books, taken = time.time(), time.process_time(), bot.books, bot.taken
    await asyncio.sleep(length_s)
    memory = psutil.Process().memory_full_info()
    into.update(start=start, end=time.time(), cpu_s=time.process_time() - cpu, books=bot.books - books,
                taken=bot.taken - taken, rss_mib=memory.rss / 2**20, pss_mib=getattr(memory, "pss", 0) / 2**20 or None)


def main() -> None:
    configure_logging("WARNING")
    spec = json.loads(sys.stdin.readline())
    result = json.dumps(uvloop.run(run(spec)))
    Path(spec["out"]).write_text(result, encoding="utf-8")  # not stdout: the loop may leave it non-blocking


if __name__ == "__main__":
    main()
