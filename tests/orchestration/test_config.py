"""orchestration.config: the example config loads; every kind of bad key, type or range is named by its key path;
keys come from the environment and their absence is named; --live is refused without keys."""
from __future__ import annotations

import copy
import dataclasses
import pickle
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from orchestration.config import (
    Config,
    ConfigError,
    Credentials,
    Mode,
    RunOptions,
    build_run_options,
    default_key_env_names,
    load_config,
    parse_config,
    resolve_credentials,
    resolve_mode,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config.example.yaml"

GOOD: dict = {
    "venues": {
        "alpha": {"exchange": "binance", "url": "http://127.0.0.1:18800",
                  "api_key_env": "T_ALPHA_KEY", "secret_env": "T_ALPHA_SECRET"},
        "beta": {"exchange": "binance", "url": "http://127.0.0.1:18801",
                 "api_key_env": "T_BETA_KEY", "secret_env": "T_BETA_SECRET"},
    },
    "symbols": ["BTC/USDT"],
}
REAL: dict = {
    "venues": {
        "binance": {"exchange": "binance", "api_key_env": "T_BINANCE_KEY", "secret_env": "T_BINANCE_SECRET",
                    "testnet": True},
        "kraken": {"exchange": "kraken", "api_key_env": "T_KRAKEN_KEY", "secret_env": "T_KRAKEN_SECRET"},
    },
    "symbols": ["BTC/USDT"],
}


def with_change(base: dict, path: str, value) -> dict:
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


def errors_of(data) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.errors


def test_example_config_loads_as_three_local_venues_with_exact_decimals():
    config = load_config(EXAMPLE)
    assert config.venue_names == ("alpha", "beta", "gamma")
    assert [v.url for v in config.venues] == [f"http://127.0.0.1:{port}" for port in (18800, 18801, 18802)]
    assert all(v.exchange == "binance" for v in config.venues)
    beta = config.venue("beta")
    assert (beta.api_key_env, beta.secret_env) == default_key_env_names("beta")
    assert config.symbols == ("BTC/USDT", "ETH/USDT")
    assert config.is_local
    assert config.strategy.max_notional_per_trade == Decimal("200")
    assert isinstance(config.risk.loss_limit, Decimal) and config.risk.loss_limit == Decimal("50")
    assert config.run.duration_s is None
    assert resolve_mode(config, live=False) is Mode.LOCAL_SIM


def test_example_config_commented_real_block_is_a_valid_paper_config():
    lines = EXAMPLE.read_text().splitlines()
    start = lines.index("# venues:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    raw = yaml.safe_load("\n".join(block))
    config = parse_config({**raw, "symbols": ["BTC/USDT"]})
    assert not config.is_local
    assert resolve_mode(config, live=False) is Mode.PAPER


def test_yaml_numbers_in_money_fields_become_exact_decimals():
    config = parse_config(with_change(GOOD, "strategy", {"max_notional_per_trade": 0.1, "min_profit_bps": "2.5",
                                                         "unwind_max_slippage_bps": 7}))
    assert config.strategy.max_notional_per_trade == Decimal("0.1")
    assert str(config.strategy.max_notional_per_trade) == "0.1"
    assert config.strategy.min_profit_bps == Decimal("2.5")
    assert config.strategy.unwind_max_slippage_bps == Decimal(7)


def test_missing_sections_take_defaults():
    config = parse_config(GOOD)
    assert config.strategy.max_book_age_ms == 500
    assert config.supervisor.failures_before_restart == 3
    assert config.metrics.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("venues.alpha.ap_key", "x", "venues.alpha.ap_key: unknown key"),
        ("strategy.min_profit", 5, "strategy.min_profit: unknown key"),
        ("risk.max_exposure", 5, "risk.max_exposure: unknown key"),
        ("supervisor.period", 1, "supervisor.period: unknown key"),
        ("metrics.bind", "0.0.0.0", "metrics.bind: unknown key"),
        ("run.dir", "x", "run.dir: unknown key"),
        ("extra", 1, "extra: unknown key"),
        ("strategy.max_book_age_ms", "fast", "strategy.max_book_age_ms: expected an integer"),
        ("strategy.max_book_age_ms", 1.5, "strategy.max_book_age_ms: expected an integer"),
        ("strategy.max_book_age_ms", True, "strategy.max_book_age_ms: expected an integer"),
        ("strategy.max_book_age_ms", 0, "strategy.max_book_age_ms: must be >= 1"),
        ("strategy.max_notional_per_trade", "lots", "strategy.max_notional_per_trade: expected a decimal number"),
        ("strategy.max_notional_per_trade", 0, "strategy.max_notional_per_trade: must be > 0"),
        ("strategy.max_notional_per_trade", "NaN", "strategy.max_notional_per_trade: must be finite"),
        ("strategy.min_profit_bps", -1, "strategy.min_profit_bps: must be >= 0"),
        ("strategy.order_ttl_s", 0, "strategy.order_ttl_s: must be > 0 seconds"),
        ("strategy.cooldown_s", -0.5, "strategy.cooldown_s: must be >= 0 seconds"),
        ("risk.loss_limit", -10, "risk.loss_limit: must be > 0"),
        ("risk.max_open_exposure", [1], "risk.max_open_exposure: expected a decimal number, got list"),
        ("risk.max_one_legged", 0, "risk.max_one_legged: must be >= 1"),
        ("supervisor.failures_before_restart", "3", "supervisor.failures_before_restart: expected an integer"),
        ("metrics.port", 70000, "metrics.port: must be between 0 and 65535"),
        ("metrics.host", "", "metrics.host: expected a non-empty string"),
        ("run.duration_s", "long", "run.duration_s: expected a number of seconds"),
        ("run.duration_s", -1, "run.duration_s: must be > 0 seconds"),
        ("run.channels", "fast", "run.channels: expected auto, node, off or an IP address, got 'fast'"),
        ("run.channels", "10.0.0.300", "run.channels: expected auto, node, off or an IP address"),
        ("run.channels", True, "run.channels: expected a non-empty string"),
        ("run.realtime_priority", 50, "run.realtime_priority: must be between 0 and 49, got 50"),
        ("run.realtime_priority", -1, "run.realtime_priority: must be between 0 and 49"),
        ("run.realtime_priority", "high", "run.realtime_priority: expected an integer, got str"),
        ("run.cpu_wake_latency_us", -1, "run.cpu_wake_latency_us: must be between 0 and 1000000"),
        ("run.cpu_wake_latency_us", "low", "run.cpu_wake_latency_us: expected an integer, got str"),
        ("venues.alpha.exchange", "notanexchange", "venues.alpha.exchange: 'notanexchange' is not a ccxt exchange id"),
        ("venues.alpha.url", "127.0.0.1", "venues.alpha.url: must look like http://HOST:PORT"),
        ("venues.alpha.testnet", "yes", "venues.alpha.testnet: expected true or false"),
        ("venues.alpha.testnet", True, "venues.alpha.testnet: selects ccxt's own testnet url"),
        ("venues.alpha.secret_env", None, "venues.alpha.secret_env: missing"),
        ("venues.alpha.api_key_env", "my-key-1234", "venues.alpha.api_key_env: must be the NAME of an environment"),
        ("venues.alpha", "binance", "venues.alpha: expected a mapping, got str"),
        ("venues.Alpha Venue", {"exchange": "binance", "url": "http://127.0.0.1:1"}, "venues.Alpha Venue: venue names"),
        ("symbols", ["BTCUSDT"], "symbols[0]: expected a unified symbol"),
        ("symbols", ["BTC/USDT", "BTC/USDT"], "symbols[1]: 'BTC/USDT' is listed twice"),
        ("symbols", [], "symbols: expected a non-empty list"),
        ("strategy", [1, 2], "strategy: expected a mapping, got list"),
    ],
)
def test_each_bad_key_type_or_range_is_named_by_its_path(path, value, expected):
    errors = errors_of(with_change(GOOD, path, value))
    assert any(error.startswith(expected) for error in errors), errors


