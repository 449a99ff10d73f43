"""The rayarb run configuration: frozen dataclasses loaded from YAML, validated, and the options of one run.

Every section refuses unknown keys and every error names its key path (``venues.alpha.ap_key: unknown key``), so a
typo is an error rather than a silently ignored setting. Money values (quote-currency amounts) are ``Decimal`` parsed
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
from __future__ import annotations

import dataclasses
import enum
import ipaddress
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

import yaml

from actors.hot_path import MAX_CPU_WAKE_LATENCY_US, MAX_REALTIME_PRIORITY

DEFAULT_SYMBOLS = ("BTC/USDT", "ETH/USDT")
DEFAULT_METRICS_PORT = 9108
DEFAULT_METRICS_HOST = "127.0.0.1"
DEFAULT_RUN_DIR = "runs"
LOCAL_VENUE_EXCHANGE = "binance"  # the dialect `rayarb sim` speaks

_VENUE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
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


class Mode(str, enum.Enum):
    PAPER = "paper"
    LIVE = "live"
    LOCAL_SIM = "local-sim"


@dataclass(frozen=True, slots=True, repr=False)
class Credentials:
    """An API key and secret, resolved at run time. Its repr never shows either value."""

    api_key: str
    secret: str

    def __repr__(self) -> str:
        return "Credentials(<hidden>)"

    __str__ = __repr__


def default_key_env_names(venue_name: str) -> tuple[str, str]:
    """The environment variable names rayarb uses by default for a venue's key and secret.

    ``alpha`` -> (``RAYARB_ALPHA_API_KEY``, ``RAYARB_ALPHA_SECRET``); ``rayarb sim`` prints exports with these names.
    """
    stem = re.sub(r"[^A-Z0-9]", "_", venue_name.upper())
    return f"RAYARB_{stem}_API_KEY", f"RAYARB_{stem}_SECRET"


def is_loopback_host(host: str | None) -> bool:
    """True for an IP literal in 127.0.0.0/8 or ::1, and for ``localhost``. Names are never resolved: a name that is
    not ``localhost`` may point anywhere, so it counts as another host."""
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class VenueConfig:
    name: str
    exchange: str  # ccxt exchange id
    url: str | None = None  # where the venue's API is: a simulator on loopback, or a real venue's endpoint (https)
    api_key_env: str | None = None  # NAME of the environment variable holding the API key
    secret_env: str | None = None  # NAME of the environment variable holding the secret
    testnet: bool = False
    simulator: bool = False  # the url is a rayarb simulator on another host (test money): trade it like a local one
    # Keys handed over in memory by the no-config run (Config.default_local); never read from a file.
    inline_credentials: Credentials | None = field(default=None, repr=False, compare=False)

    @property
    def is_local(self) -> bool:
        """A simulator venue: its url is on loopback, or the config declares it one (``simulator: true``)."""
        return self.url is not None and (self.simulator or is_loopback_host(urlsplit(self.url).hostname))

    @property
    def declared_remote_simulator(self) -> bool:
        """A simulator venue on another host: the run says so when it starts."""
        return self.is_local and not is_loopback_host(urlsplit(self.url).hostname)


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    min_profit_bps: Decimal = Decimal("2")  # net of fees, on the buy leg's notional
    max_book_age_ms: int = 500
    max_notional_per_trade: Decimal = Decimal("100")  # quote currency
    order_ttl_s: float = 2.0  # a leg is not resubmitted after this
    unwind_max_slippage_bps: Decimal = Decimal("50")
    cooldown_s: float = 1.0  # per symbol, after a trade


@dataclass(frozen=True, slots=True)
class RiskConfig:
    max_open_exposure: Decimal = Decimal("1000")  # quote currency, across venues
    loss_limit: Decimal = Decimal("50")  # quote currency; the kill switch trips when realised loss reaches it
    max_one_legged: int = 3  # the kill switch trips after this many one-legged outcomes


@dataclass(frozen=True, slots=True)
class SupervisorConfig:
    heartbeat_period_s: float = 0.2
    heartbeat_timeout_s: float = 1.0
    failures_before_restart: int = 3


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    port: int = DEFAULT_METRICS_PORT  # 0 = any free port (the exporter logs the one it bound)
    host: str = DEFAULT_METRICS_HOST


DEFAULT_PAPER_BALANCES = (("USDT", Decimal("100000")), ("BTC", Decimal("2")), ("ETH", Decimal("40")))


@dataclass(frozen=True, slots=True)
class RunConfig:
    duration_s: float | None = None  # None = until interrupted
    run_dir: str = DEFAULT_RUN_DIR
    paper: bool = False  # paper-trade even venues with a url (their market data, local fills, nothing sent)
    paper_balances: tuple[tuple[str, Decimal], ...] = DEFAULT_PAPER_BALANCES  # per venue, for paper mode
    # Where actors' direct hot-path channels listen: "auto" (loopback when rayarb starts Ray itself, each node's
    # address when it joins a cluster), "node", an IP address, or "off" (every message through Ray).
    channels: str = "auto"
    # "standard" leaves the machine as it is; "latency" turns on the tuning that costs it (PROFILES).
    profile: str = "standard"
    # SCHED_FIFO priority of the hot-path actors' event-loop threads (actors.hot_path); 0 = the normal policy.
    # Given in the config, it overrides the profile's.
    realtime_priority: int = 0
    # While hot-path actors live, idle CPUs wake within this many microseconds (actors.hot_path); None = not limited.
    # Given in the config, it overrides the profile's.
    cpu_wake_latency_us: int | None = None

    def describe_profile(self) -> str:
        """The run's first lines say which profile is active and what it changed."""
        scheduling = (f"hot-path threads real-time (SCHED_FIFO {self.realtime_priority})" if self.realtime_priority
                      else "hot-path threads at normal priority")
        wake = ("idle CPUs kept polling while the run lasts" if self.cpu_wake_latency_us == 0 else
                f"idle CPUs kept within {self.cpu_wake_latency_us} us of waking" if self.cpu_wake_latency_us
                else "idle CPUs left to sleep")
        hint = "" if self.profile == "latency" else " (run.profile: latency tunes the machine for the hot path)"
        return f"profile {self.profile}: {scheduling}, {wake}{hint}"


