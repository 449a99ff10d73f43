"""The run's live status: redrawn in place on a terminal, one line per interval anywhere else."""
from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

from orchestration.config import Mode, RunOptions
from orchestration.main_job import MainJob
from orchestration.report import LiveStatus


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def job_printing_to(stream) -> MainJob:
    job = MainJob(RunOptions(config=None, mode=Mode.LOCAL_SIM, run_dir=Path("unused")), status_stream=stream)
    ticks = iter(range(1, 100))
    job.status = lambda: LiveStatus(uptime_s=next(ticks), mode="local-sim", book_age_ms={"alpha": 3.0},
                                    opportunities_taken=2, pnl_total=Decimal("0.123456789"))
    return job


def test_not_a_terminal_gets_one_line_per_interval():
    stream = io.StringIO()
    job = job_printing_to(stream)
    for _ in range(3):
        job._print_status()
    job._end_status()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and "\x1b" not in stream.getvalue()
    assert lines[2].startswith("rayarb local-sim up 0:00:03 | opps 0 detected / 2 taken")
    assert "PnL +0.12345679 USDT | books: alpha 3ms" in lines[2]


def test_a_terminal_gets_the_block_redrawn_in_place():
    stream = Terminal()
    job = job_printing_to(stream)
    for _ in range(3):
        job._print_status()
    job._end_status()
    text = stream.getvalue()
    assert "up 0:00:01" in text and "up 0:00:03" in text
    # before each new block the previous one is erased and the cursor moved up over it: a redraw, not a scroll
    redraws = [part for part in text.split("rayarb local-sim up")[1:-1] if "\x1b[2K" in part and "\x1b[1A" in part]
    assert len(redraws) >= 2