@pytest.mark.parametrize("value", ["auto", "node", "off", "127.0.0.1", "10.1.2.3", "::1"])
def test_channels_take_a_mode_or_an_address(value):
    assert parse_config(with_change(GOOD, "run.channels", value)).run.channels == value


def test_channels_default_to_auto():
    assert parse_config(GOOD).run.channels == "auto"


def test_the_standard_profile_leaves_the_machine_alone_and_latency_tunes_it():
    standard = parse_config(GOOD).run
    assert (standard.profile, standard.realtime_priority, standard.cpu_wake_latency_us) == ("standard", 0, None)
    assert standard.describe_profile() == ("profile standard: hot-path threads at normal priority, idle CPUs left to "
                                           "sleep (run.profile: latency tunes the machine for the hot path)")
    latency = parse_config(with_change(GOOD, "run.profile", "latency")).run
    assert (latency.realtime_priority, latency.cpu_wake_latency_us) == (10, 0)
    assert latency.describe_profile() == ("profile latency: hot-path threads real-time (SCHED_FIFO 10), idle CPUs "
                                          "kept polling while the run lasts")
    assert errors_of(with_change(GOOD, "run.profile", "fast")) == (
        "run.profile: expected one of standard, latency, got 'fast'",)


def test_a_field_the_config_sets_overrides_its_profile():
    latency = with_change(GOOD, "run.profile", "latency")
    assert parse_config(with_change(latency, "run.realtime_priority", 0)).run.realtime_priority == 0
    tuned = parse_config(with_change(latency, "run.cpu_wake_latency_us", 50)).run
    assert (tuned.realtime_priority, tuned.cpu_wake_latency_us) == (10, 50)
    assert "within 50 us" in tuned.describe_profile()
    assert parse_config(with_change(latency, "run.cpu_wake_latency_us", None)).run.cpu_wake_latency_us is None
    assert parse_config(with_change(GOOD, "run.realtime_priority", 5)).run.realtime_priority == 5


