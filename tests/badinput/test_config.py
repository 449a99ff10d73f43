"""Bad config files through `rayarb run --config F`: one line naming the key path (exit 2, no traceback), the file
untouched, no run directory made, nothing sent to the venues the file names (two real simulator venues, one per
dialect, whose keys are in the environment: the file is the only thing wrong)."""
from __future__ import annotations

import copy
import importlib.machinery
import sys
import types
from typing import Any, Callable

import pytest
import yaml

from orchestration.cli import main
from orchestration.config import VenueConfig, models
from tests.badinput.cases import Case
from tests.badinput.conftest import one_line_error, orders_everywhere

AREA = "Config file (`rayarb run --config F`, exit 2)"
ENV = {"alpha": ("BADINPUT_ALPHA_KEY", "BADINPUT_ALPHA_SECRET", None),
       "beta": ("BADINPUT_BETA_KEY", "BADINPUT_BETA_SECRET", "BADINPUT_BETA_PASSPHRASE")}
TOP_KEYS = ", ".join(models._TOP)  # the sections as the code has them: the table follows when one is added
VENUE_KEYS = ", ".join(name for name in VenueConfig.model_fields if name not in models._NOT_IN_FILE)


def good(simulation) -> dict[str, Any]:
    """A config that would trade the two simulator venues: each case breaks one thing in it."""
    venues = {}
    for venue in simulation:
        key_env, secret_env, passphrase_env = ENV[venue.name]
        venues[venue.name] = {"exchange": venue.dialect, "url": venue.url, "api_key_env": key_env,
                              "secret_env": secret_env}
        if passphrase_env:
            venues[venue.name]["passphrase_env"] = passphrase_env
    return {"venues": venues, "symbols": ["BTC/USDT", "ETH/USDT"], "strategy": {"max_notional_per_trade": "500"}}


def setting(path: str, value: Any) -> Callable[[dict], str]:
    """The good config with ``path`` (dotted) set to ``value``."""
    def make(raw: dict) -> str:
        raw = copy.deepcopy(raw)
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        return yaml.safe_dump(raw, sort_keys=False)
    return make


def without(path: str) -> Callable[[dict], str]:
    def make(raw: dict) -> str:
        raw = copy.deepcopy(raw)
        *parents, last = path.split(".")
        node = raw
        for part in parents:
            node = node[part]
        del node[last]
        return yaml.safe_dump(raw, sort_keys=False)
    return make


def appended(text: str) -> Callable[[dict], str]:
    return lambda raw: yaml.safe_dump(raw, sort_keys=False) + text


def replaced(old: str, new: str) -> Callable[[dict], str]:
    def make(raw: dict) -> str:
        text = yaml.safe_dump(raw, sort_keys=False)
        assert old in text
        return text.replace(old, new, 1)
    return make


def prefixed(head: bytes) -> Callable[[dict], bytes]:
    return lambda raw: head + yaml.safe_dump(raw, sort_keys=False).encode()


PASTED_KEY = "sk-7Hq2/pasted+key=="

