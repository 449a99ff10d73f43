"""Configuration of the local simulator: symbols, venues (each speaking one dialect) and their accounts, the market.

Every config is a frozen dataclass. ``SimConfig.from_dict`` / ``from_yaml`` build one from plain data and refuse any
unknown key by name, so a typo in a YAML file is an error rather than a silently ignored setting. ``SimConfig.default``
gives three venues (alpha, beta, gamma) trading BTCUSDT and ETHUSDT with one client account each, whose API key and
secret are derived from the venue name and the seed so that tests and ``rayarb run`` can know them without a file.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


VENUE_DIALECTS = ("binance", "okx")  # simulator.dialects has their front-ends


class SimConfigError(ValueError):
    """The simulator configuration is malformed: an unknown key, a missing field or a value of the wrong kind."""


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One spot symbol as the venue lists it (Binance id, assets, filters) and the fair price it starts at."""

    symbol: str = "BTCUSDT"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    fair_price: Decimal = Decimal("60000")

    def __post_init__(self) -> None:
        if not self.symbol or self.symbol != self.base + self.quote:
            raise SimConfigError(f"symbol {self.symbol!r} must be base + quote ({self.base!r} + {self.quote!r})")
        for name in ("tick_size", "step_size", "min_qty", "max_qty", "min_price", "max_price", "fair_price"):
            if getattr(self, name) <= 0:
                raise SimConfigError(f"{self.symbol}: {name} must be positive")
        if self.min_notional < 0 or self.max_notional <= self.min_notional:
            raise SimConfigError(f"{self.symbol}: need 0 <= min_notional < max_notional")
        if self.min_qty > self.max_qty or self.min_price > self.max_price:
            raise SimConfigError(f"{self.symbol}: min above max")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """A client account of one venue: its API credentials and starting balances."""

    api_key: str
    secret: str
    balances: dict[str, Decimal]
    name: str = "main"
    passphrase: str = ""  # the third credential of dialects that have one (OKX); "" where the dialect has none

    def __repr__(self) -> str:  # never show the secret, not even in a traceback
        return f"AccountConfig(name={self.name!r}, api_key={self.api_key[:10]!r}..., balances={self.balances!r})"


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """One simulated venue: its fees, how its market maker deviates from the fair price, and its client accounts.

    ``price_offset_bps`` shifts the venue's quotes, ``lag_ms`` is how late its market maker sees the fair price,
    ``noise_bps`` is the standard deviation of per-update noise on its mid price.
    """

    name: str
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    price_offset_bps: Decimal = Decimal("0")
    lag_ms: int = 0
    noise_bps: Decimal = Decimal("0.3")
    accounts: list[AccountConfig] = field(default_factory=list)
    market_maker_balances: dict[str, Decimal] | None = None  # None: large balances derived from the symbols
    dialect: str = "binance"  # the exchange API the venue speaks: "binance" or "okx" (simulator.dialects)

    def __post_init__(self) -> None:
        if not self.name:
            raise SimConfigError("venue name must not be empty")
        if self.dialect not in VENUE_DIALECTS:
            raise SimConfigError(f"venue {self.name}: unknown dialect {self.dialect!r} (known: {', '.join(VENUE_DIALECTS)})")
        if self.dialect == "okx":
            for account in self.accounts:
                if not account.passphrase:
                    raise SimConfigError(f"venue {self.name}: account {account.name!r} needs a passphrase (okx)")
        if not (0 <= self.maker_fee < 1 and 0 <= self.taker_fee < 1):
            raise SimConfigError(f"venue {self.name}: fees must be in [0, 1)")
        if self.lag_ms < 0 or self.noise_bps < 0:
            raise SimConfigError(f"venue {self.name}: lag_ms and noise_bps must not be negative")
        keys = [a.api_key for a in self.accounts]
        if len(keys) != len(set(keys)):
            raise SimConfigError(f"venue {self.name}: two accounts share an API key")