def test_venue_without_exchange_is_named():
    data = copy.deepcopy(GOOD)
    del data["venues"]["alpha"]["exchange"]
    assert any(e.startswith("venues.alpha.exchange: missing") for e in errors_of(data))


def test_local_url_needs_a_dialect_the_simulator_speaks():
    errors = errors_of(with_change(GOOD, "venues.alpha.exchange", "kraken"))
    assert any(e.startswith("venues.alpha.url: a venue given by url speaks Binance's or OKX's dialect") for e in errors)
    assert parse_config(with_change(GOOD, "venues.alpha.exchange", "okx")).venue("alpha").exchange == "okx"


def test_the_no_config_run_can_mix_dialects():
    config = Config.default_local({"alpha": "http://127.0.0.1:1", "beta": "http://127.0.0.1:2"},
                                  {"alpha": ("ka", "sa"), "beta": ("kb", "sb", "pb")}, {"beta": "okx"})
    alpha, beta = config.venues
    assert (alpha.exchange, beta.exchange) == ("binance", "okx")
    assert beta.passphrase_env == "RAYARB_BETA_PASSPHRASE" and alpha.passphrase_env is None
    credentials = resolve_credentials(config, Mode.LOCAL_SIM, {})
    assert credentials["beta"].passphrase == "pb" and credentials["alpha"].passphrase is None


def test_okx_keys_come_with_a_passphrase_named_like_the_keys():
    okx = with_change(with_change(GOOD, "venues.alpha.exchange", "okx"), "venues.alpha.passphrase_env", "T_ALPHA_PASS")
    config = parse_config(okx)
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_ALPHA_PASS": "pa", "T_BETA_KEY": "kb",
               "T_BETA_SECRET": "sb"}
    credentials = resolve_credentials(config, Mode.LOCAL_SIM, environ)
    assert credentials["alpha"].passphrase == "pa" and credentials["beta"].passphrase is None
    assert "pa" not in repr(credentials["alpha"])
    with pytest.raises(ConfigError, match=r"venues\.alpha\.passphrase_env: environment variable T_ALPHA_PASS is not"):
        resolve_credentials(config, Mode.LOCAL_SIM, {k: v for k, v in environ.items() if k != "T_ALPHA_PASS"})
    unnamed = with_change(GOOD, "venues.alpha.exchange", "okx")
    with pytest.raises(ConfigError, match=r"venues\.alpha\.passphrase_env: local-sim mode needs the passphrase"):
        resolve_credentials(parse_config(unnamed), Mode.LOCAL_SIM, environ)
    assert errors_of(with_change(GOOD, "venues.beta.passphrase_env", "X")) == (
        "venues.beta.passphrase_env: binance keys have no passphrase",)


