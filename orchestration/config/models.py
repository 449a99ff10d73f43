"""The run configuration as frozen pydantic models, each field declared once with its default, its rule
(``orchestration.config.rules``) and its help, and how a YAML file becomes a ``Config``: every problem collected and
named by its key path.

Why one module of ~500 lines: the models and the parser are one contract. ``parse_config`` holds the checks that span
fields or sections (heartbeat timeout against period, shards against symbols, the venues' dialects and keys), the
list of sections and the keys a file may not set; a new field or section is declared and checked here, in one place.
How each single value is read is ``rules``; one run's options are ``options``."""
from __future__ import annotations

import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from actors.hot_path import MAX_CPU_WAKE_LATENCY_US, MAX_REALTIME_PRIORITY
from execution.api.venue import exchange_ids as ccxt_exchange_ids
from execution.types import Credentials
from orchestration.config.rules import (_balances, _boolean, _channels, _choice, _env_name, _integer, _ip_address,
                                        _money, _optional, _readable_file, _seconds, _text, _venue_url,
                                        is_loopback_host)

DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
DEFAULT_METRICS_PORT = 9108
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_RUN_DIR = "runs"
LOCAL_VENUE_EXCHANGE = "binance"  # the dialect `rayarb sim` speaks by default
LOCAL_DIALECTS = ("binance", "okx")  # the dialects a venue given by url may speak (`rayarb sim` speaks both)
PASSPHRASE_DIALECTS = ("okx",)  # their keys come with a passphrase
MAX_RETRY_ELAPSED_S = 5.0  # the order manager's timeout for an order lookup through the exchange actor

_VENUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_SYMBOL = re.compile(r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$")


class UserError(Exception):
    """Something the operator can fix (a bad file, a missing key, an unreachable cluster).

    The CLI prints the message on one line and exits non-zero, without a traceback.
    """


class ConfigError(UserError):
    """The configuration is malformed or incomplete. ``errors`` lists each problem, each naming its key path."""

    def __init__(self, errors: list[str] | tuple[str, ...] | str, source: str | None = None) -> None:
        self.errors = (errors,) if isinstance(errors, str) else tuple(errors)
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + "; ".join(self.errors))


def default_key_env_names(venue_name: str) -> tuple[str, str]:
    """The environment variable names rayarb uses by default for a venue's key and secret.

    ``alpha`` -> (``RAYARB_ALPHA_API_KEY``, ``RAYARB_ALPHA_SECRET``); ``rayarb sim`` prints exports with these names.
    """
    stem = re.sub(r"[^A-Z0-9]", "_", venue_name.upper())
    return f"RAYARB_{stem}_API_KEY", f"RAYARB_{stem}_SECRET"


_SECTION = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _parsed(parse: Callable[[Any], Any]) -> Any:
    return BeforeValidator(parse)


# -------------------------------------------------------------------------------------------------- the models


class VenueConfig(BaseModel):
    """One venue entry (``venues.<name>``)."""

    model_config = _SECTION

    name: str = Field(description="the key of the entry under venues (set by the loader, not written in it)")
    exchange: Annotated[str, _parsed(_text)] = Field(description="a ccxt exchange id such as binance")
    url: Annotated[str | None, _parsed(_optional(_venue_url))] = Field(
        None, description="where the venue's API is: a simulator on loopback, or a real venue's endpoint (https)")
    api_key_env: Annotated[str | None, _parsed(_optional(_env_name))] = Field(
        None, description="NAME of the environment variable holding the API key")
    secret_env: Annotated[str | None, _parsed(_optional(_env_name))] = Field(
        None, description="NAME of the environment variable holding the secret")
    passphrase_env: Annotated[str | None, _parsed(_optional(_env_name))] = Field(
        None, description="NAME of the environment variable holding the passphrase (OKX)")
    testnet: Annotated[bool, _parsed(_boolean)] = Field(False, description="ccxt's testnet urls for a real venue")
    simulator: Annotated[bool, _parsed(_boolean)] = Field(
        False, description="the url is a rayarb simulator on another host (test money): trade it like a local one")
    # Keys handed over in memory by the no-config run (Config.default_local); never read from a file.
    inline_credentials: Credentials | None = Field(None, repr=False, exclude=True)

    @property
    def is_local(self) -> bool:
        """A simulator venue: its url is on loopback, or the config declares it one (``simulator: true``)."""
        return self.url is not None and (self.simulator or is_loopback_host(urlsplit(self.url).hostname))

    @property
    def declared_remote_simulator(self) -> bool:
        """A simulator venue on another host: the run says so when it starts."""
        return self.is_local and not is_loopback_host(urlsplit(self.url).hostname)


