"""Logging for rayarb: the seed's logger, structured records, and redaction of credentials.

Responsibilities:
- ``get_logger(name)`` and ``configure_logging(level, json_path=None)``: human-readable lines on stderr and, optionally,
  one JSON object per line in a file. Ids and other structured fields travel as ``extra={...}`` and appear in both.
- ``order_fields`` / ``fill_fields`` / ``position_fields`` / ``error_fields``: the ``extra`` dictionaries for the
  records every part of rayarb writes about orders, fills, positions and errors, so the field names are the same
  everywhere (``client_order_id``, ``exchange_order_id``, ``opportunity_id``, ``exchange``, ``symbol``, ...).
- ``redact(text)`` and ``RedactingFilter``: API keys, secrets and signatures never reach a log line, including exception
  texts and tracebacks. Signatures in URLs (``signature=<hex>``), Binance's ``X-MBX-APIKEY`` header, OKX's
  ``OK-ACCESS-KEY`` / ``-SIGN`` / ``-PASSPHRASE`` headers, key/secret fields
  in dicts, JSON and query strings, and every value given to ``register_secret`` are replaced by ``***``.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import threading
from decimal import Decimal
from typing import Any, Iterable, TextIO

logger = logging.getLogger(__name__)

REDACTED = "***"
# Shorter values are not registered: redacting e.g. "1" would garble every number in the logs.
MIN_SECRET_LENGTH = 6

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # signature=<hex> in a query string or a form body (Binance HMAC-SHA256 signatures; also any other value).
    (re.compile(r"(?i)(signature=)[^&\s'\"]+"), r"\1" + REDACTED),
    # X-MBX-APIKEY header in any rendering: 'X-MBX-APIKEY': 'abc', X-MBX-APIKEY: abc, "X-MBX-APIKEY": "abc".
    (re.compile(r"(?i)(x-mbx-apikey['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}&]+"), r"\1" + REDACTED),
    # OKX's OK-ACCESS-KEY, OK-ACCESS-SIGN and OK-ACCESS-PASSPHRASE headers, in the same renderings.
    (re.compile(r"(?i)(ok-access-(?:key|sign|passphrase)['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}&]+"), r"\1" + REDACTED),
    # key=value in query strings and form bodies.
    (re.compile(r"(?i)\b((?:api[_-]?key|apikey|secret|secret[_-]?key|api[_-]?secret|password|passphrase|token)=)"
                r"[^&\s'\"]+"), r"\1" + REDACTED),
    # 'apiKey': 'abc' / "secret": "abc" in dict reprs and JSON.
    (re.compile(r"(?i)(['\"](?:api[_-]?key|apikey|secret|secret[_-]?key|api[_-]?secret|password|passphrase|token)"
                r"['\"]\s*:\s*['\"])[^'\"]*"), r"\1" + REDACTED),
)

_secrets_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_secrets_pattern: re.Pattern[str] | None = None


def register_secret(*values: str | None) -> None:
    """Remember values (API keys, secrets) that must be redacted wherever they appear. Empty/short values are skipped."""
    global _secrets, _secrets_pattern
    fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH}
    if not fresh:
        return
    with _secrets_lock:
        _secrets = _secrets | fresh
        # Longest first so a secret that contains another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def forget_secrets() -> None:
    """Drop every registered secret (tests; a process that rotates its keys)."""
    global _secrets, _secrets_pattern
    with _secrets_lock:
        _secrets = frozenset()
        _secrets_pattern = None


def redact(text: str) -> str:
    """``text`` with signatures, API keys and registered secrets replaced by ``***``."""
    if not text:
        return text
    pattern = _secrets_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _PATTERNS:
        text = regex.sub(replacement, text)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float, Decimal, bool)) or value is None:
        return value
    return redact(str(value))


# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is a structured field.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime",
                                                                                      "taskName"}


def structured_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra=`` fields of a record."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRS and not key.startswith("_")}


class RedactingFilter(logging.Filter):
    """Rewrites every record so that no credential survives: message, arguments, extra fields, exception and stack.

    Attach it to handlers (``configure_logging`` does): a handler filter sees records from every logger that
    propagates to it, where a logger filter would only see its own logger's records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in structured_fields(record).items():
            setattr(record, key, _redact_value(value))
        if record.exc_info and record.exc_info != (None, None, None):
            # Formatter.format uses exc_text when set, so the redacted text is what every formatter prints.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class KeyValueFormatter(logging.Formatter):
    """``2026-07-01T12:00:00.123 INFO execution.orders.manager: order accepted client_order_id=... exchange=...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = structured_fields(record)
        if not fields:
            return line
        head, newline, tail = line.partition("\n")
        extras = " ".join(f"{key}={value}" for key, value in fields.items())
        return f"{head} {extras}{newline}{tail}"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, every extra field, and exc (text) when present."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in structured_fields(record).items():
            payload[key] = value if isinstance(value, (int, float, bool, str)) or value is None else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        return json.dumps(payload, default=str)


_installed_handlers: list[logging.Handler] = []


def configure_logging(level: int | str = "INFO", json_path: str | None = None, *,
                      stream: TextIO | None = None) -> list[logging.Handler]:
    """Set up the root logger: key=value lines on ``stream`` (stderr), plus JSON lines appended to ``json_path``.

    Idempotent: handlers installed by an earlier call are removed first. Every handler carries a ``RedactingFilter``.
    Returns the handlers installed.
    """
    root = logging.getLogger()
    for handler in _installed_handlers:
        root.removeHandler(handler)
        handler.close()
    _installed_handlers.clear()

    text_handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    text_handler.setFormatter(KeyValueFormatter())
    handlers: list[logging.Handler] = [text_handler]
    if json_path is not None:
        json_handler = logging.FileHandler(json_path, encoding="utf-8")
        json_handler.setFormatter(JsonLinesFormatter())
        handlers.append(json_handler)
    for handler in handlers:
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
        _installed_handlers.append(handler)
    root.setLevel(level if isinstance(level, int) else str(level).upper())
    return handlers


def install_redaction() -> None:
    """Make every line this process writes through logging pass a ``RedactingFilter``, keeping its handlers and
    level: the root logger's handlers (a stderr handler first when there is none, which is where Python's last-resort
    handler would have written unfiltered) and those of the ``ray`` logger. rayarb's runs name it as Ray's
    ``worker_process_setup_hook``, so every actor process runs it before any actor code."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(KeyValueFormatter())
        root.addHandler(handler)
    for handler in (*root.handlers, *logging.getLogger("ray").handlers):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def get_logger(name: str) -> logging.Logger:
    """The seed's logger accessor: a standard ``logging.Logger`` (redaction happens in the handlers)."""
    return logging.getLogger(name)