def test_an_env_name_that_looks_like_a_key_is_not_echoed():
    secretish = "AbC-9f8e7d6c5b4a-SECRET"
    errors = errors_of(with_change(GOOD, "venues.alpha.secret_env", secretish))
    assert errors and all(secretish not in e for e in errors)


def test_structure_errors_one_venue_mixing_and_no_venues():
    one = copy.deepcopy(GOOD)
    del one["venues"]["beta"]
    assert any(e.startswith("venues: at least two venues") for e in errors_of(one))
    mixed = copy.deepcopy(GOOD)
    mixed["venues"]["kraken"] = {"exchange": "kraken"}
    assert any(e.startswith("venues: mixes simulator venues") for e in errors_of(mixed))
    assert any(e.startswith("venues: missing") for e in errors_of({"symbols": ["BTC/USDT"]}))
    assert errors_of([1, 2]) == ("(top level): expected a mapping, got list",)


def test_the_metrics_endpoint_listens_on_an_address():
    assert parse_config(GOOD).metrics.host == "127.0.0.1"
    assert parse_config(with_change(GOOD, "metrics.host", "10.0.0.7")).metrics.host == "10.0.0.7"
    assert errors_of(with_change(GOOD, "metrics.host", "my-laptop")) == (
        "metrics.host: expected an IP address such as 127.0.0.1, got 'my-laptop'",)


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", "0:0::0"])
def test_channels_never_listen_on_every_interface(wildcard):
    errors = errors_of(with_change(GOOD, "run.channels", wildcard))
    assert errors == (f"run.channels: {wildcard} listens on every interface; name one address (or node: the address "
                      f"Ray uses for each node)",)
    assert parse_config(with_change(GOOD, "run.channels", "10.0.0.7")).run.channels == "10.0.0.7"


def test_the_retry_policy_is_configured_and_ends_within_the_order_managers_lookup_wait():
    from execution.error_handler import RetryPolicy

    retry = parse_config(with_change(GOOD, "retry", {"max_attempts": 5, "max_elapsed_s": 4})).retry
    policy = RetryPolicy(**retry.model_dump())
    assert (policy.max_attempts, policy.base_delay_s, policy.max_delay_s, policy.max_elapsed_s) == (5, 0.1, 1.0, 4.0)
    assert errors_of(with_change(GOOD, "retry", {"max_elapsed_s": 5})) == (
        "retry.max_elapsed_s: must be < 5.0 (the order manager waits that long for an order lookup), got 5.0",)
    assert errors_of(with_change(GOOD, "retry.max_attempts", 0)) == (
        "retry.max_attempts: must be between 1 and 20, got 0",)
    assert errors_of(with_change(GOOD, "retry.backoff", 2))[0].startswith("retry.backoff: unknown key (allowed: "
                                                                          "max_attempts, base_delay_s")


def test_heartbeat_timeout_shorter_than_period_is_refused():
    errors = errors_of(with_change(GOOD, "supervisor", {"heartbeat_period_s": 1.0, "heartbeat_timeout_s": 0.5}))
    assert any(e.startswith("supervisor.heartbeat_timeout_s: must be >= heartbeat_period_s") for e in errors)


def test_all_errors_are_reported_at_once():
    data = with_change(with_change(GOOD, "venues.alpha.ap_key", 1), "risk.loss_limit", 0)
    errors = errors_of(data)
    assert len(errors) == 2
    assert "venues.alpha.ap_key: unknown key" in str(ConfigError(errors))


