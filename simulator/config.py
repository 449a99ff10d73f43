"""Configuration of the local simulator: symbols, venues (each speaking one dialect) and their accounts, the market.

Every config is a frozen pydantic dataclass that refuses unknown fields: each field is declared once, with its type,
its default, its bounds and its help (``Field(description=...)``). They stay dataclasses (positional construction,
``dataclasses.replace``) and every construction is validated; a problem is a ``SimConfigError`` naming where it is
(``venues[0].taker_fee must be a number, got 'abc'``, ``unknown key 'fee' in venues[0] (allowed: ...)``). Numbers
read from YAML are exact: a money or bps field takes a number or a string through ``str()``, so ``0.1`` stays
``Decimal("0.1")``; a bool is never a number.

``SimConfig.from_dict`` / ``from_yaml`` build one from plain data: a venue may be given by name only, and the
defaults that depend on the venue (its fees, offsets and lag, its derived account) and on the seed are filled in
before the whole config is validated at once. ``SimConfig.default`` gives three venues (alpha, beta, gamma) trading
BTCUSDT and ETHUSDT with one client account each, whose API key and secret are derived from the venue name and the
seed so that tests and ``rayarb run`` can know them without a file.
"""
from __future__ import annotations

import functools
import hashlib
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Callable

from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

VENUE_DIALECTS = ("binance", "okx")  # simulator.dialects has their front-ends


class SimConfigError(ValueError):
    """The simulator configuration is malformed: an unknown key, a missing field or a value of the wrong kind."""


# ------------------------------------------------------------------------------------------- how values are read
# Each rule raises ValueError with the text that follows the key's path ("must be a number, got 'abc'"); the bounds
# are the fields' own (Field(ge=..., gt=..., lt=...)).


def _number(value: Any) -> Decimal:
    """An exact Decimal from a number or a numeric string (through ``str()``); never a bool, never NaN or infinity."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    else:
        try:
            result = Decimal(str(value))
        except (InvalidOperation, ValueError):
            raise ValueError(f"must be a number, got {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"must be finite, got {value!r}")
    return result


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, got {value!r}")
    return value


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


def _venue_name(value: Any) -> str:
    if not str(value):
        raise ValueError("must not be empty")
    return str(value)


def _dialect(value: Any) -> str:
    if value not in VENUE_DIALECTS:
        raise ValueError(f"must be one of {', '.join(VENUE_DIALECTS)}, got {value!r}")
    return value


Number = Annotated[Decimal, BeforeValidator(_number)]
Integer = Annotated[int, BeforeValidator(_integer)]
Real = Annotated[float, BeforeValidator(_real)]
Text = Annotated[str, BeforeValidator(str)]
Balances = dict[Text, Number]

_MODEL = ConfigDict(extra="forbid")
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_MAPPINGS = ("dataclass_type", "dataclass_exact_type", "dict_type", "model_type")


def _declared(label: Callable[[dict[str, Any]], str]) -> Callable[[type], type]:
    """A frozen pydantic dataclass refusing unknown fields, whose construction raises ``SimConfigError``: a problem
    is named after the object (``label`` of the given values, e.g. ``venue alpha``) and the field."""

    def declare(cls: type) -> type:
        model = dataclass(frozen=True, slots=True, config=_MODEL)(cls)
        validated_init = model.__init__
        names = tuple(model.__dataclass_fields__)

        @functools.wraps(validated_init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > len(names) or not kwargs.keys().isdisjoint(names[:len(args)]):
                raise TypeError(f"{cls.__name__}() takes at most {len(names)} fields, each given once")
            given = dict(zip(names, args)) | kwargs  # by name, so that every problem is named by its field
            try:
                validated_init(self, **given)
            except ValidationError as exc:
                raise SimConfigError(_problems(exc, label(given), model)) from None

        model.__init__ = __init__
        return model

    return declare


def _path(loc: tuple[Any, ...]) -> str:
    """``("venues", 0, "taker_fee")`` -> ``venues[0].taker_fee``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _problems(exc: ValidationError, label: str | None, root: type) -> str:
    """Pydantic's errors in the simulator's words, each naming its key path (or, for an object built directly, the
    object's ``label``): ``market.levels must be an integer, got 'x'``, ``venues[1]: missing key 'name'``."""
    problems = []
    for error in exc.errors():
        loc, kind = tuple(error["loc"]), error["type"]
        where = _path(loc)
        named = f"{label}: {where}" if label and where else where or label or "config"
        parent = _path(loc[:-1]) or label or "config"
        if kind in ("unexpected_keyword_argument", "extra_forbidden"):
            allowed = _model_at(root, loc[:-1]).__dataclass_fields__
            problems.append(f"unknown key {loc[-1]!r} in {parent} (allowed: {', '.join(sorted(allowed))})")
        elif kind == "missing":
            problems.append(f"{parent}: missing key {loc[-1]!r}")
        elif kind == "value_error" and isinstance(error["ctx"]["error"], SimConfigError):
            where = where or label  # an object's own rule
            problems.append(f"{where}: {error['ctx']['error']}" if where else str(error["ctx"]["error"]))
        elif kind == "value_error":
            problems.append(f"{named} {error['ctx']['error']}")
        elif kind in _BOUNDS:
            bound = next(iter(error["ctx"].values()))
            problems.append(f"{named} must be {_BOUNDS[kind]} {_shown(bound)}, got {_shown(error['input'])}")
        elif kind in _MAPPINGS:
            problems.append(f"{named} must be a mapping, got {type(error['input']).__name__}")
        elif kind == "list_type":
            problems.append(f"{named} must be a list, got {type(error['input']).__name__}")
        else:
            problems.append(f"{named}: {error['msg']}")
    return "; ".join(problems)