class StrategyConfig(BaseModel):
    model_config = _SECTION

    min_profit_bps: Annotated[Decimal, _parsed(_money())] = Field(
        Decimal("2"), description="net of fees, on the buy leg's notional")
    max_book_age_ms: Annotated[int, _parsed(_integer(minimum=1))] = Field(
        500, description="a book older than this is not traded on")
    max_notional_per_trade: Annotated[Decimal, _parsed(_money(strictly_greater=True))] = Field(
        Decimal("100"), description="quote currency")
    order_ttl_s: Annotated[float, _parsed(_seconds())] = Field(
        2.0, description="a leg is neither sent nor resubmitted later than this after it was made")
    unwind_max_slippage_bps: Annotated[Decimal, _parsed(_money())] = Field(
        Decimal("50"), description="how far from the book an unwind may go")
    cooldown_s: Annotated[float, _parsed(_seconds(strictly_positive=False))] = Field(
        1.0, description="per symbol, after a trade")


class RiskConfig(BaseModel):
    model_config = _SECTION

    max_open_exposure: Annotated[Decimal, _parsed(_money(strictly_greater=True))] = Field(
        Decimal("1000"), description="quote currency, across venues")
    loss_limit: Annotated[Decimal, _parsed(_money(strictly_greater=True))] = Field(
        Decimal("50"), description="quote currency; the kill switch trips when realised loss reaches it")
    max_one_legged: Annotated[int, _parsed(_integer(minimum=1))] = Field(
        3, description="the kill switch trips after this many one-legged outcomes")


class SupervisorConfig(BaseModel):
    model_config = _SECTION

    heartbeat_period_s: Annotated[float, _parsed(_seconds())] = Field(0.2, description="between health checks")
    heartbeat_timeout_s: Annotated[float, _parsed(_seconds())] = Field(
        1.0, description="a health check slower than this failed; at least heartbeat_period_s")
    failures_before_restart: Annotated[int, _parsed(_integer(minimum=1))] = Field(
        3, description="missed heartbeats before an actor is replaced (one goes out every period while none is "
                       "answered: an actor that stops answering is replaced timeout + (n - 1) periods later)")
    exchange_standby: Annotated[bool, _parsed(_boolean)] = Field(
        False, description="a second exchange actor per signed venue, started and keyed but not streaming, that takes "
                           "the venue over when its active one dies (one more process per venue)")
    detector_standby: Annotated[bool, _parsed(_boolean)] = Field(
        False, description="a second actor per detector shard, started but sent no books, that takes detection over "
                           "when the shard's active one dies (one more process per shard)")
    order_manager_standby: Annotated[bool, _parsed(_boolean)] = Field(
        False, description="a second order manager, idle beside the first (the journal is one file on one host), that "
                           "opens the journal and takes the orders over when the active one's process dies")


MAX_DETECTOR_SHARDS = 64


class DetectorConfig(BaseModel):
    """How detection is spread: by symbol over ``shards`` detector actors (``execution.sharding``); every venue's book
    of a symbol goes to the same shard, and on a cluster the shards are spread over the nodes."""

    model_config = _SECTION

    shards: Annotated[int, _parsed(_integer(minimum=1, maximum=MAX_DETECTOR_SHARDS))] = Field(
        1, description="detector actors, each detecting on its share of the symbols; at most the number of symbols")