# What each run.profile sets, unless the config sets the field itself. "latency" costs the machine: real-time threads
# and idle CPUs that poll instead of halting (tick-to-order p99 halved on the 2-core VM, BENCHMARKS.md); "standard" is
# for a laptop or a shared machine.
PROFILES: dict[str, dict[str, Any]] = {
    "standard": {"realtime_priority": 0, "cpu_wake_latency_us": None},
    "latency": {"realtime_priority": 10, "cpu_wake_latency_us": 0},
}


@dataclass(frozen=True, slots=True)
class Config:
    venues: tuple[VenueConfig, ...]
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    strategy: StrategyConfig = StrategyConfig()
    risk: RiskConfig = RiskConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
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
            "venues": {
                v.name: {"exchange": v.exchange, "url": v.url, "api_key_env": v.api_key_env,
                         "secret_env": v.secret_env, "testnet": v.testnet, "simulator": v.simulator}
                for v in self.venues
            },
            "symbols": list(self.symbols),
            **{
                name: {f.name: _plain(getattr(getattr(self, name), f.name))
                       for f in dataclasses.fields(getattr(self, name))}
                for name in ("strategy", "risk", "supervisor", "metrics", "run")
            },
        }

    @classmethod
    def default_local(cls, venue_urls: Mapping[str, str], keys: Mapping[str, tuple[str, str]]) -> "Config":
        """The configuration of the no-config run: local venues by URL, keys handed over in memory, defaults elsewhere.

        ``keys`` maps each venue name to (api_key, secret); they are kept out of reprs and out of ``to_dict``.
        """
        missing = [name for name in venue_urls if name not in keys]
        if missing:
            raise ConfigError([f"venues.{name}: no keys given for the local venue" for name in missing])
        # The embedded market's crossings are short-lived, so some legs miss: a demo run tolerates more one-legged
        # outcomes before its kill switch trips than the defaults meant for real venues.
        raw: dict[str, Any] = {"venues": {}, "risk": {"max_one_legged": 25}}
        for name, url in venue_urls.items():
            api_env, secret_env = default_key_env_names(name)
            raw["venues"][name] = {"exchange": LOCAL_VENUE_EXCHANGE, "url": url,
                                   "api_key_env": api_env, "secret_env": secret_env}
        config = parse_config(raw, source="default local config")
        venues = tuple(dataclasses.replace(v, inline_credentials=Credentials(*keys[v.name])) for v in config.venues)
        return dataclasses.replace(config, venues=venues)


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything `rayarb run` decided before handing over to ``orchestration.main_job.run_main_job``.

    ``config`` is None for the no-config run: the main job starts local venues itself and builds
    ``Config.default_local``. ``duration_s``, ``metrics_port``, ``metrics_host`` and ``run_dir`` are the effective values
    (command line over config over defaults) and ``config.run`` / ``config.metrics`` already agree with them.
    """

    config: Config | None
    mode: Mode
    live: bool = False
    config_path: Path | None = None
    address: str | None = None  # None: start a local Ray; "auto" or "host:port": join that cluster
    duration_s: float | None = None
    metrics_port: int = DEFAULT_METRICS_PORT
    metrics_host: str = DEFAULT_METRICS_HOST
    run_dir: Path = Path(DEFAULT_RUN_DIR)
    credentials: Mapping[str, Credentials] = field(default_factory=dict, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------------------- parsing


class _FieldError(Exception):
    """A single value is wrong; the caller prefixes its key path."""


_Parser = Callable[[Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _money(*, minimum: Decimal = Decimal(0), strictly_greater: bool = False) -> _Parser:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _FieldError(f"expected a decimal number, got {type(value).__name__}")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise _FieldError(f"expected a decimal number, got {value!r}") from None
        if not amount.is_finite():
            raise _FieldError(f"must be finite, got {value!r}")
        if amount < minimum or (strictly_greater and amount == minimum):
            raise _FieldError(f"must be {'>' if strictly_greater else '>='} {minimum}, got {amount}")
        return amount

    return parse


def _integer(*, minimum: int, maximum: int | None = None) -> _Parser:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(f"expected an integer, got {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise _FieldError(f"must be {bound}, got {value}")
        return value

    return parse


def _seconds(*, strictly_positive: bool = True) -> _Parser:
    def parse(value: Any) -> float:
        if not _is_number(value):
            raise _FieldError(f"expected a number of seconds, got {type(value).__name__}")
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0 or (strictly_positive and seconds == 0):
            raise _FieldError(f"must be {'> 0' if strictly_positive else '>= 0'} seconds, got {value}")
        return seconds

    return parse


def _optional(parser: _Parser) -> _Parser:
    return lambda value: None if value is None else parser(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"expected a non-empty string, got {type(value).__name__}")
    if not value.strip():
        raise _FieldError("expected a non-empty string, got an empty string")
    return value.strip()


def _choice(*choices: str) -> _Parser:
    def parse(value: Any) -> str:
        text = _text(value)
        if text not in choices:
            raise _FieldError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(f"expected true or false, got {type(value).__name__}")
    return value


def _env_name(value: Any) -> str:
    name = _text(value)
    if not _ENV_NAME.match(name):
        # Do not echo the value: someone may have pasted a key here instead of a variable name.
        raise _FieldError("must be the NAME of an environment variable (letters, digits, underscore), not a key")
    return name


def _venue_url(value: Any) -> str:
    url = _text(value)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise _FieldError(f"must look like http://HOST:PORT or https://HOST:PORT (plain http on loopback only), "
                          f"got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise _FieldError("must be scheme://HOST:PORT[/path], without user, password, query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise _FieldError(f"plain http to {parts.hostname}, which is not this machine, would send the API key in "
                          f"cleartext; use https://")
    return url.rstrip("/")


class _Reader:
    """Collects every error in one pass so the operator sees all of them at once."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def mapping(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return None
        return value

    def values(self, raw: Any, path: str, parsers: Mapping[str, _Parser]) -> dict[str, Any] | None:
        """Parse the keys present in mapping ``raw``; unknown keys and bad values become errors."""
        data = self.mapping(raw, path)
        if data is None:
            return None
        values: dict[str, Any] = {}
        for key, value in data.items():
            key_path = f"{path}.{key}" if path else str(key)
            if key not in parsers:
                self.errors.append(f"{key_path}: unknown key (allowed: {', '.join(parsers)})")
                continue
            try:
                values[key] = parsers[key](value)
            except _FieldError as e:
                self.errors.append(f"{key_path}: {e}")
        return values

    def section(self, raw: Any, path: str, cls: type, parsers: Mapping[str, _Parser]) -> Any:
        """Build dataclass ``cls`` from mapping ``raw``; a missing section or key takes the default."""
        values = {} if raw is None else self.values(raw, path, parsers)
        return cls(**(values or {}))


