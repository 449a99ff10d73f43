"""Paper mode against simulator venues treated as real exchanges: market data comes from the venues, fills are
simulated locally against their books, and not one order reaches a venue."""
from __future__ import annotations

from decimal import Decimal

import pytest

from orchestration.config import ConfigError, Mode, resolve_mode
from orchestration.report import load_run_report
from simulator.launcher import VenueProcess
from tests.integration.runs import account_balances, actor, make_job, run_config, run_until, sim_get

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def venues():
    with VenueProcess(("alpha", "beta:okx", "gamma"), seed=3) as process:
        process.start(timeout_s=60)
        yield process.venues


def test_paper_run_trades_on_live_books_and_sends_nothing(venues, tmp_path):
    before = {e.name: account_balances(e.url) for e in venues}
    import ray

    job = make_job(venues, tmp_path, duration_s=None, run={"paper": True, "paper_balances": {"USDT": 50000, "BTC": 1,
                                                                                             "ETH": 20}})
    assert job.options.mode is Mode.PAPER
    assert run_until(job, "paper fills", lambda: ray.get(
        actor("order_manager").summary.remote(1), timeout=10)["fills"] >= 4) == 0
    report = load_run_report(job.run_dir)
    assert report.report["mode"] == "paper"
    assert report.report["fills"]["count"] > 0  # fills simulated against the venues' live books
    for e in venues:
        assert sim_get(e.url, "/_sim/orders") == [], f"an order reached {e.name} in paper mode"
        assert account_balances(e.url) == before[e.name]
    # paper fills follow the paper balances exactly: start + fills == what the paper accounts hold
    assert report.report["balance_check"]["differences"] == {}
    for fill in report.fills:
        assert fill["trade_id"].startswith("paper-") and fill["exchange_order_id"].startswith("paper-")
        assert fill["price"] > 0 and fill["amount"] > 0 and fill["fee"] >= Decimal(0)


def test_live_is_required_to_send_and_contradicts_paper(venues):
    config = run_config(venues, run={"paper": True})
    with pytest.raises(ConfigError, match="run.paper"):
        resolve_mode(config, live=True)