@dataclass(frozen=True, slots=True)
class MarketConfig:
    """The synthetic market shared by all venues.

    The fair price of each symbol is a seeded random walk with ``volatility_bps`` standard deviation per second.
    Each venue's market maker quotes ``levels`` levels a side: the top at mid +/- ``spread_bps``/2, deeper levels on
    a fixed grid ``level_spacing_bps`` apart, each worth about ``level_notional`` in quote currency. Normal quoting
    never crosses profitably between venues (offsets, lag and noise are far below the taker fees); profitable
    crossings come from dislocations: a venue's quotes jump so that its best ask is below another venue's best bid
    by both taker fees plus an edge of ``edge_min_bps``..``edge_max_bps``, for ``dislocation_ms``.
    ``crossing_rate`` is the fraction of updates on which a symbol has such a crossing.
    """

    update_hz: float = 20.0
    levels: int = 20
    level_spacing_bps: Decimal = Decimal("1")
    level_notional: Decimal = Decimal("20000")
    spread_bps: Decimal = Decimal("2")
    volatility_bps: Decimal = Decimal("1")
    crossing_rate: float = 0.08
    dislocation_ms: int = 250
    edge_min_bps: Decimal = Decimal("2")
    edge_max_bps: Decimal = Decimal("10")

    def __post_init__(self) -> None:
        if self.update_hz <= 0 or self.levels < 1 or self.dislocation_ms <= 0:
            raise SimConfigError("market: update_hz, levels and dislocation_ms must be positive")
        if not 0 <= self.crossing_rate < 1:
            raise SimConfigError("market: crossing_rate must be in [0, 1)")
        if self.level_spacing_bps <= 0 or self.level_notional <= 0 or self.spread_bps <= 0:
            raise SimConfigError("market: level_spacing_bps, level_notional and spread_bps must be positive")
        if self.volatility_bps < 0 or not 0 < self.edge_min_bps <= self.edge_max_bps:
            raise SimConfigError("market: need volatility_bps >= 0 and 0 < edge_min_bps <= edge_max_bps")


DEFAULT_CLIENT_BALANCES: dict[str, Decimal] = {"USDT": Decimal("100000"), "BTC": Decimal("2"), "ETH": Decimal("40")}

DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec(),
    SymbolSpec(
        symbol="ETHUSDT",
        base="ETH",
        quote="USDT",
        tick_size=Decimal("0.01"),
        step_size=Decimal("0.0001"),
        min_qty=Decimal("0.0001"),
        max_qty=Decimal("100000"),
        min_price=Decimal("0.01"),
        max_price=Decimal("1000000"),
        min_notional=Decimal("5"),
        max_notional=Decimal("9000000"),
        fair_price=Decimal("3000"),
    ),
)

# Fees (maker, taker), offset bps, lag ms, noise bps of the default venues; unknown names get alpha's settings.
_DEFAULT_VENUES: dict[str, tuple[Decimal, Decimal, Decimal, int, Decimal]] = {
    "alpha": (Decimal("0.001"), Decimal("0.001"), Decimal("0"), 0, Decimal("0.3")),
    "beta": (Decimal("0.0005"), Decimal("0.00075"), Decimal("1.5"), 100, Decimal("0.3")),
    "gamma": (Decimal("0.0008"), Decimal("0.001"), Decimal("-1.5"), 200, Decimal("0.3")),
}


def parse_venue_spec(spec: str) -> tuple[str, str]:
    """``"beta:okx"`` -> ``("beta", "okx")``; ``"alpha"`` -> ``("alpha", "binance")``."""
    name, _, dialect = spec.partition(":")
    name, dialect = name.strip(), (dialect.strip() or "binance")
    if not name:
        raise SimConfigError(f"venue {spec!r} has no name")
    if dialect not in VENUE_DIALECTS:
        raise SimConfigError(f"venue {name}: unknown dialect {dialect!r} (known: {', '.join(VENUE_DIALECTS)})")
    return name, dialect


def derive_credentials(venue_name: str, seed: int, account_name: str = "main") -> tuple[str, str]:
    """Deterministic (api_key, secret) for a default account: key ``sim-<venue>-`` + 16 hex, secret 48 hex."""
    key_hash = hashlib.sha256(f"rayarb-sim:{venue_name}:{seed}:{account_name}:key".encode()).hexdigest()
    secret_hash = hashlib.sha256(f"rayarb-sim:{venue_name}:{seed}:{account_name}:secret".encode()).hexdigest()
    suffix = "" if account_name == "main" else f"{account_name}-"
    return f"sim-{venue_name}-{suffix}{key_hash[:16]}", secret_hash[:48]