class MetricsConfig(BaseModel):
    model_config = _SECTION

    port: Annotated[int, _parsed(_integer(minimum=0, maximum=65535))] = Field(
        DEFAULT_METRICS_PORT, description="0 = any free port (the exporter logs the one it bound)")
    host: Annotated[str, _parsed(_ip_address)] = Field(
        DEFAULT_METRICS_HOST, description="the address the endpoint listens on (loopback unless Prometheus scrapes "
                                          "from another machine)")


class RetryConfig(BaseModel):
    """How the exchange actors retry what is safe to retry (book snapshots, balances, order lookups, cancels; never an
    order's creation): ``execution.error_handler.call_with_retry`` with full-jitter backoff."""

    model_config = _SECTION

    max_attempts: Annotated[int, _parsed(_integer(minimum=1, maximum=20))] = Field(
        3, description="calls in all, the first included")
    base_delay_s: Annotated[float, _parsed(_seconds(strictly_positive=False))] = Field(
        0.1, description="the first wait (at most); it doubles with each retry")
    max_delay_s: Annotated[float, _parsed(_seconds(strictly_positive=False))] = Field(
        1.0, description="no single wait is longer")
    max_elapsed_s: Annotated[float, _parsed(_seconds())] = Field(
        3.0, description=f"no retry starts after this; under {MAX_RETRY_ELAPSED_S} s, the order manager's wait for "
                         f"an order lookup")


DEFAULT_PAPER_BALANCES = (("USDT", Decimal("100000")), ("BTC", Decimal("2")), ("ETH", Decimal("40")))

# What each run.profile sets, unless the config sets the field itself. "latency" costs the machine: real-time threads
# and idle CPUs that poll instead of halting (tick-to-order p99 halved on the 2-core VM, BENCHMARKS.md); "standard" is
# for a laptop or a shared machine.
PROFILES: dict[str, dict[str, Any]] = {
    "standard": {"realtime_priority": 0, "cpu_wake_latency_us": None},
    "latency": {"realtime_priority": 10, "cpu_wake_latency_us": 0},
}


class RunConfig(BaseModel):
    model_config = _SECTION

    duration_s: Annotated[float | None, _parsed(_optional(_seconds()))] = Field(
        None, description="None = until interrupted")
    run_dir: Annotated[str, _parsed(_text)] = Field(DEFAULT_RUN_DIR, description="where each run's directory goes")
    paper: Annotated[bool, _parsed(_boolean)] = Field(
        False, description="paper-trade even venues with a url (their market data, local fills, nothing sent)")
    paper_balances: Annotated[tuple[tuple[str, Decimal], ...], _parsed(_balances)] = Field(
        DEFAULT_PAPER_BALANCES, description="per venue, for paper mode")
    channels: Annotated[str, _parsed(_channels)] = Field(
        "auto", description="where actors' direct hot-path channels listen: auto (loopback when rayarb starts Ray "
                            "itself, each node's address when it joins a cluster), node, an IP address, or off")
    channel_tls_certificate: Annotated[str | None, _parsed(_optional(_readable_file))] = Field(
        None, description="PEM certificate the channels present beyond loopback (default: one made for the run)")
    channel_tls_key: Annotated[str | None, _parsed(_optional(_readable_file))] = Field(
        None, description="its PEM private key; goes with channel_tls_certificate")
    profile: Annotated[str, _parsed(_choice(*PROFILES))] = Field(
        "standard", description="standard leaves the machine as it is; latency turns on the tuning that costs it")
    realtime_priority: Annotated[int, _parsed(_integer(minimum=0, maximum=MAX_REALTIME_PRIORITY))] = Field(
        0, description="SCHED_FIFO priority of the hot-path threads (0 = normal policy); set, it overrides the profile")
    cpu_wake_latency_us: Annotated[int | None, _parsed(_optional(_integer(minimum=0, maximum=MAX_CPU_WAKE_LATENCY_US)))
                                   ] = Field(None, description="while hot-path actors live, idle CPUs wake within "
                                                               "this (None = not limited); set, it overrides the "
                                                               "profile")

    def describe_profile(self) -> str:
        """The run's first lines say which profile is active and what it changed."""
        scheduling = (f"hot-path threads real-time (SCHED_FIFO {self.realtime_priority})" if self.realtime_priority
                      else "hot-path threads at normal priority")
        wake = ("idle CPUs kept polling while the run lasts" if self.cpu_wake_latency_us == 0 else
                f"idle CPUs kept within {self.cpu_wake_latency_us} us of waking" if self.cpu_wake_latency_us
                else "idle CPUs left to sleep")
        hint = "" if self.profile == "latency" else " (run.profile: latency tunes the machine for the hot path)"
        return f"profile {self.profile}: {scheduling}, {wake}{hint}"


