"""The in-process baseline of the side-by-side benchmark: one asyncio process on uvloop doing what rayarb does, the way
a single-process bot would (``benchmarks.baseline.bot``)."""