def test_load_config_names_the_file_and_yaml_problems(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the config file"):
        load_config(missing)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("venues:\n  alpha: [unclosed\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line \d+"):
        load_config(broken)
    duplicated = tmp_path / "dup.yaml"
    duplicated.write_text(yaml.safe_dump(GOOD) + "symbols: [ETH/USDT]\n")
    with pytest.raises(ConfigError, match="duplicate key 'symbols'"):
        load_config(duplicated)
    bad_key = tmp_path / "bad.yaml"
    bad_key.write_text(yaml.safe_dump(with_change(GOOD, "venues.alpha.ap_key", "x")))
    with pytest.raises(ConfigError) as caught:
        load_config(bad_key)
    assert str(caught.value).startswith(f"{bad_key}: venues.alpha.ap_key: unknown key")


def test_config_is_frozen_and_picklable():
    config = parse_config(GOOD)
    with pytest.raises(ValidationError, match="frozen"):
        config.symbols = ("ETH/USDT",)  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.strategy.order_ttl_s = 9  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(config)) == config


def test_local_sim_credentials_come_from_the_named_environment_variables():
    config = parse_config(GOOD)
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    credentials = resolve_credentials(config, Mode.LOCAL_SIM, environ)
    assert credentials == {"alpha": Credentials("ka", "sa"), "beta": Credentials("kb", "sb")}
    assert "ka" not in repr(credentials) and "sa" not in str(credentials["alpha"])


def test_missing_key_variables_are_named_and_values_never_shown():
    config = parse_config(GOOD)
    environ = {"T_ALPHA_KEY": "visible-key-value", "T_BETA_KEY": "kb", "T_BETA_SECRET": ""}
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(config, Mode.LOCAL_SIM, environ)
    assert caught.value.errors == (
        "venues.alpha.secret_env: environment variable T_ALPHA_SECRET is not set",
        "venues.beta.secret_env: environment variable T_BETA_SECRET is not set",
    )
    assert "visible-key-value" not in str(caught.value)


def test_paper_needs_no_keys_and_live_is_refused_without_them():
    config = parse_config(REAL)
    assert resolve_mode(config, live=False) is Mode.PAPER
    assert resolve_credentials(config, Mode.PAPER, {}) == {}
    with pytest.raises(ConfigError) as caught:
        build_run_options(config=config, live=True, environ={"T_BINANCE_KEY": "k", "T_BINANCE_SECRET": "s"})
    assert caught.value.errors == (
        "venues.kraken.api_key_env: environment variable T_KRAKEN_KEY is not set",
        "venues.kraken.secret_env: environment variable T_KRAKEN_SECRET is not set",
    )
    environ = {"T_BINANCE_KEY": "k", "T_BINANCE_SECRET": "s", "T_KRAKEN_KEY": "k2", "T_KRAKEN_SECRET": "s2"}
    options = build_run_options(config=config, live=True, environ=environ)
    assert options.mode is Mode.LIVE and options.live
    assert set(options.credentials) == {"binance", "kraken"}
    assert "k2" not in repr(options)


def test_live_without_configured_key_names_is_refused():
    data = copy.deepcopy(REAL)
    del data["venues"]["kraken"]["api_key_env"], data["venues"]["kraken"]["secret_env"]
    with pytest.raises(ConfigError, match="venues.kraken: live mode needs keys"):
        build_run_options(config=parse_config(data), live=True, environ={"T_BINANCE_KEY": "k", "T_BINANCE_SECRET": "s"})


def test_live_with_local_venues_or_no_config_is_refused():
    with pytest.raises(ConfigError, match="--live sends real orders"):
        build_run_options(config=parse_config(GOOD), live=True, environ={})
    with pytest.raises(ConfigError, match="--live sends real orders"):
        build_run_options(live=True)


