"""The metrics of one actor process: ``RayarbMetrics`` built once, after the process joined its node's multiprocess
metrics directory under the run's ``metrics_dir`` (``metrics.exporter``), with every configured label initialised;
and ``StartTimeline``, where the process's start-up went."""
from __future__ import annotations

import functools
import time
from collections.abc import Iterable

from metrics.definitions import RayarbMetrics
from metrics.exporter import enable_multiprocess


@functools.cache
def _process_metrics(metrics_dir: str | None) -> RayarbMetrics:
    enable_multiprocess(metrics_dir)
    return RayarbMetrics()


def process_metrics(exchanges: Iterable[str] = (), symbols: Iterable[str] = (), detector_shards: int = 1, *,
                    metrics_dir: str | None = None, standby_roles: Iterable[str] = ()) -> RayarbMetrics:
    """``metrics_dir``: the run's base directory of metric files (``Deployment.metrics_dir``); None: in-process
    only. ``standby_roles``: the actors with a standby (``<name>~2``; the supervisor's metrics)."""
    metrics = _process_metrics(metrics_dir)
    exchanges, symbols = tuple(exchanges), tuple(symbols)
    if exchanges or symbols:
        metrics.init_labels(exchanges, symbols, detector_shards, standby_roles)
    return metrics


class StartTimeline:
    """Where one actor process's start-up went: each step's name and the wall clock when it was done, from the end of
    its constructor (``constructed``) on; in its health answer: what a slow restart spent its time on."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str) -> None:
        self.steps.append((name, time.time()))
