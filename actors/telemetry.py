"""The metrics of one actor process: ``RayarbMetrics`` built once, after the process joined its node's multiprocess
metrics directory (``metrics.exporter``), with every configured label initialised."""
from __future__ import annotations

import functools
from collections.abc import Iterable

from metrics.definitions import RayarbMetrics
from metrics.exporter import enable_multiprocess


@functools.cache
def _process_metrics() -> RayarbMetrics:
    enable_multiprocess()
    return RayarbMetrics()


def process_metrics(exchanges: Iterable[str] = (), symbols: Iterable[str] = (),
                    detector_shards: int = 1) -> RayarbMetrics:
    metrics = _process_metrics()
    exchanges, symbols = tuple(exchanges), tuple(symbols)
    if exchanges or symbols:
        metrics.init_labels(exchanges, symbols, detector_shards)
    return metrics
