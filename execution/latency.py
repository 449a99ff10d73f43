"""Latency bookkeeping of the order manager: when each order's request was sent and answered, tick-to-order per
opportunity and where it went stage by stage. Timing only: nothing here is about money, and a restart starting it
empty loses samples, never a figure the journal holds.

Stages of tick-to-order: ``detect`` (book received -> opportunity detected: hop 1 and detection), ``handoff``
(detected -> the order manager has it: hop 2), ``submit`` (-> the exchange actor begins placing the first leg: risk
check, journal, hop 3), ``request`` (-> its signed request goes to the kernel).
"""
from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any

MAX_LATENCY_SAMPLES = 100_000
STAGES = ("detect", "handoff", "submit", "request")


class LatencyRecorder:
    def __init__(self, max_samples: int = MAX_LATENCY_SAMPLES) -> None:
        self.sent_at: dict[str, tuple[float, float, float]] = {}  # client order id -> (sent, answered, placing began)
        self.tick_to_order_s: deque[float] = deque(maxlen=max_samples)
        # per tick-to-order sample: its first leg (venue, client order id) and the book's arrival (epoch s)
        self.first_legs: deque[tuple[str, str, float]] = deque(maxlen=max_samples)
        self.round_trip_s: deque[float] = deque(maxlen=max_samples)  # leg sent -> venue's answer
        self.stage_s: dict[str, deque[float]] = {stage: deque(maxlen=max_samples) for stage in STAGES}

    def order_answered(self, client_order_id: str, sent_at: float, acked_at: float, started_at: float) -> None:
        self.sent_at[client_order_id] = (sent_at, acked_at, started_at)
        self.round_trip_s.append(acked_at - sent_at)

    def sent(self, client_order_id: str) -> float | None:
        """When the order's request was sent (epoch s), if this process sent it."""
        times = self.sent_at.get(client_order_id)
        return None if times is None else times[0]

    def opportunity(self, legs: Iterable[tuple[str, str]], book_received_at: float, detected_at: float,
                    received_at: float) -> float | None:
        """Record tick-to-order for an opportunity whose legs (venue, client order id) were answered; returns the
        sample (s), or None when no leg was sent by this process."""
        sent = [(self.sent_at[cid], venue, cid) for venue, cid in legs if cid in self.sent_at]
        if not sent:
            return None
        (first_sent, _, first_started), venue, cid = min(sent, key=lambda item: item[0][0])
        self.first_legs.append((venue, cid, book_received_at))
        latency = max(0.0, first_sent - book_received_at)
        self.tick_to_order_s.append(latency)
        self.stage_s["detect"].append(max(0.0, detected_at - book_received_at))
        self.stage_s["handoff"].append(max(0.0, received_at - detected_at))
        self.stage_s["submit"].append(max(0.0, first_started - received_at))
        self.stage_s["request"].append(max(0.0, first_sent - first_started))
        return latency

    def summary(self, recent_samples: int | None = None) -> dict[str, Any]:
        """All samples, or only the newest ``recent_samples`` (newest first)."""
        def samples(values: deque) -> list:
            return list(values) if recent_samples is None else list(itertools.islice(reversed(values), recent_samples))

        return {
            "tick_to_order_s": samples(self.tick_to_order_s),
            "tick_to_order_first_legs": samples(self.first_legs),
            "tick_to_order_stages_s": {stage: samples(values) for stage, values in self.stage_s.items()},
            "order_round_trip_s": samples(self.round_trip_s),
        }