def derive_passphrase(venue_name: str, seed: int, account_name: str = "main") -> str:
    """Deterministic passphrase of a default account, for dialects that have one: ``Sim`` + 16 hex."""
    digest = hashlib.sha256(f"rayarb-sim:{venue_name}:{seed}:{account_name}:passphrase".encode()).hexdigest()
    return "Sim" + digest[:16]


def default_account(venue_name: str, seed: int, account_name: str = "main", dialect: str = "binance") -> AccountConfig:
    api_key, secret = derive_credentials(venue_name, seed, account_name)
    passphrase = derive_passphrase(venue_name, seed, account_name) if dialect == "okx" else ""
    return AccountConfig(api_key=api_key, secret=secret, balances=dict(DEFAULT_CLIENT_BALANCES), name=account_name,
                         passphrase=passphrase)


def default_venue(name: str, seed: int, dialect: str = "binance") -> VenueConfig:
    maker, taker, offset, lag, noise = _DEFAULT_VENUES.get(name, _DEFAULT_VENUES["alpha"])
    if dialect not in VENUE_DIALECTS:
        raise SimConfigError(f"venue {name}: unknown dialect {dialect!r} (known: {', '.join(VENUE_DIALECTS)})")
    return VenueConfig(
        name=name,
        dialect=dialect,
        maker_fee=maker,
        taker_fee=taker,
        price_offset_bps=offset,
        lag_ms=lag,
        noise_bps=noise,
        accounts=[default_account(name, seed, dialect=dialect)],
    )


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Everything the simulator needs: venues, symbols, the market, the seed and the initial fault settings."""

    venues: list[VenueConfig]
    symbols: list[SymbolSpec]
    market: MarketConfig = field(default_factory=MarketConfig)
    seed: int = 7
    faults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [v.name for v in self.venues]
        if not names or len(names) != len(set(names)):
            raise SimConfigError(f"need at least one venue and unique venue names, got {names}")
        ids = [s.symbol for s in self.symbols]
        if not ids or len(ids) != len(set(ids)):
            raise SimConfigError(f"need at least one symbol and unique symbols, got {ids}")

    @classmethod
    def default(cls, venue_names: tuple[str, ...] = ("alpha", "beta", "gamma"), seed: int = 7) -> "SimConfig":
        """Default venues; a name may carry its dialect, ``"beta:okx"`` (a bare name speaks Binance)."""
        return cls(
            venues=[default_venue(spec[0], seed, spec[1]) for spec in map(parse_venue_spec, venue_names)],
            symbols=list(DEFAULT_SYMBOLS),
            market=MarketConfig(),
            seed=seed,
            faults={},
        )

    def venue(self, name: str) -> VenueConfig:
        for venue in self.venues:
            if venue.name == name:
                return venue
        raise KeyError(name)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SimConfig":
        import yaml

        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle) or {}
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SimConfig":
        """Build from plain data (as YAML gives). Missing sections take the defaults; unknown keys are errors.

        ``venues`` may list names only (``["alpha", "beta"]``) or mappings; a venue without ``accounts`` gets the
        default derived account.
        """
        data = _mapping(data, "config")
        _check_keys(data, {"venues", "symbols", "market", "seed", "faults"}, "config")
        seed = _int(data.get("seed", 7), "seed")
        venues_raw = data.get("venues", ["alpha", "beta", "gamma"])
        if not isinstance(venues_raw, list):
            raise SimConfigError("config.venues must be a list")
        venues = [_venue_from(item, seed, f"venues[{i}]") for i, item in enumerate(venues_raw)]
        symbols_raw = data.get("symbols")
        if symbols_raw is None:
            symbols = list(DEFAULT_SYMBOLS)
        else:
            if not isinstance(symbols_raw, list):
                raise SimConfigError("config.symbols must be a list")
            symbols = [_symbol_from(item, f"symbols[{i}]") for i, item in enumerate(symbols_raw)]
        market = _market_from(data.get("market", {}))
        faults = _mapping(data.get("faults", {}), "faults")
        return cls(venues=venues, symbols=symbols, market=market, seed=seed, faults=dict(faults))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SimConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _check_keys(data: dict[str, Any], allowed: set[str], where: str) -> None:
    for key in data:
        if key not in allowed:
            raise SimConfigError(f"unknown key {key!r} in {where} (allowed: {', '.join(sorted(allowed))})")


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise SimConfigError(f"{where} must be a number, got {value!r}")
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise SimConfigError(f"{where} must be a number, got {value!r}") from exc
    if not result.is_finite():
        raise SimConfigError(f"{where} must be finite, got {value!r}")
    return result


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimConfigError(f"{where} must be an integer, got {value!r}")
    return value


def _float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SimConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def _balances(value: Any, where: str) -> dict[str, Decimal]:
    return {str(asset): _decimal(amount, f"{where}.{asset}") for asset, amount in _mapping(value, where).items()}


def _convert(cls: type, raw: dict[str, Any], where: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Convert the scalar fields of ``cls`` present in ``raw`` by the type of the default value."""
    defaults = {f.name: f.default for f in fields(cls)}
    _check_keys(raw, set(defaults), where)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in overrides:
            continue
        default = defaults[key]
        if isinstance(default, Decimal):
            out[key] = _decimal(value, f"{where}.{key}")
        elif isinstance(default, bool):
            out[key] = bool(value)
        elif isinstance(default, int):
            out[key] = _int(value, f"{where}.{key}")
        elif isinstance(default, float):
            out[key] = _float(value, f"{where}.{key}")
        else:
            out[key] = str(value)
    out.update(overrides)
    return out