_STRATEGY = {
    "min_profit_bps": _money(),
    "max_book_age_ms": _integer(minimum=1),
    "max_notional_per_trade": _money(strictly_greater=True),
    "order_ttl_s": _seconds(),
    "unwind_max_slippage_bps": _money(),
    "cooldown_s": _seconds(strictly_positive=False),
}
_RISK = {
    "max_open_exposure": _money(strictly_greater=True),
    "loss_limit": _money(strictly_greater=True),
    "max_one_legged": _integer(minimum=1),
}
_SUPERVISOR = {
    "heartbeat_period_s": _seconds(),
    "heartbeat_timeout_s": _seconds(),
    "failures_before_restart": _integer(minimum=1),
}
_METRICS = {"port": _integer(minimum=0, maximum=65535), "host": _text}
def _balances(value: Any) -> tuple[tuple[str, Decimal], ...]:
    if not isinstance(value, dict) or not value:
        raise _FieldError("expected a mapping of asset to amount, e.g. {USDT: 100000, BTC: 2}")
    parse = _money()
    balances = []
    for asset, amount in value.items():
        if not isinstance(asset, str) or not re.fullmatch(r"[A-Z0-9]{1,20}", asset):
            raise _FieldError(f"asset names are upper-case letters and digits, got {asset!r}")
        try:
            balances.append((asset, parse(amount)))
        except _FieldError as e:
            raise _FieldError(f"{asset}: {e}") from None
    return tuple(balances)