def _shown(value: Any) -> Any:
    """A value as the operator wrote it: ``1`` for a whole float, quotes around a string."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return repr(value) if isinstance(value, str) else value


def _model_at(root: type, loc: tuple[Any, ...]) -> type:
    """The config class found at ``loc`` below ``root`` (for the keys it allows)."""
    model = root
    for part in loc:
        if isinstance(part, str):
            model = _NESTED.get(part, model)
    return model


# ----------------------------------------------------------------------------------------------------- the models


@_declared(lambda given: str(given.get("symbol", "symbol")))
class SymbolSpec:
    """One spot symbol as the venue lists it (Binance id, assets, filters) and the fair price it starts at."""

    symbol: Text = Field("BTCUSDT", description="the venue's id: base + quote")
    base: Text = Field("BTC", description="the asset bought and sold")
    quote: Text = Field("USDT", description="the asset prices are in")
    tick_size: Number = Field(Decimal("0.01"), gt=0, description="prices are multiples of this")
    step_size: Number = Field(Decimal("0.00001"), gt=0, description="amounts are multiples of this")
    min_qty: Number = Field(Decimal("0.00001"), gt=0, description="the smallest amount of an order")
    max_qty: Number = Field(Decimal("9000"), gt=0, description="the largest amount of an order")
    min_price: Number = Field(Decimal("0.01"), gt=0, description="the lowest price of an order")
    max_price: Number = Field(Decimal("1000000"), gt=0, description="the highest price of an order")
    min_notional: Number = Field(Decimal("5"), ge=0, description="price x amount of an order at least (quote)")
    max_notional: Number = Field(Decimal("9000000"), gt=0, description="price x amount of an order at most (quote)")
    fair_price: Number = Field(Decimal("60000"), gt=0, description="where the market's random walk starts")

    def __post_init__(self) -> None:
        if not self.symbol or self.symbol != self.base + self.quote:
            raise SimConfigError(f"symbol {self.symbol!r} must be base + quote ({self.base!r} + {self.quote!r})")
        if self.max_notional <= self.min_notional:
            raise SimConfigError("need 0 <= min_notional < max_notional")
        if self.min_qty > self.max_qty or self.min_price > self.max_price:
            raise SimConfigError("min above max")


@_declared(lambda given: f"account {given.get('name', 'main')!r}")
class AccountConfig:
    """A client account of one venue: its API credentials and starting balances."""

    api_key: Text = Field(description="the key a client signs with (derived from venue, seed and name by default)")
    secret: Text = Field(description="the HMAC secret (derived by default)")
    balances: Balances = Field(description="asset -> starting free balance")
    name: Text = Field("main", description="the account's name within its venue")
    passphrase: Text = Field("", description="the third credential of dialects that have one (OKX); \"\" otherwise")

    def __repr__(self) -> str:  # never show the secret, not even in a traceback
        return f"AccountConfig(name={self.name!r}, api_key={self.api_key[:10]!r}..., balances={self.balances!r})"


@_declared(lambda given: f"venue {given['name']}" if given.get("name") else "venue")
class VenueConfig:
    """One simulated venue: its fees, how its market maker deviates from the fair price, and its client accounts."""

    name: Annotated[str, BeforeValidator(_venue_name)] = Field(description="how clients and /_sim/ name the venue")
    maker_fee: Number = Field(Decimal("0.001"), ge=0, lt=1, description="fee rate of the resting side")
    taker_fee: Number = Field(Decimal("0.001"), ge=0, lt=1, description="fee rate of the taking side")
    price_offset_bps: Number = Field(Decimal("0"), description="shifts the venue's quotes from the fair price")
    lag_ms: Integer = Field(0, ge=0, description="how late the venue's market maker sees the fair price")
    noise_bps: Number = Field(Decimal("0.3"), ge=0, description="standard deviation of per-update noise on its mid")
    accounts: list[AccountConfig] = Field(default_factory=list, description="its client accounts")
    market_maker_balances: Balances | None = Field(
        None, description="the market maker's balances (None: large balances derived from the symbols)")
    dialect: Annotated[str, BeforeValidator(_dialect)] = Field(
        "binance", description="the exchange API the venue speaks: binance or okx (simulator.dialects)")

    def __post_init__(self) -> None:
        if self.dialect == "okx":
            for account in self.accounts:
                if not account.passphrase:
                    raise SimConfigError(f"account {account.name!r} needs a passphrase (okx)")
        keys = [a.api_key for a in self.accounts]
        if len(keys) != len(set(keys)):
            raise SimConfigError("two accounts share an API key")


@_declared(lambda given: "market")
class MarketConfig:
    """The synthetic market shared by all venues.

    The fair price of each symbol is a seeded random walk. Each venue's market maker quotes ``levels`` levels a side:
    the top at mid +/- ``spread_bps``/2, deeper levels on a fixed grid. Normal quoting never crosses profitably
    between venues (offsets, lag and noise are far below the taker fees); profitable crossings come from
    dislocations: a venue's quotes jump so that its best ask is below another venue's best bid by both taker fees
    plus an edge of ``edge_min_bps``..``edge_max_bps``, for ``dislocation_ms``.
    """

    update_hz: Real = Field(20.0, gt=0, description="market updates per second")
    levels: Integer = Field(20, ge=1, description="levels quoted a side")
    level_spacing_bps: Number = Field(Decimal("1"), gt=0, description="between deeper levels")
    level_notional: Number = Field(Decimal("20000"), gt=0, description="each level's worth in quote currency, about")
    spread_bps: Number = Field(Decimal("2"), gt=0, description="between the best bid and ask")
    volatility_bps: Number = Field(Decimal("1"), ge=0, description="standard deviation of the fair price per second")
    crossing_rate: Real = Field(0.08, ge=0, lt=1, description="share of updates on which a symbol has a crossing")
    dislocation_ms: Integer = Field(250, ge=1, description="how long a crossing lasts")
    edge_min_bps: Number = Field(Decimal("2"), gt=0, description="a crossing's edge beyond both taker fees, at least")
    edge_max_bps: Number = Field(Decimal("10"), gt=0, description="and at most")

    def __post_init__(self) -> None:
        if self.edge_min_bps > self.edge_max_bps:
            raise SimConfigError("need 0 < edge_min_bps <= edge_max_bps")


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


@_declared(lambda given: "")
class SimConfig:
    """Everything the simulator needs: venues, symbols, the market, the seed and the initial fault settings."""

    venues: list[VenueConfig] = Field(description="at least one, names unique")
    symbols: list[SymbolSpec] = Field(description="at least one, ids unique")
    market: MarketConfig = Field(default_factory=MarketConfig, description="the market all venues share")
    seed: Integer = Field(7, description="seeds the market, the derived keys and each venue's fault decisions")
    faults: dict[Text, Any] = Field(
        default_factory=dict, description="initial faults of every venue (simulator.faults checks them)")

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
        data = dict(_mapping(data, "config"))
        try:
            seed = _integer(data.get("seed", 7))  # the venues' derived keys need it first
        except ValueError as exc:
            raise SimConfigError(f"seed {exc}") from None
        venues = data.get("venues", ["alpha", "beta", "gamma"])
        if not isinstance(venues, list):
            raise SimConfigError("config.venues must be a list")
        data["venues"] = [_venue_with_defaults(item, seed, f"venues[{i}]") for i, item in enumerate(venues)]
        if data.get("symbols") is None:
            data["symbols"] = list(DEFAULT_SYMBOLS)
        elif not isinstance(data["symbols"], list):
            raise SimConfigError("config.symbols must be a list")
        try:
            return _SIM_CONFIG.validate_python(data)
        except ValidationError as exc:
            raise SimConfigError(_problems(exc, None, SimConfig)) from None


# The config class each key holds (for the keys an unknown one is named against).
_NESTED: dict[str, type] = {"venues": VenueConfig, "accounts": AccountConfig, "symbols": SymbolSpec,
                            "market": MarketConfig}
_SIM_CONFIG = TypeAdapter(SimConfig)


# ------------------------------------------------------------------------------------- defaults that depend on data


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SimConfigError(f"{where} must be a mapping, got {type(value).__name__}")
    return value


def _venue_with_defaults(item: Any, seed: int, where: str) -> Any:
    """A venue entry of ``from_dict`` with what its name, dialect and the seed give by default (its fees, offset,
    lag and noise, its derived account); what the entry sets wins, and is validated with the rest."""
    if isinstance(item, str):
        name, dialect = parse_venue_spec(item)
        return default_venue(name, seed, dialect)
    raw = _mapping(item, where)
    if "name" not in raw:
        raise SimConfigError(f"{where}: missing key 'name'")
    name = str(raw["name"])
    dialect = str(raw.get("dialect", "binance"))
    base = default_venue(name, seed, dialect)
    entry: dict[str, Any] = {"maker_fee": base.maker_fee, "taker_fee": base.taker_fee,
                             "price_offset_bps": base.price_offset_bps, "lag_ms": base.lag_ms,
                             "noise_bps": base.noise_bps, **raw, "name": name, "dialect": dialect}
    if "accounts" in raw:
        if not isinstance(raw["accounts"], list):
            raise SimConfigError(f"{where}.accounts must be a list")
        entry["accounts"] = [_account_with_defaults(a, name, seed, f"{where}.accounts[{i}]", dialect)
                             for i, a in enumerate(raw["accounts"])]
    else:
        entry["accounts"] = list(base.accounts)
    return entry


def _account_with_defaults(item: Any, venue_name: str, seed: int, where: str, dialect: str) -> dict[str, Any]:
    """An account entry with its derived key, secret (and passphrase, OKX) and the default balances where unset."""
    raw = _mapping(item, where)
    name = str(raw.get("name", "main"))
    api_key, secret = derive_credentials(venue_name, seed, name)
    passphrase = derive_passphrase(venue_name, seed, name) if dialect == "okx" else ""
    return {"api_key": api_key, "secret": secret, "balances": dict(DEFAULT_CLIENT_BALANCES), "passphrase": passphrase,
            **raw, "name": name}
