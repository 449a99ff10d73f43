"""How each configuration field is read: one function per rule, raising ValueError with the text the operator reads
after the key path (``strategy.cooldown_s: must be >= 0 seconds, got -1``)."""
from __future__ import annotations

import ipaddress
import math
import os
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Callable
from urllib.parse import urlsplit

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A money value beyond these is a typo or an attack on Decimal's arithmetic (``1e999999999``), never an amount.
MONEY_INTEGER_DIGITS = 30
MONEY_FRACTION_DIGITS = 18


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


def _money(*, minimum: Decimal = Decimal(0), strictly_greater: bool = False) -> Callable[[Any], Decimal]:
    def parse(value: Any) -> Decimal:
        if isinstance(value, Decimal):
            amount = value
        elif isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError(f"expected a decimal number, got {type(value).__name__}")
        else:
            try:
                amount = Decimal(str(value).strip())
            except InvalidOperation:
                raise ValueError(f"expected a decimal number, got {value!r}") from None
        if not amount.is_finite():
            raise ValueError(f"must be finite, got {value!r}")
        if amount and not -MONEY_FRACTION_DIGITS <= amount.adjusted() < MONEY_INTEGER_DIGITS:
            raise ValueError(f"must be a plain amount (at most {MONEY_INTEGER_DIGITS} digits before and "
                             f"{MONEY_FRACTION_DIGITS} after the point), got {value!r}")
        if amount < minimum or (strictly_greater and amount == minimum):
            raise ValueError(f"must be {'>' if strictly_greater else '>='} {minimum}, got {amount}")
        return amount

    return parse


def _integer(*, minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return parse


def _seconds(*, strictly_positive: bool = True) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number of seconds, got {type(value).__name__}")
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0 or (strictly_positive and seconds == 0):
            raise ValueError(f"must be {'> 0' if strictly_positive else '>= 0'} seconds, got {value}")
        return seconds

    return parse


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else parse(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a non-empty string, got {type(value).__name__}")
    if not value.strip():
        raise ValueError("expected a non-empty string, got an empty string")
    return value.strip()


def _choice(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value)
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {text!r}")
        return text

    return parse


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def _env_name(value: Any) -> str:
    name = _text(value)
    if not _ENV_NAME.match(name):
        # Do not echo the value: someone may have pasted a key here instead of a variable name.
        raise ValueError("must be the NAME of an environment variable (letters, digits, underscore), not a key")
    return name


def _venue_url(value: Any) -> str:
    url = _text(value)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise ValueError(f"must look like http://HOST:PORT or https://HOST:PORT (plain http on loopback only), "
                         f"got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("must be scheme://HOST:PORT[/path], without user, password, query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(f"plain http to {parts.hostname}, which is not this machine, would send the API key in "
                         f"cleartext; use https://")
    return url.rstrip("/")


def _balances(value: Any) -> tuple[tuple[str, Decimal], ...]:
    if isinstance(value, tuple):  # already parsed (a default, or a copy)
        return value
    if not isinstance(value, dict) or not value:
        raise ValueError("expected a mapping of asset to amount, e.g. {USDT: 100000, BTC: 2}")
    parse = _money()
    balances = []
    for asset, amount in value.items():
        if not isinstance(asset, str) or not re.fullmatch(r"[A-Z0-9]{1,20}", asset):
            raise ValueError(f"asset names are upper-case letters and digits, got {asset!r}")
        try:
            balances.append((asset, parse(amount)))
        except ValueError as e:
            raise ValueError(f"{asset}: {e}") from None
    return tuple(balances)


def _readable_file(value: Any) -> str:
    path = _text(value)
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValueError(f"no readable file at {path!r}")
    return path


def _ip_address(value: Any) -> str:
    text = _text(value)
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"expected an IP address such as 127.0.0.1, got {text!r}") from None
    return text


def _channels(value: Any) -> str:
    text = _text(value)
    if text in ("auto", "node", "off"):
        return text
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"expected auto, node, off or an IP address, got {text!r}") from None
    if address.is_unspecified:
        raise ValueError(f"{text} listens on every interface; name one address (or node: the address Ray uses "
                         f"for each node)")
    return text