def _channels(value: Any) -> str:
    text = _text(value)
    if text in ("auto", "node", "off"):
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise _FieldError(f"expected auto, node, off or an IP address, got {text!r}") from None
    if address.is_unspecified:
        raise _FieldError(f"{text} listens on every interface; name one address (or node: the address Ray uses "
                          f"for each node)")
    return text


_RUN = {"duration_s": _optional(_seconds()), "run_dir": _text, "paper": _boolean, "paper_balances": _balances,
        "channels": _channels, "profile": _choice(*PROFILES),
        "realtime_priority": _integer(minimum=0, maximum=MAX_REALTIME_PRIORITY),
        "cpu_wake_latency_us": _optional(_integer(minimum=0, maximum=MAX_CPU_WAKE_LATENCY_US))}
_VENUE = {
    "exchange": _text,
    "url": _optional(_venue_url),
    "api_key_env": _optional(_env_name),
    "secret_env": _optional(_env_name),
    "testnet": _boolean,
    "simulator": _boolean,
}
_TOP = ("venues", "symbols", "strategy", "risk", "supervisor", "metrics", "run")


def _ccxt_exchange_ids() -> frozenset[str]:
    import ccxt  # imported here: ~0.7 s, only needed when a config is validated

    return frozenset(ccxt.exchanges)