CASES = [
    Case("unknown_top_key", "`strateg: {}` (a typo)", f"rayarb run: <F>: strateg: unknown key (allowed: {TOP_KEYS})",
         appended("strateg: {}\n")),
    Case("unknown_venue_key", "`venues.alpha.ap_key_env: K`",
         f"rayarb run: <F>: venues.alpha.ap_key_env: unknown key (allowed: {VENUE_KEYS})",
         setting("venues.alpha.ap_key_env", "K")),
    Case("wrong_type_money", "`strategy.min_profit_bps: abc`",
         "rayarb run: <F>: strategy.min_profit_bps: expected a decimal number, got 'abc'",
         setting("strategy.min_profit_bps", "abc")),
    Case("negative_limit", "`risk.loss_limit: -5`", "rayarb run: <F>: risk.loss_limit: must be > 0, got -5",
         setting("risk.loss_limit", -5)),
    Case("zero_count_limit", "`risk.max_one_legged: 0`", "rayarb run: <F>: risk.max_one_legged: must be >= 1, got 0",
         setting("risk.max_one_legged", 0)),
    Case("float_count", "`risk.max_one_legged: 2.5`",
         "rayarb run: <F>: risk.max_one_legged: expected an integer, got float", setting("risk.max_one_legged", 2.5)),
    Case("money_nan", "`strategy.max_notional_per_trade: .nan`",
         "rayarb run: <F>: strategy.max_notional_per_trade: must be finite, got nan",
         setting("strategy.max_notional_per_trade", float("nan"))),
    Case("money_infinite", "`risk.max_open_exposure: .inf`",
         "rayarb run: <F>: risk.max_open_exposure: must be finite, got inf",
         setting("risk.max_open_exposure", float("inf"))),
    Case("money_absurd_exponent", "`strategy.max_notional_per_trade: '1e999999999'`",
         "rayarb run: <F>: strategy.max_notional_per_trade: must be a plain amount (at most 30 digits before and 18 "
         "after the point), got '1e999999999'",
         setting("strategy.max_notional_per_trade", "1e999999999")),
    Case("money_bool", "`risk.loss_limit: yes`", "rayarb run: <F>: risk.loss_limit: expected a decimal number, got bool",
         setting("risk.loss_limit", True)),
    Case("seconds_with_unit", "`strategy.order_ttl_s: 2s`",
         "rayarb run: <F>: strategy.order_ttl_s: expected a number of seconds, got str",
         setting("strategy.order_ttl_s", "2s")),
    Case("venue_without_exchange", "`venues.alpha` without `exchange`",
         "rayarb run: <F>: venues.alpha.exchange: missing (a ccxt exchange id such as 'binance')",
         without("venues.alpha.exchange")),
    Case("unknown_exchange", "`venues.alpha.exchange: binanse`",
         "rayarb run: <F>: venues.alpha.exchange: 'binanse' is not a ccxt exchange id",
         setting("venues.alpha.exchange", "binanse")),
    Case("http_off_loopback", "`venues.alpha.url: http://10.1.2.3:8443`",
         "rayarb run: <F>: venues.alpha.url: plain http to 10.1.2.3, which is not this machine, would send the API "
         "key in cleartext; use https://", setting("venues.alpha.url", "http://10.1.2.3:8443")),
    Case("url_without_port", "`venues.beta.url: http://127.0.0.1`",
         "rayarb run: <F>: venues.beta.url: must look like http://HOST:PORT or https://HOST:PORT (plain http on "
         "loopback only), got 'http://127.0.0.1'", setting("venues.beta.url", "http://127.0.0.1")),
    Case("duplicate_venue", "`alpha:` twice under `venues`",
         "rayarb run: <F>: invalid YAML at line 7, column 3: duplicate key 'alpha'", replaced("  beta:", "  alpha:")),
    Case("one_venue", "only `venues.alpha`",
         "rayarb run: <F>: venues: at least two venues are needed for cross-venue arbitrage, got 1",
         without("venues.beta")),
    Case("empty_symbols", "`symbols: []`",
         "rayarb run: <F>: symbols: expected a non-empty list of unified symbols such as 'BTC/USDT'",
         setting("symbols", [])),
    Case("symbol_not_unified", "`symbols: [btcusdt]`",
         "rayarb run: <F>: symbols[0]: expected a unified symbol such as 'BTC/USDT', got 'btcusdt'",
         setting("symbols", ["btcusdt"])),
    Case("key_pasted_as_env_name", f"`venues.alpha.api_key_env: {PASTED_KEY}` (a key, not a variable name)",
         "rayarb run: <F>: venues.alpha.api_key_env: must be the NAME of an environment variable (letters, digits, "
         "underscore), not a key", setting("venues.alpha.api_key_env", PASTED_KEY)),
    Case("key_variable_not_set", "`venues.beta.secret_env: BADINPUT_UNSET`",
         "rayarb run: <F>: venues.beta.secret_env: environment variable BADINPUT_UNSET is not set",
         setting("venues.beta.secret_env", "BADINPUT_UNSET")),
    Case("timeout_below_period", "`supervisor: {heartbeat_period_s: 1, heartbeat_timeout_s: 0.5}`",
         "rayarb run: <F>: supervisor.heartbeat_timeout_s: must be >= heartbeat_period_s (1.0), got 0.5",
         setting("supervisor", {"heartbeat_period_s": 1, "heartbeat_timeout_s": 0.5})),
    Case("python_object_tag", "`x: !!python/object/apply:os.system [touch pwned]`",
         "rayarb run: <F>: invalid YAML at line 18, column 4: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object/apply:os.system'",
         appended("x: !!python/object/apply:os.system [touch pwned]\n")),
    Case("not_utf8", "a Latin-1 comment (`# caf\\xe9`) on the first line",
         "rayarb run: <F>: not UTF-8 text (byte 0xe9 at offset 5)", prefixed(b"# caf\xe9\n")),
    Case("top_level_list", "`- venues` (a list, not a mapping)",
         "rayarb run: <F>: (top level): expected a mapping, got list", lambda raw: "- venues\n"),
]


@pytest.fixture
def run_refused(monkeypatch):
    """A config that passes must not start a run here: the stand-in main job fails the test."""
    module = types.ModuleType("orchestration.main_job")
    module.__spec__ = importlib.machinery.ModuleSpec("orchestration.main_job", None)

    def run_main_job(options, **_):
        raise AssertionError(f"the run started with {options.config_path}")

    module.run_main_job = run_main_job
    monkeypatch.setitem(sys.modules, "orchestration.main_job", module)


def test_the_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)


async def test_the_good_config_is_accepted(venues, tmp_path, monkeypatch, capsys):
    """So each case fails for its own reason."""
    from orchestration.config import build_run_options

    for venue in venues:
        for name, value in zip(ENV[venue.name], (venue.api_key, venue.secret, venue.passphrase)):
            if name:
                monkeypatch.setenv(name, value)
    path = tmp_path / "rayarb.yaml"
    path.write_text(yaml.safe_dump(good(venues), sort_keys=False))
    options = build_run_options(config_path=path)
    assert options.mode.value == "local-sim" and set(options.credentials) == {"alpha", "beta"}


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_a_bad_config_is_one_line_and_nothing_happens(case, venues, tmp_path, monkeypatch, capsys,
                                                            run_refused):
    for venue in venues:
        for name, value in zip(ENV[venue.name], (venue.api_key, venue.secret, venue.passphrase)):
            if name:
                monkeypatch.setenv(name, value)
    content = case.data(good(venues))
    path = tmp_path / "rayarb.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    written = path.read_bytes()
    runs = tmp_path / "runs"

    code = main(["run", "--config", str(path), "--run-dir", str(runs), "--duration", "5"])

    line = one_line_error(capsys)
    assert (code, line) == (2, case.expected(F=str(path)))
    assert PASTED_KEY not in line
    assert path.read_bytes() == written  # the file untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rayarb.yaml"]  # no run directory, nothing else written
    assert not (tmp_path.parent / "pwned").exists() and not (runs.parent / "pwned").exists()
    assert await orders_everywhere(venues) == {"alpha": [], "beta": []}