_SECTIONS: dict[str, type[BaseModel]] = {"strategy": StrategyConfig, "risk": RiskConfig,
                                         "supervisor": SupervisorConfig, "detector": DetectorConfig,
                                         "retry": RetryConfig,
                                         "metrics": MetricsConfig, "run": RunConfig}


class Config(BaseModel):
    model_config = _SECTION

    venues: tuple[VenueConfig, ...]
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    detector: DetectorConfig = DetectorConfig()
    retry: RetryConfig = RetryConfig()
    metrics: MetricsConfig = MetricsConfig()
    run: RunConfig = RunConfig()

    @property
    def venue_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.venues)

    def venue(self, name: str) -> VenueConfig:
        for venue in self.venues:
            if venue.name == name:
                return venue
        raise KeyError(name)

    @property
    def is_local(self) -> bool:
        """True when every venue is a simulator venue: the run is ``local-sim``."""
        return all(v.is_local for v in self.venues)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for reports and logs (Decimals as strings); credentials are left out."""
        return {
            "venues": {v.name: v.model_dump(exclude={"name", "inline_credentials"}) for v in self.venues},
            "symbols": list(self.symbols),
            **{name: {key: _plain(value) for key, value in getattr(self, name).model_dump().items()}
               for name in _SECTIONS},
        }

    @classmethod
    def default_local(cls, venue_urls: Mapping[str, str], keys: Mapping[str, tuple[str, ...]],
                      dialects: Mapping[str, str] | None = None) -> "Config":
        """The configuration of the no-config run: local venues by URL (each speaking ``dialects[name]``, Binance's
        by default), keys handed over in memory, defaults elsewhere.

        ``keys`` maps each venue name to (api_key, secret) or (api_key, secret, passphrase); they are kept out of
        reprs and out of ``to_dict``.
        """
        missing = [name for name in venue_urls if name not in keys]
        if missing:
            raise ConfigError([f"venues.{name}: no keys given for the local venue" for name in missing])
        # The embedded market's crossings are short-lived, so some legs miss: a demo run tolerates more one-legged
        # outcomes before its kill switch trips than the defaults meant for real venues.
        raw: dict[str, Any] = {"venues": {}, "risk": {"max_one_legged": 25}}
        for name, url in venue_urls.items():
            api_env, secret_env = default_key_env_names(name)
            exchange = (dialects or {}).get(name, LOCAL_VENUE_EXCHANGE)
            raw["venues"][name] = {"exchange": exchange, "url": url, "api_key_env": api_env, "secret_env": secret_env}
            if exchange in PASSPHRASE_DIALECTS:
                raw["venues"][name]["passphrase_env"] = api_env.replace("_API_KEY", "_PASSPHRASE")
        config = parse_config(raw, source="default local config")
        venues = tuple(v.model_copy(update={"inline_credentials": Credentials(*keys[v.name])}) for v in config.venues)
        return config.model_copy(update={"venues": venues})


# ---------------------------------------------------------------------------------------------------------- parsing


def _errors(exc: ValidationError, path: str, model: type[BaseModel]) -> list[str]:
    """Pydantic's errors in rayarb's form: ``key.path: what is wrong``."""
    errors = []
    for error in exc.errors():
        key_path = ".".join([path, *(str(part) for part in error["loc"])]) if path else ".".join(
            str(part) for part in error["loc"])
        kind = error["type"]
        if kind == "value_error":
            message = str(error["ctx"]["error"])
        elif kind == "extra_forbidden":
            allowed = [name for name in model.model_fields if name not in _NOT_IN_FILE]
            message = f"unknown key (allowed: {', '.join(allowed)})"
        elif kind == "missing":
            message = "missing"
        elif kind in ("model_type", "dict_type"):
            message = f"expected a mapping, got {type(error['input']).__name__}"
        else:
            message = error["msg"]
        errors.append(f"{key_path}: {message}")
    return errors


_NOT_IN_FILE = ("name", "inline_credentials")  # set by the loader, never written in a config file


def _section(raw: Any, name: str, errors: list[str]) -> BaseModel | None:
    """Validate one section; a missing or empty section takes every default."""
    model = _SECTIONS[name]
    if raw is None:
        return model()
    if not isinstance(raw, dict):
        errors.append(f"{name}: expected a mapping, got {type(raw).__name__}")
        return None
    try:
        section = model.model_validate(raw)
    except ValidationError as exc:
        errors.extend(_errors(exc, name, model))
        return None
    if name == "run":  # what the profile sets, where the config does not set it itself
        section = section.model_copy(update={key: value for key, value in PROFILES[section.profile].items()
                                             if key not in raw})
    return section


_TOP = ("venues", "symbols", *_SECTIONS)


def parse_config(raw: Any, *, source: str = "config") -> Config:
    """Validate plain data (as YAML gives it) into a ``Config``; raise ``ConfigError`` listing every problem."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise ConfigError([f"(top level): expected a mapping, got {type(raw).__name__}"], source)
    for key in raw:
        if key not in _TOP:
            errors.append(f"{key}: unknown key (allowed: {', '.join(_TOP)})")
    venues = _parse_venues(errors, raw.get("venues"), "venues" in raw)
    symbols = _parse_symbols(errors, raw.get("symbols", list(DEFAULT_SYMBOLS)))
    sections = {name: _section(raw.get(name), name, errors) for name in _SECTIONS}
    supervisor = sections["supervisor"]
    if supervisor is not None and supervisor.heartbeat_timeout_s < supervisor.heartbeat_period_s:
        errors.append(
            f"supervisor.heartbeat_timeout_s: must be >= heartbeat_period_s ({supervisor.heartbeat_period_s}), "
            f"got {supervisor.heartbeat_timeout_s}")
    run = sections["run"]
    if run is not None and (run.channel_tls_certificate is None) != (run.channel_tls_key is None):
        errors.append("run.channel_tls_certificate: goes with run.channel_tls_key; give both or neither")
    retry = sections["retry"]
    if retry is not None and retry.max_elapsed_s >= MAX_RETRY_ELAPSED_S:
        errors.append(f"retry.max_elapsed_s: must be < {MAX_RETRY_ELAPSED_S} (the order manager waits that long for "
                      f"an order lookup), got {retry.max_elapsed_s}")
    detector = sections["detector"]
    if detector is not None and symbols and detector.shards > len(symbols):
        errors.append(f"detector.shards: at most one shard per symbol ({len(symbols)} symbols), got {detector.shards}")
    if errors:
        raise ConfigError(errors, source)
    return Config(venues=venues, symbols=symbols, **sections)