def parse_config(raw: Any, *, source: str = "config") -> Config:
    """Validate plain data (as YAML gives it) into a ``Config``; raise ``ConfigError`` listing every problem."""
    reader = _Reader()
    data = reader.mapping(raw, "(top level)")
    if data is None:
        raise ConfigError(reader.errors, source)
    for key in data:
        if key not in _TOP:
            reader.errors.append(f"{key}: unknown key (allowed: {', '.join(_TOP)})")
    venues = _parse_venues(reader, data.get("venues"), "venues" in data)
    symbols = _parse_symbols(reader, data.get("symbols", list(DEFAULT_SYMBOLS)))
    sections = {
        "strategy": reader.section(data.get("strategy"), "strategy", StrategyConfig, _STRATEGY),
        "risk": reader.section(data.get("risk"), "risk", RiskConfig, _RISK),
        "supervisor": reader.section(data.get("supervisor"), "supervisor", SupervisorConfig, _SUPERVISOR),
        "metrics": reader.section(data.get("metrics"), "metrics", MetricsConfig, _METRICS),
        "run": reader.section(data.get("run"), "run", RunConfig, _RUN),
    }
    run = sections["run"]
    if run is not None:  # what the profile sets, where the config does not set it itself
        given = data.get("run") if isinstance(data.get("run"), dict) else {}
        sections["run"] = dataclasses.replace(run, **{key: value for key, value in PROFILES[run.profile].items()
                                                      if key not in given})
    supervisor = sections["supervisor"]
    if supervisor is not None and supervisor.heartbeat_timeout_s < supervisor.heartbeat_period_s:
        reader.errors.append(
            f"supervisor.heartbeat_timeout_s: must be >= heartbeat_period_s ({supervisor.heartbeat_period_s}), "
            f"got {supervisor.heartbeat_timeout_s}")
    if reader.errors:
        raise ConfigError(reader.errors, source)
    return Config(venues=venues, symbols=symbols, **sections)


def _parse_venues(reader: _Reader, raw: Any, present: bool) -> tuple[VenueConfig, ...]:
    if not present:
        reader.errors.append("venues: missing (at least two venues are needed)")
        return ()
    data = reader.mapping(raw, "venues")
    if data is None:
        return ()
    exchange_ids = _ccxt_exchange_ids()
    venues: list[VenueConfig] = []
    for name, body in data.items():
        path = f"venues.{name}"
        if not isinstance(name, str) or not _VENUE_NAME.match(name):
            reader.errors.append(f"{path}: venue names are lower-case letters, digits, '_' or '-' (max 32)")
            continue
        errors_before = len(reader.errors)
        values = reader.values(body, path, _VENUE)
        if values is None:
            continue
        exchange = values.get("exchange")
        url = values.get("url")
        if "exchange" not in body:
            reader.errors.append(f"{path}.exchange: missing (a ccxt exchange id such as 'binance')")
        elif exchange is not None and exchange not in exchange_ids:
            reader.errors.append(f"{path}.exchange: {exchange!r} is not a ccxt exchange id")
        elif url is not None and exchange != LOCAL_VENUE_EXCHANGE:
            reader.errors.append(f"{path}.url: a venue given by url speaks Binance's dialect; exchange must be "
                                 f"'{LOCAL_VENUE_EXCHANGE}', got {exchange!r}")
        if url is not None and values.get("testnet"):
            reader.errors.append(f"{path}.testnet: selects ccxt's own testnet url; it cannot go with url")
        if values.get("simulator") and url is None:
            reader.errors.append(f"{path}.simulator: declares the venue at url a simulator; url is missing")
        key_env, secret_env = values.get("api_key_env"), values.get("secret_env")
        if (key_env is None) != (secret_env is None) and len(reader.errors) == errors_before:
            absent = "secret_env" if secret_env is None else "api_key_env"
            reader.errors.append(f"{path}.{absent}: missing (api_key_env and secret_env go together)")
        if len(reader.errors) == errors_before:
            venues.append(VenueConfig(name=name, **values))
    if len(data) < 2:
        reader.errors.append(f"venues: at least two venues are needed for cross-venue arbitrage, got {len(data)}")
    locals_ = [v.name for v in venues if v.is_local]
    if locals_ and len(locals_) != len(venues):
        reader.errors.append(f"venues: mixes simulator venues ({', '.join(locals_)}) and real venues "
                             f"({', '.join(v.name for v in venues if not v.is_local)}); use one kind per run")
    return tuple(venues)


