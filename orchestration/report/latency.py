"""Latency statistics of a run: exact nearest-rank percentiles, the cumulative histogram of report.json, and the
slowest tick-to-order samples with where their time went."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from orchestration.report.errors import ReportError

# Upper bounds (s) of the latency histogram buckets; a last "+Inf" bucket holds everything.
HISTOGRAM_BOUNDS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _nearest_rank(ordered: Sequence[float], percent: float) -> float:
    """The smallest sample with at least ``percent``% of all samples at or below it (nearest-rank method)."""
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize_latencies(samples: Iterable[float]) -> dict[str, Any]:
    """Exact percentiles of latency samples (any one unit) by the nearest-rank method: no interpolation, every reported
    percentile is an observed sample. Returns count, min, p50, p90, p99, max, mean (None when there are no samples).
    """
    values = [float(s) for s in samples]
    bad = next((v for v in values if not math.isfinite(v) or v < 0), None)
    if bad is not None:
        raise ReportError(f"latency samples must be finite and >= 0, got {bad}")
    ordered = sorted(values)
    if not ordered:
        return {"count": 0, "min": None, "p50": None, "p90": None, "p99": None, "max": None, "mean": None,
                "method": "nearest-rank"}
    return {
        "count": len(ordered),
        "min": ordered[0],
        "p50": _nearest_rank(ordered, 50),
        "p90": _nearest_rank(ordered, 90),
        "p99": _nearest_rank(ordered, 99),
        "max": ordered[-1],
        "mean": math.fsum(ordered) / len(ordered),
        "method": "nearest-rank",
    }


def slowest_ticks(tick_to_order_s: Sequence[float], stages_s: Mapping[str, Sequence[float]],
                  first_legs: Sequence[tuple[str, str, float]], count: int = 10) -> list[dict[str, Any]]:
    """The ``count`` slowest tick-to-order samples, slowest first, each with where its time went: its first leg's
    venue and client order id, the book's arrival (epoch s) and every stage's share in seconds. The three sequences
    are aligned (one entry per taken opportunity, in the same order), as the order manager keeps them."""
    if len(first_legs) != len(tick_to_order_s) or any(len(s) != len(tick_to_order_s) for s in stages_s.values()):
        raise ReportError("tick-to-order samples, their stages and their first legs must be aligned")
    slowest = sorted(range(len(tick_to_order_s)), key=tick_to_order_s.__getitem__, reverse=True)[:count]
    return [{"exchange": first_legs[i][0], "client_order_id": first_legs[i][1], "book_received_at": first_legs[i][2],
             "tick_to_order_s": tick_to_order_s[i], "stages_s": {stage: s[i] for stage, s in stages_s.items()}}
            for i in slowest]


def latency_histogram(samples_s: Iterable[float]) -> dict[str, list[Any]]:
    """A cumulative histogram like Prometheus's: ``{"le": [bounds in s..., "+Inf"], "cumulative_counts": [...]}``."""
    counts = [0] * (len(HISTOGRAM_BOUNDS_S) + 1)
    for sample in samples_s:
        index = next((i for i, bound in enumerate(HISTOGRAM_BOUNDS_S) if sample <= bound), len(HISTOGRAM_BOUNDS_S))
        counts[index] += 1
    cumulative, running = [], 0
    for count in counts:
        running += count
        cumulative.append(running)
    return {"le": [*HISTOGRAM_BOUNDS_S, "+Inf"], "cumulative_counts": cumulative}
