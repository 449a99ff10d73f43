"""LatencyRecorder: tick-to-order from the first leg actually sent, its four stages, round trips, and the newest-first
window the live status asks for."""
from __future__ import annotations

import pytest

from execution.latency import LatencyRecorder


def test_tick_to_order_is_measured_to_the_first_leg_sent_and_split_into_stages():
    recorder = LatencyRecorder()
    # book received at 10.000, detected 10.001, order manager has it 10.002; sell leg placed first
    recorder.order_answered("buy", sent_at=10.0060, acked_at=10.0160, started_at=10.0040)
    recorder.order_answered("sell", sent_at=10.0050, acked_at=10.0090, started_at=10.0030)
    latency = recorder.opportunity([("alpha", "buy"), ("beta", "sell")], book_received_at=10.0, detected_at=10.001,
                                   received_at=10.002)
    assert latency == pytest.approx(0.005)
    summary = recorder.summary()
    assert summary["tick_to_order_first_legs"] == [("beta", "sell", 10.0)]
    stages = {stage: values[0] for stage, values in summary["tick_to_order_stages_s"].items()}
    assert stages == pytest.approx({"detect": 0.001, "handoff": 0.001, "submit": 0.001, "request": 0.002})
    assert summary["order_round_trip_s"] == pytest.approx([0.010, 0.004])
    assert recorder.sent("sell") == 10.005 and recorder.sent("never") is None


def test_an_opportunity_none_of_whose_legs_was_sent_here_has_no_sample_and_recent_windows_are_newest_first():
    recorder = LatencyRecorder(max_samples=3)
    assert recorder.opportunity([("alpha", "x")], 1.0, 1.0, 1.0) is None
    for index in range(5):
        recorder.order_answered(f"c{index}", sent_at=float(index) + 0.5, acked_at=float(index) + 1, started_at=index)
        recorder.opportunity([("alpha", f"c{index}")], float(index), float(index), float(index))
    assert recorder.summary()["tick_to_order_s"] == [0.5, 0.5, 0.5]  # bounded
    assert [leg[1] for leg in recorder.summary(recent_samples=2)["tick_to_order_first_legs"]] == ["c4", "c3"]