def _parse_venues(errors: list[str], raw: Any, present: bool) -> tuple[VenueConfig, ...]:
    if not present:
        errors.append("venues: missing (at least two venues are needed)")
        return ()
    if not isinstance(raw, dict):
        errors.append(f"venues: expected a mapping, got {type(raw).__name__}")
        return ()
    exchange_ids = ccxt_exchange_ids()  # imports ccxt: ~0.5 s, only when a config is validated
    venues: list[VenueConfig] = []
    for name, body in raw.items():
        path = f"venues.{name}"
        if not isinstance(name, str) or not _VENUE_NAME.match(name):
            errors.append(f"{path}: venue names are lower-case letters, digits, '_' or '-' (max 32)")
            continue
        if not isinstance(body, dict):
            errors.append(f"{path}: expected a mapping, got {type(body).__name__}")
            continue
        errors_before = len(errors)
        allowed = ", ".join(n for n in VenueConfig.model_fields if n not in _NOT_IN_FILE)
        errors.extend(f"{path}.{key}: unknown key (allowed: {allowed})" for key in body if key in _NOT_IN_FILE)
        try:
            venue = VenueConfig.model_validate({key: value for key, value in body.items() if key not in _NOT_IN_FILE}
                                               | {"name": name})
        except ValidationError as exc:
            errors.extend(e.replace(f"{path}.exchange: missing", f"{path}.exchange: missing (a ccxt exchange id "
                                                                 f"such as 'binance')")
                          for e in _errors(exc, path, VenueConfig))
            continue
        if venue.exchange not in exchange_ids:
            errors.append(f"{path}.exchange: {venue.exchange!r} is not a ccxt exchange id")
        elif venue.url is not None and venue.exchange not in LOCAL_DIALECTS:
            errors.append(f"{path}.url: a venue given by url speaks Binance's or OKX's dialect; exchange must be "
                          f"one of {', '.join(LOCAL_DIALECTS)}, got {venue.exchange!r}")
        if venue.passphrase_env is not None and venue.exchange not in PASSPHRASE_DIALECTS:
            errors.append(f"{path}.passphrase_env: {venue.exchange} keys have no passphrase")
        if venue.url is not None and venue.testnet:
            errors.append(f"{path}.testnet: selects ccxt's own testnet url; it cannot go with url")
        if venue.simulator and venue.url is None:
            errors.append(f"{path}.simulator: declares the venue at url a simulator; url is missing")
        if (venue.api_key_env is None) != (venue.secret_env is None) and len(errors) == errors_before:
            absent = "secret_env" if venue.secret_env is None else "api_key_env"
            errors.append(f"{path}.{absent}: missing (api_key_env and secret_env go together)")
        if len(errors) == errors_before:
            venues.append(venue)
    if len(raw) < 2:
        errors.append(f"venues: at least two venues are needed for cross-venue arbitrage, got {len(raw)}")
    locals_ = [v.name for v in venues if v.is_local]
    if locals_ and len(locals_) != len(venues):
        errors.append(f"venues: mixes simulator venues ({', '.join(locals_)}) and real venues "
                      f"({', '.join(v.name for v in venues if not v.is_local)}); use one kind per run")
    return tuple(venues)


def _parse_symbols(errors: list[str], raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        errors.append("symbols: expected a non-empty list of unified symbols such as 'BTC/USDT'")
        return ()
    symbols: list[str] = []
    for index, symbol in enumerate(raw):
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            errors.append(f"symbols[{index}]: expected a unified symbol such as 'BTC/USDT', got {symbol!r}")
        elif symbol in symbols:
            errors.append(f"symbols[{index}]: {symbol!r} is listed twice")
        else:
            symbols.append(symbol)
    return tuple(symbols)


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a YAML config file; ``ConfigError`` names the file and every bad key path."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read the config file ({e.strerror or e})", source) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})", source) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"invalid YAML{where}: {problem}", source) from None
    if raw is None:
        raise ConfigError("the file is empty", source)
    return parse_config(raw, source=source)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
