"""The venues' process under real-time scheduling: they stand for exchanges on other machines, which never wait for
the trading system's CPU (the embedded venues of `rayarb run` ask for it)."""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

from actors.hot_path import may_use_realtime_priority
from orchestration.config import Mode, RunOptions
from orchestration.main_job import EMBEDDED_VENUES_REALTIME_PRIORITY, MainJob
from simulator.launcher import VenueProcess


def _policy(pid: int) -> tuple[int, int]:
    return os.sched_getscheduler(pid), os.sched_getparam(pid).sched_priority


def _expected(priority: int) -> tuple[int, int]:
    return (os.SCHED_FIFO, priority) if may_use_realtime_priority(priority) else (os.SCHED_OTHER, 0)


def test_venues_run_real_time_when_asked_and_still_trade():
    with VenueProcess(("alpha",), seed=3, realtime_priority=15) as process:
        process.start(timeout_s=60)
        assert _policy(process.pid) == _expected(15)
        with urllib.request.urlopen(process["alpha"].url + "/api/v3/depth?symbol=BTCUSDT&limit=5", timeout=5) as r:
            assert json.loads(r.read())["bids"]


def test_venues_keep_the_normal_policy_by_default():
    with VenueProcess(("alpha",), seed=3) as process:
        process.start(timeout_s=60)
        assert _policy(process.pid) == (os.SCHED_OTHER, 0)


def test_the_embedded_venues_of_a_run_without_config_share_the_machine_like_its_hot_path():
    """The no-config run has the standard profile: hot path and venues at the normal policy (a venue runs real-time,
    above the hot path, only where the hot path does too)."""
    job = MainJob(RunOptions(config=None, mode=Mode.LOCAL_SIM, run_dir=Path("unused")))
    try:
        config = job._venues()
        assert len(config.venues) == 3
        assert {v.exchange for v in config.venues} == {"binance", "okx"}  # make run trades across dialects
        okx = next(v for v in config.venues if v.exchange == "okx")
        assert okx.inline_credentials.passphrase and okx.passphrase_env
        assert config.run.profile == "standard" and config.run.realtime_priority == 0
        assert _policy(job.venue_process.pid) == (os.SCHED_OTHER, 0)
        assert EMBEDDED_VENUES_REALTIME_PRIORITY > 10  # the latency profile's hot path
    finally:
        job.venue_process.stop()
