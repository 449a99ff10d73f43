"""The chaos campaign in CI: every fault kind once (``rayarb chaos --short``) on one run of the whole system against
mixed-dialect simulator venues (on a head and one worker node, for node_lost); every invariant holds against the venues' own records and the journal, and
``chaos.json`` holds the figures. The full campaign is ``make chaos`` (RELIABILITY.md)."""
from __future__ import annotations

import json

import pytest

from orchestration.chaos.campaign import ChaosOptions, run_campaign
from orchestration.chaos.schedule import ALL_KINDS

pytestmark = pytest.mark.ray


def test_every_fault_kind_once_breaks_no_invariant(tmp_path):
    # one worker node besides the head: node_lost has a node to lose (and the run's driver is its own process, so
    # driver_restart SIGKILLs it and resumes the run on the same journal)
    result = run_campaign(ChaosOptions(seed=5, short=True, run_dir=tmp_path, nodes=1))
    figures = json.loads((result.run_dir / "chaos.json").read_text())
    assert figures["faults_not_completed"] == {}
    assert set(figures["faults_by_kind"]) == set(ALL_KINDS)
    assert {name: lines for name, lines in result.violations.items() if lines} == {}
    assert figures["attempts"] > 0 and figures["orders"] > 0 and figures["recovery_s"]["count"] == len(ALL_KINDS)
    assert (result.run_dir / "driver-2.log").is_file()  # the driver's second life, after driver_restart, logged


@pytest.mark.slow  # make test-full: ~120 s; the takeovers are in make test (tests/integration/test_*_standby.py)
def test_actor_faults_with_standbys_break_no_invariant(tmp_path):
    # the active exchange actor killed (SIGKILL, ray.kill) and hung, a standby exchange actor per venue taking over;
    # the active detector killed both ways, and the active order manager (between an order's journal entry and its
    # send, and with opportunities in flight), their standbys taking over
    kinds = ("sigkill_exchange", "raykill_exchange", "hung_actor", "sigkill_detector", "raykill_detector",
             "sigkill_order_manager", "crash_before_send", "kill_in_flight")
    result = run_campaign(ChaosOptions(seed=7, short=True, kinds=kinds, run_dir=tmp_path, standby=True))
    figures = json.loads((result.run_dir / "chaos.json").read_text())
    assert figures["standby"] and figures["faults_not_completed"] == {}
    assert sorted(figures["faults_by_kind"]) == sorted(kinds)
    assert {name: lines for name, lines in result.violations.items() if lines} == {}
    assert figures["recovery_s"]["count"] == len(kinds) and figures["orders"] > 0
    assert figures["command"].endswith("--standby")