def _parse_symbols(reader: _Reader, raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        reader.errors.append("symbols: expected a non-empty list of unified symbols such as 'BTC/USDT'")
        return ()
    symbols: list[str] = []
    for index, symbol in enumerate(raw):
        if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
            reader.errors.append(f"symbols[{index}]: expected a unified symbol such as 'BTC/USDT', got {symbol!r}")
        elif symbol in symbols:
            reader.errors.append(f"symbols[{index}]: {symbol!r} is listed twice")
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


# ------------------------------------------------------------------------------------------------- mode and keys


def resolve_mode(config: Config | None, *, live: bool) -> Mode:
    """Which mode a run of ``config`` is in. ``config=None`` is the no-config run: local venues started by rayarb."""
    if config is not None and config.run.paper:
        if live:
            raise ConfigError("run.paper: true contradicts --live; remove one of them")
        return Mode.PAPER
    if config is None or config.is_local:
        if live:
            raise ConfigError("--live sends real orders to real exchanges; this run trades simulator venues only "
                              "(every venue's url is on loopback or declared simulator: true, or no --config was "
                              "given)")
        return Mode.LOCAL_SIM
    return Mode.LIVE if live else Mode.PAPER


def resolve_credentials(config: Config, mode: Mode, environ: Mapping[str, str] | None = None) -> dict[str, Credentials]:
    """Read each venue's key and secret from the environment variables the config names.

    ``live`` and ``local-sim`` need keys for every venue and raise ``ConfigError`` naming each missing variable;
    ``paper`` reads none: nothing is signed. Values never appear in errors.
    """
    if mode is Mode.PAPER:
        return {}
    environ = os.environ if environ is None else environ
    credentials: dict[str, Credentials] = {}
    errors: list[str] = []
    for venue in config.venues:
        if venue.inline_credentials is not None:
            credentials[venue.name] = venue.inline_credentials
            continue
        if venue.api_key_env is None or venue.secret_env is None:
            errors.append(f"venues.{venue.name}: {mode.value} mode needs keys; set api_key_env and secret_env")
            continue
        missing = [f"venues.{venue.name}.{field_name}: environment variable {env_name} is not set"
                   for field_name, env_name in (("api_key_env", venue.api_key_env), ("secret_env", venue.secret_env))
                   if not environ.get(env_name)]
        if missing:
            errors.extend(missing)
            continue
        credentials[venue.name] = Credentials(environ[venue.api_key_env], environ[venue.secret_env])
    if errors:
        raise ConfigError(errors)
    return credentials


def build_run_options(
    *,
    config_path: str | os.PathLike[str] | None = None,
    config: Config | None = None,
    address: str | None = None,
    duration_s: float | None = None,
    metrics_port: int | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    live: bool = False,
    environ: Mapping[str, str] | None = None,
) -> RunOptions:
    """Load the config (if any), apply command-line overrides, derive the mode and resolve keys.

    Raises ``ConfigError`` for anything the operator must fix, e.g. ``--live`` without keys, naming the variable.
    """
    if config is None and config_path is not None:
        config = load_config(config_path)
    if duration_s is not None and (not math.isfinite(duration_s) or duration_s <= 0):
        raise ConfigError(f"--duration must be > 0 seconds, got {duration_s}")
    if metrics_port is not None and not 0 <= metrics_port <= 65535:
        raise ConfigError(f"--metrics-port must be between 0 and 65535, got {metrics_port}")
    if address is not None and not address.strip():
        raise ConfigError("--address must be 'auto' or HOST:PORT, got an empty string")
    mode = resolve_mode(config, live=live)
    run_section = config.run if config is not None else RunConfig()
    metrics_section = config.metrics if config is not None else MetricsConfig()
    run_section = dataclasses.replace(
        run_section,
        duration_s=duration_s if duration_s is not None else run_section.duration_s,
        run_dir=str(run_dir) if run_dir is not None else run_section.run_dir,
    )
    metrics_section = dataclasses.replace(
        metrics_section, port=metrics_port if metrics_port is not None else metrics_section.port)
    credentials: dict[str, Credentials] = {}
    if config is not None:
        config = dataclasses.replace(config, run=run_section, metrics=metrics_section)
        try:
            credentials = resolve_credentials(config, mode, environ)
        except ConfigError as e:
            raise ConfigError(e.errors, str(config_path) if config_path is not None else None) from None
    return RunOptions(
        config=config,
        mode=mode,
        live=live,
        config_path=Path(config_path) if config_path is not None else None,
        address=address.strip() if address is not None else None,
        duration_s=run_section.duration_s,
        metrics_port=metrics_section.port,
        metrics_host=metrics_section.host,
        run_dir=Path(run_section.run_dir),
        credentials=credentials,
    )


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
