"""The rayarb run configuration: frozen pydantic models loaded from YAML, validated, and the options of one run.

Each field is declared once, in its model, with its default, its rule (a validator whose message the operator reads)
and its help. Every section refuses unknown keys and every error names its key path (``venues.alpha.ap_key: unknown
key``), so a typo is an error rather than a silently ignored setting. Money values (quote-currency amounts) are ``Decimal`` parsed
exactly: YAML numbers go through ``str()`` so ``0.1`` stays ``Decimal("0.1")``; strings are accepted too.

API keys are never in the config: a venue names the *environment variables* holding them (``api_key_env``,
``secret_env``). ``resolve_credentials`` reads the environment; its errors name the missing variable, never a value.

A venue is a *simulator venue* (a ``rayarb sim`` venue, test money) only when its ``url`` is a loopback address
(``127.0.0.0/8``, ``::1``, ``localhost``), or when the config says so for a test venue on another host
(``simulator: true``, announced when the run starts). Any other venue is a *real* one, with or without a ``url``
(e.g. ``https://api.binance.com``). Plain ``http://`` to a host that is not loopback is refused: the API key header
would cross the network in cleartext.

The run ``mode`` is derived when a run starts, not written in the file:
- ``local-sim``: every venue is a simulator venue; keys needed.
- ``paper``: real venues, the default (or any venues with ``run.paper: true``); orders are filled locally against
  live books, nothing is sent and no key is read.
- ``live``: real venues with ``--live``; refused unless every venue's keys are present in the environment.
"""
from orchestration.config.models import (DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, DEFAULT_PAPER_BALANCES,
                                         DEFAULT_RUN_DIR, DEFAULT_SYMBOLS, LOCAL_DIALECTS, LOCAL_VENUE_EXCHANGE,
                                         MAX_RETRY_ELAPSED_S, PASSPHRASE_DIALECTS, PROFILES, Config, ConfigError,
                                         Credentials, DetectorConfig, MetricsConfig, RetryConfig, RiskConfig,
                                         RunConfig, StrategyConfig, SupervisorConfig, UserError, VenueConfig,
                                         default_key_env_names, load_config, parse_config)
from orchestration.config.options import Mode, RunOptions, build_run_options, resolve_credentials, resolve_mode
from orchestration.config.rules import is_loopback_host

__all__ = [
    "Config", "ConfigError", "Credentials", "DetectorConfig", "DEFAULT_METRICS_HOST", "DEFAULT_METRICS_PORT",
    "DEFAULT_PAPER_BALANCES",
    "DEFAULT_RUN_DIR", "DEFAULT_SYMBOLS", "LOCAL_DIALECTS", "LOCAL_VENUE_EXCHANGE", "MAX_RETRY_ELAPSED_S",
    "MetricsConfig", "Mode", "PASSPHRASE_DIALECTS", "PROFILES", "RetryConfig", "RiskConfig", "RunConfig", "RunOptions",
    "StrategyConfig", "SupervisorConfig", "UserError", "VenueConfig", "build_run_options", "default_key_env_names",
    "is_loopback_host", "load_config", "parse_config", "resolve_credentials", "resolve_mode",
]