# --- the structured fields of the records rayarb writes ---------------------------------------------------------

def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value") and not isinstance(value, (int, float, str)):  # enums
        return value.value
    return value


def _fields(source: Any, names: Iterable[str], **more: Any) -> dict[str, Any]:
    fields = {name: _text(getattr(source, name)) for name in names if getattr(source, name, None) is not None}
    fields.update({key: _text(value) for key, value in more.items() if value is not None})
    return fields


def order_fields(order: Any, **more: Any) -> dict[str, Any]:
    """``extra=`` for a record about an order (an ``Order``, a command or an order event)."""
    return _fields(order, ("client_order_id", "exchange_order_id", "opportunity_id", "exchange", "symbol", "side",
                           "order_type", "amount", "price", "status"), **more)


def fill_fields(fill: Any, **more: Any) -> dict[str, Any]:
    """``extra=`` for a record about a ``types.Fill``."""
    return _fields(fill, ("trade_id", "client_order_id", "exchange_order_id", "exchange", "symbol", "side", "price",
                          "amount", "fee", "fee_asset"), **more)


def position_fields(exchange: str, asset: str, amount: Decimal, **more: Any) -> dict[str, Any]:
    """``extra=`` for a record about a position of one asset at one venue."""
    return {"exchange": exchange, "asset": asset, "position": str(amount),
            **{key: _text(value) for key, value in more.items() if value is not None}}


def error_fields(error: BaseException, **more: Any) -> dict[str, Any]:
    """``extra=`` for a record about an error: its type and the ids it carries."""
    fields: dict[str, Any] = {"error_type": type(error).__name__}
    for name in ("exchange", "client_order_id", "exchange_order_id", "opportunity_id", "retry_after"):
        value = getattr(error, name, None)
        if value is not None:
            fields[name] = _text(value)
    fields.update({key: _text(value) for key, value in more.items() if value is not None})
    return fields
