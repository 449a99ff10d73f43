"""The deployment every actor unpickles carries the config's sections as plain values with the validated config's
fields (``orchestration.main_job.actor_sections``): an actor process never imports pydantic (~85 ms of each new
process's start, ~9 MiB of its memory)."""
from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from decimal import Decimal

from actors.common import Deployment, RiskSection, StrategySection, SupervisorSection
from execution.error_handler import RetryPolicy
from orchestration.config import RetryConfig, RiskConfig, StrategyConfig, SupervisorConfig, parse_config
from orchestration.main_job import actor_sections

VENUES = {"alpha": {"exchange": "binance"}, "beta": {"exchange": "okx"}}
ACTOR_MODULES = ("actors.exchange", "actors.detector", "actors.order_manager", "actors.position_tracker",
                 "actors.supervisor")


def test_each_section_has_its_config_models_fields_and_values():
    config = parse_config({"venues": VENUES,
                           "strategy": {"min_profit_bps": "2.5", "order_ttl_s": 3},
                           "risk": {"max_one_legged": 7}, "supervisor": {"exchange_standby": True},
                           "retry": {"max_attempts": 5}})
    sections = actor_sections(config)
    for name, section, model in (("strategy", StrategySection, StrategyConfig), ("risk", RiskSection, RiskConfig),
                                 ("supervisor", SupervisorSection, SupervisorConfig), ("retry", RetryPolicy, RetryConfig)):
        assert type(sections[name]) is section
        assert {f.name for f in dataclasses.fields(section)} >= set(model.model_fields), name
        assert {k: getattr(sections[name], k) for k in model.model_fields} == getattr(config, name).model_dump()
    assert sections["strategy"].min_profit_bps == Decimal("2.5") and sections["strategy"].order_ttl_s == 3.0
    assert sections["risk"].max_one_legged == 7 and sections["supervisor"].exchange_standby is True
    assert sections["retry"].max_attempts == 5


def test_an_actor_process_unpickles_its_deployment_and_imports_its_module_without_pydantic():
    config = parse_config({"venues": VENUES})
    deployment = Deployment(run_id="r", venues=(), symbols=("BTC/USDT",), journal_path="journal.sqlite",
                            **actor_sections(config))
    code = ("import pickle, sys; deployment = pickle.loads(sys.stdin.buffer.read()); "
            f"import {', '.join(ACTOR_MODULES)}; "
            "print(deployment.strategy.min_profit_bps, sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'pydantic_core') or m.startswith('orchestration.config')))")
    done = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(deployment), capture_output=True,
                          timeout=120, check=True)
    assert done.stdout.decode().split(maxsplit=1) == [str(config.strategy.min_profit_bps), "[]\n"]