def _symbol_from(item: Any, where: str) -> SymbolSpec:
    raw = _mapping(item, where)
    try:
        return SymbolSpec(**_convert(SymbolSpec, raw, where, {}))
    except TypeError as exc:
        raise SimConfigError(f"{where}: {exc}") from exc


def _market_from(item: Any) -> MarketConfig:
    raw = _mapping(item, "market")
    return MarketConfig(**_convert(MarketConfig, raw, "market", {}))


def _venue_from(item: Any, seed: int, where: str) -> VenueConfig:
    if isinstance(item, str):
        name, dialect = parse_venue_spec(item)
        return default_venue(name, seed, dialect)
    raw = _mapping(item, where)
    if "name" not in raw:
        raise SimConfigError(f"{where}: missing key 'name'")
    name = str(raw["name"])
    dialect = str(raw.get("dialect", "binance"))
    base = default_venue(name, seed, dialect)
    overrides: dict[str, Any] = {"name": name, "dialect": dialect}
    if "accounts" in raw:
        accounts_raw = raw["accounts"]
        if not isinstance(accounts_raw, list):
            raise SimConfigError(f"{where}.accounts must be a list")
        overrides["accounts"] = [_account_from(a, name, seed, f"{where}.accounts[{i}]", dialect)
                                 for i, a in enumerate(accounts_raw)]
    else:
        overrides["accounts"] = list(base.accounts)
    if raw.get("market_maker_balances") is not None:
        overrides["market_maker_balances"] = _balances(raw["market_maker_balances"], f"{where}.market_maker_balances")
    elif "market_maker_balances" in raw:
        overrides["market_maker_balances"] = None
    values = {
        "maker_fee": base.maker_fee,
        "taker_fee": base.taker_fee,
        "price_offset_bps": base.price_offset_bps,
        "lag_ms": base.lag_ms,
        "noise_bps": base.noise_bps,
    }
    values.update(_convert(VenueConfig, raw, where, overrides))
    return VenueConfig(**values)


def _account_from(item: Any, venue_name: str, seed: int, where: str, dialect: str = "binance") -> AccountConfig:
    raw = _mapping(item, where)
    _check_keys(raw, {"api_key", "secret", "balances", "name", "passphrase"}, where)
    name = str(raw.get("name", "main"))
    derived_key, derived_secret = derive_credentials(venue_name, seed, name)
    balances = _balances(raw["balances"], f"{where}.balances") if "balances" in raw else dict(DEFAULT_CLIENT_BALANCES)
    return AccountConfig(
        api_key=str(raw.get("api_key", derived_key)),
        secret=str(raw.get("secret", derived_secret)),
        balances=balances,
        name=name,
        passphrase=str(raw.get("passphrase", derive_passphrase(venue_name, seed, name) if dialect == "okx" else "")),
    )