def test_command_line_overrides_win_and_the_config_agrees(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "run": {"duration_s": 30, "run_dir": "a"}, "metrics": {"port": 9999}}))
    environ = {"T_ALPHA_KEY": "ka", "T_ALPHA_SECRET": "sa", "T_BETA_KEY": "kb", "T_BETA_SECRET": "sb"}
    options = build_run_options(config_path=path, duration_s=5, metrics_port=0, run_dir=tmp_path / "out",
                                address="auto", environ=environ)
    assert isinstance(options, RunOptions)
    assert (options.duration_s, options.metrics_port, options.run_dir) == (5, 0, tmp_path / "out")
    assert options.config.run.duration_s == 5 and options.config.metrics.port == 0
    assert options.config.run.run_dir == str(tmp_path / "out")
    assert options.address == "auto" and options.config_path == path and options.mode is Mode.LOCAL_SIM
    kept = build_run_options(config_path=path, environ=environ)
    assert (kept.duration_s, kept.metrics_port, kept.run_dir) == (30, 9999, Path("a"))
    with pytest.raises(ConfigError, match="--duration must be > 0"):
        build_run_options(config_path=path, duration_s=0, environ=environ)


def test_no_config_run_is_local_sim_with_defaults():
    options = build_run_options()
    assert options.config is None and options.mode is Mode.LOCAL_SIM
    assert options.run_dir == Path("runs") and options.duration_s is None and options.credentials == {}


def test_default_local_holds_keys_in_memory_only():
    config = Config.default_local({"alpha": "http://127.0.0.1:18800", "beta": "http://127.0.0.1:18801"},
                                  {"alpha": ("key-a", "secret-a"), "beta": ("key-b", "secret-b")})
    assert config.is_local and config.venue_names == ("alpha", "beta")
    assert config.symbols == ("BTC/USDT", "ETH/USDT")
    assert resolve_credentials(config, Mode.LOCAL_SIM, {})["beta"] == Credentials("key-b", "secret-b")
    for text in (repr(config), str(config.to_dict())):
        assert "key-a" not in text and "secret-b" not in text
    assert config.to_dict()["venues"]["alpha"]["url"] == "http://127.0.0.1:18800"
    options = build_run_options(config=config)
    copied = pickle.loads(pickle.dumps(options))  # RunOptions travel to Ray actors
    assert copied == options and copied.credentials["alpha"] == Credentials("key-a", "secret-a")
    assert config.to_dict()["strategy"]["max_notional_per_trade"] == "100"
    with pytest.raises(ConfigError, match="venues.beta: no keys given"):
        Config.default_local({"alpha": "http://127.0.0.1:1", "beta": "http://127.0.0.1:2"}, {"alpha": ("k", "s")})


def test_default_key_env_names():
    assert default_key_env_names("alpha") == ("RAYARB_ALPHA_API_KEY", "RAYARB_ALPHA_SECRET")
    assert default_key_env_names("my-venue") == ("RAYARB_MY_VENUE_API_KEY", "RAYARB_MY_VENUE_SECRET")


def test_the_detector_is_one_shard_unless_the_config_says_more():
    assert parse_config(GOOD).detector.shards == 1
    two_symbols = with_change(GOOD, "symbols", ["BTC/USDT", "ETH/USDT"])
    assert parse_config(with_change(two_symbols, "detector.shards", 2)).detector.shards == 2
    assert parse_config(with_change(two_symbols, "detector.shards", 2)).to_dict()["detector"] == {"shards": 2}


@pytest.mark.parametrize(("shards", "expected"), [
    (0, "detector.shards: must be between 1 and 64, got 0"),
    (65, "detector.shards: must be between 1 and 64, got 65"),
    ("2", "detector.shards: expected an integer, got str"),
    (2, "detector.shards: at most one shard per symbol (1 symbols), got 2"),
])
def test_detector_shards_out_of_bounds_are_named(shards, expected):
    assert expected in errors_of(with_change(GOOD, "detector.shards", shards))


def test_detector_section_refuses_unknown_keys():
    assert any(e.startswith("detector.shard: unknown key (allowed: shards)")
               for e in errors_of(with_change(GOOD, "detector.shard", 2)))
