"""Builds ccxt exchange objects for rayarb: real venues, Binance's testnet, or a local Binance-dialect venue URL.

This is the one place that knows how to point unmodified ccxt at a local venue (``rayarb sim``): every API URL is
rewritten to the local base so nothing can reach the internet, markets are limited to spot, Binance's spot error table
is applied (ccxt only applies it for Binance's own hosts) and the rate limiter is turned off.

Every exchange it builds encodes request parameters with ``fast_urlencode``: ccxt's own encoding, byte for byte, minus
urllib's character-by-character quoting of the plain keys and values every order has. Signing an order spent ~90 us
there, a third of ccxt's work between "place this order" and the request leaving (BENCHMARKS.md).
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from execution.api.errors import attach_venue_replies

Flavour = Literal["sync", "async", "pro"]
# Imported when an exchange is first built (see execution/api/__init__.py for why not before)
_MODULES = {"sync": "ccxt", "async": "ccxt.async_support", "pro": "ccxt.pro"}

# Options that keep load_markets to GET /api/v3/exchangeInfo and open-order queries possible without a symbol.
SPOT_ONLY_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchCurrencies": False,
    "fetchMargins": False,
    "warnOnFetchOpenOrdersWithoutSymbol": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}

LOCAL_DIALECTS = frozenset({"binance", "okx"})


def exchange_ids() -> frozenset[str]:
    """Every exchange id ccxt knows (imports ccxt)."""
    import ccxt

    return frozenset(ccxt.exchanges)


class VenueConfigError(ValueError):
    """The exchange cannot be built as asked: unknown ccxt id, bad URL, or a dialect a local venue does not speak."""


_LEFT_AS_IS_BY_QUOTE = re.compile(r"[A-Za-z0-9_.~-]*")  # urllib's quote(safe="") changes no other string


def fast_urlencode(ccxt_urlencode: Callable[..., str]) -> Callable[..., str]:
    """``ccxt_urlencode`` (``Exchange.urlencode``: urllib's urlencode with quote, booleans as true/false), with the
    same output for every input, that skips quoting keys and values that quoting leaves as they are. Anything but
    plain values (lists, bytes, ``doseq``) goes to ``ccxt_urlencode`` itself."""
    def quoted(text: str) -> str:
        return text if _LEFT_AS_IS_BY_QUOTE.fullmatch(text) else quote(text, safe="")

    def urlencode(params: dict = {}, doseq: bool = False, sort: bool = False) -> str:  # noqa: B006 (ccxt's signature)
        if doseq:
            return ccxt_urlencode(params, doseq, sort)
        pairs = []
        for key, value in params.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif not isinstance(value, (str, int, float, Decimal)) or not isinstance(key, (str, int)):
                return ccxt_urlencode(params, doseq, sort)
            pairs.append(f"{quoted(str(key))}={quoted(str(value))}")
        return "&".join(pairs)

    return urlencode


def make_exchange(
    exchange_id: str = "binance",
    *,
    url: str | None = None,
    flavour: Flavour = "async",
    api_key: str | None = None,
    secret: str | None = None,
    sandbox: bool = False,
    timeout_ms: int = 10_000,
    options: dict[str, Any] | None = None,
    rate_limit: bool | None = None,
    password: str | None = None,
) -> Any:
    """Return a ccxt exchange (``ccxt``, ``ccxt.async_support`` or ``ccxt.pro`` by ``flavour``), not yet loaded.

    ``url`` (``http://127.0.0.1:18800``) points the client at a local Binance-dialect venue; without it the real
    venue is used with ccxt's rate limiter on. ``rate_limit`` overrides that choice (a real venue reached by ``url``
    keeps the limiter). ``sandbox`` selects the venue's testnet. Keys are only passed to ccxt, never logged.
    """
    if flavour not in _MODULES:
        raise VenueConfigError(f"flavour must be one of {sorted(_MODULES)}, got {flavour!r}")
    module = importlib.import_module(_MODULES[flavour])
    if not isinstance(exchange_id, str) or not hasattr(module, exchange_id) or exchange_id not in module.exchanges:
        raise VenueConfigError(f"unknown ccxt exchange id {exchange_id!r}")
    config: dict[str, Any] = {"timeout": timeout_ms, "options": {**SPOT_ONLY_OPTIONS, **(options or {})}}
    if api_key:
        config["apiKey"] = api_key
    if secret:
        config["secret"] = secret
    if password:  # the passphrase of a dialect whose keys have one (OKX)
        config["password"] = password
    if url is None:
        config["enableRateLimit"] = True
        exchange = _new_exchange(module, exchange_id, config)
        if sandbox:
            exchange.set_sandbox_mode(True)
        return exchange

    if exchange_id not in LOCAL_DIALECTS:
        raise VenueConfigError(f"a local venue speaks Binance's dialect; exchange id {exchange_id!r} cannot use url={url!r}")
    base = _local_base(url)
    config["enableRateLimit"] = bool(rate_limit)
    if base.startswith("http:"):  # ccxt waits this long at close for TLS connections to shut down: there are none
        config["timeout_on_exit"] = 0
    exchange = _new_exchange(module, exchange_id, config)
    point_at_local_venue(exchange, base)
    return exchange


def _new_exchange(module: Any, exchange_id: str, config: dict[str, Any]) -> Any:
    exchange = getattr(module, exchange_id)(config)
    exchange.urlencode = fast_urlencode(exchange.urlencode)
    attach_venue_replies(exchange)  # the venue's error code travels with ccxt's exception, for the error table
    return exchange


def _local_base(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is None:
        raise VenueConfigError(f"venue url must look like http://HOST:PORT, got {url!r}")
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


def point_at_local_venue(exchange: Any, base: str) -> None:
    """Rewrite every API URL of ``exchange`` (REST and WebSocket) to ``base``, keeping each URL's path."""
    ws_base = "ws" + base[len("http"):]

    def rewrite(value: Any, scheme_base: str) -> Any:
        if isinstance(value, str):
            return scheme_base + urlsplit(value).path
        if isinstance(value, dict):
            return {key: rewrite(inner, ws_base if key == "ws" else scheme_base) for key, inner in value.items()}
        return value

    api = rewrite(exchange.urls["api"], base)
    if isinstance(api.get("ws"), dict):
        # ccxt's is_spot_url looks for '/stream' in the spot URL; the simulator serves depth there.
        api["ws"]["spot"] = ws_base + "/stream/ws"
        api["ws"]["margin"] = ws_base + "/stream/ws"
    exchange.urls["api"] = api
    exchange.urls.pop("test", None)
    exchange.urls.pop("demo", None)
    spot_exact = exchange.exceptions.get("spot", {}).get("exact", {})
    exchange.exceptions["exact"].update(spot_exact)
    exchange.hostname = urlsplit(base).netloc
