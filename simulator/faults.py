"""Fault injection for one simulated venue: what to break, and the seeded decisions of when to break it.

``Faults`` is the settable part (a frozen pydantic model, each fault declared once with its default, bounds and help;
set at start from ``--faults JSON`` or at run time through ``POST /_sim/faults``); ``FaultInjector`` holds the current
``Faults`` plus a ``random.Random(seed)`` and the counters, and answers the server's per-request question "what
happens to this request?". The same seed and the same request sequence give the same decisions, so fault runs repeat.

Counted faults ("next N") are consumed in request order; timed faults ("for T seconds") are stored as deadlines on the
injected monotonic clock. The server applies the decision; the engine and market honour the two flags they own
(``partial_fills_only`` on the engine, ``freeze_book`` on the market). The ``take_*`` methods answer the questions of
the other hooks (a WebSocket push, a depth answer, a REST answer, a trade-history read), each consuming its counter.
"""
from __future__ import annotations

import enum
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

DOWN_MODES = ("refuse", "silent")
# What a lying order answer gets wrong: the side, the client order id, the symbol, the amount, the price (the order's
# and its fills', worse for us), or its fills (each reported twice under new trade ids: more than the amount).
LIES = ("side", "client_order_id", "symbol", "amount", "price", "fills")
THROTTLE_STATUSES = (429, 418)
# How a broken REST answer is broken (``malformed``); what a lying book shows (``book_lie``).
MALFORMED_KINDS = ("garbage_json", "html_error", "truncated", "missing_fields", "wrong_types", "unknown_status")
BOOK_LIES = ("crossed", "negative", "nan")
MAX_CLOCK_SKEW_MS = 86_400_000.0  # a day either way


class FaultConfigError(ValueError):
    """A faults JSON/dict names an unknown fault or gives a value of the wrong type or range."""


_COUNT = {"ge": 0, "le": 1_000_000}  # a "next N" counter
_SECONDS = {"ge": 0.0, "le": 86_400.0}
_SHARE = {"ge": 0.0, "le": 1.0}


class Faults(BaseModel):
    """What to break on one venue. Every field defaults to "no fault"; ``Faults()`` is a healthy venue.

    Shares are probabilities in [0, 1] per request; ``*_next`` fields count the next N matching requests (or pushes);
    ``*_for_s`` fields last T seconds from the moment they are set. Frozen: a change is a new ``Faults`` (``merged``).
    JSON types are strict: a number is not a string, a bool is not a number, an integer field takes no fraction.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, validate_default=False)

    latency_ms: float = Field(0.0, ge=0.0, le=600_000.0, description="added to every REST answer")
    jitter_ms: float = Field(0.0, ge=0.0, le=600_000.0, description="plus uniform(0, jitter_ms)")
    error_share: float = Field(0.0, **_SHARE, description="share of REST requests answered with a bare 5xx")
    error_status: int = Field(503, ge=500, le=599, description="the status of those bare 5xx answers")
    throttle_next: int = Field(0, **_COUNT, description="next N REST requests answered 429/418 with Retry-After")
    throttle_for_s: float = Field(0.0, **_SECONDS, description="or every REST request for T seconds")
    throttle_status: Literal[429, 418] = Field(429, description="429 (rate limit) or 418 (IP ban)")
    retry_after_s: int = Field(1, ge=0, le=86_400, description="the Retry-After of a throttled answer")
    drop_share: float = Field(0.0, **_SHARE, description="share of REST requests closed without an answer")
    drop_next: int = Field(0, **_COUNT, description="next N REST requests closed without an answer")
    accept_then_drop_next: int = Field(
        0, **_COUNT, description="next N order POSTs: placed in the engine, then the connection is closed")
    reject_next_orders: int = Field(
        0, **_COUNT, description="next N order POSTs refused (reject_status/code/msg), not placed")
    accept_then_reject_next: int = Field(
        0, **_COUNT, description="next N order POSTs: placed in the engine, then answered reject_status/code/msg")
    reject_status: int = Field(400, ge=400, le=599, description="the HTTP status of those rejections")
    reject_code: int = Field(
        -2010, description="their code in the venue's dialect (Binance: as set; OKX: an OKX code > 0, else 51000)")
    reject_msg: str = Field(
        "", max_length=200, description='their message ("" = "Order rejected by venue (simulated).")')
    lie_next_orders: int = Field(
        0, **_COUNT, description="next N order POSTs: placed as sent, but the answer lies about the field `lie`")
    lie: Literal[LIES] = Field("side", description="what a lying order answer gets wrong (OKX: client_order_id only)")
    partial_fills_only: bool = Field(False, description="engine flag: takers fill only half of what they could")
    freeze_book: bool = Field(False, description="market flag: the market maker stops re-quoting")
    ws_gap_next: int = Field(0, **_COUNT, description="drop the next N depth events, so clients see a sequence gap")
    ws_bad_checksum_next: int = Field(
        0, **_COUNT, description="corrupt the checksum of the next N book updates (dialects with one: OKX)")
    ws_disconnect_next: int = Field(
        0, **_COUNT, description="the next N WebSocket pushes (depth and private) close their connection instead")
    down: Literal[DOWN_MODES] | None = Field(
        None, description='"refuse": stop listening; "silent": accept and answer nothing; null: up')
    down_for_s: float = Field(0.0, **_SECONDS, description="when > 0, the venue comes back by itself after T seconds")
    clock_skew_ms: float = Field(
        0.0, ge=-MAX_CLOCK_SKEW_MS, le=MAX_CLOCK_SKEW_MS,
        description="the venue's clock runs this far ahead (negative: behind): signed requests, server time, stamps")
    malformed_next: int = Field(
        0, **_COUNT, description="the next N REST answers (under malformed_path) are broken the way `malformed` says")
    malformed: Literal[MALFORMED_KINDS] = Field("garbage_json", description="how those answers are broken")
    malformed_path: str = Field(
        "", max_length=200, pattern=r"^(/[\x21-\x7e]*)?$",
        description='a path prefix of the answers to break; "" = any')
    book_lie_next: int = Field(
        0, **_COUNT, description="the next N depth pushes and REST depth answers carry the book lie `book_lie`")
    book_lie: Literal[BOOK_LIES] = Field("crossed", description="crossed, a negative price/amount, or NaN")
    phantom_fill_next: int = Field(
        0, **_COUNT, description="N fills of an order nobody placed appear in the account's trade history")
    seed: int | None = Field(None, description="reseeds the injector's random decisions when given")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "Faults":
        """Build from a JSON-like dict; unknown keys and bad values raise ``FaultConfigError`` naming the key."""
        faults = cls()
        if data:
            faults = faults.merged(data)
        return faults

    def merged(self, changes: dict[str, Any]) -> "Faults":
        """Return a copy with ``changes`` applied (validated); ``None`` for a key resets it to its default."""
        if not isinstance(changes, dict):
            raise FaultConfigError(f"faults must be a JSON object, got {type(changes).__name__}")
        fields = type(self).model_fields
        values = self.model_dump()
        for key, value in changes.items():
            if key not in fields:
                raise FaultConfigError(f"unknown fault {key!r}; known: {', '.join(sorted(fields))}")
            values[key] = fields[key].default if value is None else value
        try:
            return type(self).model_validate(values)
        except ValidationError as exc:
            raise FaultConfigError(_first_problem(exc)) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def consumed(self, name: str) -> "Faults":
        """A copy with the counter ``name`` one lower (the caller checked it is above 0)."""
        return self.model_copy(update={name: getattr(self, name) - 1})


def _first_problem(exc: ValidationError) -> str:
    """One line naming the key and what is wrong with its value (``error_share: must be <= 1, got 1.5``)."""
    error = exc.errors(include_url=False)[0]
    key = ".".join(str(part) for part in error["loc"]) or "faults"
    message = str(error["msg"])
    if error["type"] == "string_pattern_mismatch":
        message = "must be \"\" or a path starting with /"
    message = message[:1].lower() + message[1:]
    return f"{key}: {message}, got {error.get('input')!r}"[:300]


class Action(enum.Enum):
    """What the server does with one REST request."""

    PASS = "pass"
    ERROR_5XX = "error_5xx"
    THROTTLE = "throttle"
    DROP = "drop"
    REJECT_ORDER = "reject_order"
    ACCEPT_THEN_DROP = "accept_then_drop"
    ACCEPT_THEN_REJECT = "accept_then_reject"
    LIE = "lie"


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay_s: float = 0.0


PASS = Decision(Action.PASS)


@dataclass
class FaultInjector:
    """The live fault state of one venue: current ``Faults``, seeded RNG, timed deadlines.

    ``set``/``update``/``clear`` change it at run time; ``decide`` is called once per REST request (never for
    ``/_sim/`` or the WebSocket) and consumes counted faults. ``take_ws_gap`` is called once per depth event.
    """

    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    monotonic: Callable[[], float] = time.monotonic
    _rng: random.Random = field(init=False, repr=False)
    _throttle_until: float = field(init=False, default=0.0)
    _down_until: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed if self.faults.seed is not None else self.seed)
        self._arm_timers(self.faults)

    # --- run-time control -------------------------------------------------------------------------------------
    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply a partial JSON dict (the body of ``POST /_sim/faults``); returns the new ``Faults``."""
        new = self.faults.merged(changes)
        if "seed" in changes and new.seed is not None:
            self._rng = random.Random(new.seed)
        self.faults = new
        self._arm_timers_for(new, changes)
        return new

    def replace(self, faults: Faults) -> None:
        if faults.seed is not None:
            self._rng = random.Random(faults.seed)
        self.faults = faults
        self._arm_timers(faults)

    def clear(self) -> None:
        self.faults = Faults()
        self._throttle_until = 0.0
        self._down_until = 0.0

    def _arm_timers(self, faults: Faults) -> None:
        now = self.monotonic()
        self._throttle_until = now + faults.throttle_for_s if faults.throttle_for_s > 0 else 0.0
        self._down_until = now + faults.down_for_s if faults.down and faults.down_for_s > 0 else 0.0

    def _arm_timers_for(self, faults: Faults, changes: dict[str, Any]) -> None:
        now = self.monotonic()
        if "throttle_for_s" in changes:
            self._throttle_until = now + faults.throttle_for_s if faults.throttle_for_s > 0 else 0.0
        if "down" in changes or "down_for_s" in changes:
            self._down_until = now + faults.down_for_s if faults.down and faults.down_for_s > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Current settings plus remaining time of timed faults (for ``GET /_sim/faults``)."""
        now = self.monotonic()
        data = self.faults.to_dict()
        data["throttle_remaining_s"] = round(max(0.0, self._throttle_until - now), 3)
        data["down_remaining_s"] = round(max(0.0, self._down_until - now), 3) if self.faults.down else 0.0
        return data

    # --- venue down ---------------------------------------------------------------------------------------------
    def down_mode(self) -> str | None:
        """The current down mode, or None; a timed down that has run out is cleared here."""
        mode = self.faults.down
        if mode and self._down_until and self.monotonic() >= self._down_until:
            self.faults = self.faults.model_copy(update={"down": None, "down_for_s": 0.0})
            self._down_until = 0.0
            return None
        return mode

    def down_remaining_s(self) -> float | None:
        """Seconds until a timed down ends, or None when it is untimed or the venue is up."""
        if not self.faults.down or not self._down_until:
            return None
        return max(0.0, self._down_until - self.monotonic())

    def set_down(self, mode: str | None, for_s: float = 0.0) -> None:
        self.update({"down": mode, "down_for_s": for_s if mode else None})

    # --- per request ----------------------------------------------------------------------------------------------
    def decide(self, is_order_post: bool) -> Decision:
        """Decide the fate of one REST request; consumes counted faults in a fixed order."""
        f = self.faults
        delay_s = 0.0
        if f.latency_ms or f.jitter_ms:
            delay_s = (f.latency_ms + (self._rng.uniform(0.0, f.jitter_ms) if f.jitter_ms else 0.0)) / 1000.0
        if f.drop_next > 0:
            self.faults = f.consumed("drop_next")
            return Decision(Action.DROP, delay_s)
        if f.drop_share and self._rng.random() < f.drop_share:
            return Decision(Action.DROP, delay_s)
        if f.throttle_next > 0:
            self.faults = f.consumed("throttle_next")
            return Decision(Action.THROTTLE, delay_s)
        if self._throttle_until:
            if self.monotonic() < self._throttle_until:
                return Decision(Action.THROTTLE, delay_s)
            self._throttle_until = 0.0
            self.faults = f.model_copy(update={"throttle_for_s": 0.0})
            f = self.faults
        if f.error_share and self._rng.random() < f.error_share:
            return Decision(Action.ERROR_5XX, delay_s)
        if is_order_post:
            if f.reject_next_orders > 0:
                self.faults = f.consumed("reject_next_orders")
                return Decision(Action.REJECT_ORDER, delay_s)
            if f.accept_then_drop_next > 0:
                self.faults = f.consumed("accept_then_drop_next")
                return Decision(Action.ACCEPT_THEN_DROP, delay_s)
            if f.accept_then_reject_next > 0:
                self.faults = f.consumed("accept_then_reject_next")
                return Decision(Action.ACCEPT_THEN_REJECT, delay_s)
            if f.lie_next_orders > 0:
                self.faults = f.consumed("lie_next_orders")
                return Decision(Action.LIE, delay_s)
        if delay_s:
            return Decision(Action.PASS, delay_s)
        return PASS

    def take_bad_checksum(self) -> bool:
        """True when this book update's checksum is to be corrupted (consumes one ``ws_bad_checksum_next``)."""
        f = self.faults
        if f.ws_bad_checksum_next > 0:
            self.faults = f.consumed("ws_bad_checksum_next")
            return True
        return False

    def take_ws_gap(self) -> bool:
        """True when this depth event is to be dropped from the stream (consumes one ``ws_gap_next``)."""
        f = self.faults
        if f.ws_gap_next > 0:
            self.faults = f.consumed("ws_gap_next")
            return True
        return False

    def take_ws_disconnect(self) -> bool:
        """True when this WebSocket push is to close its connection instead (consumes one ``ws_disconnect_next``)."""
        f = self.faults
        if f.ws_disconnect_next > 0:
            self.faults = f.consumed("ws_disconnect_next")
            return True
        return False

    def take_malformed(self, path: str) -> str | None:
        """How this REST answer is to be broken (one of ``MALFORMED_KINDS``), or None; consumes one
        ``malformed_next`` when ``path`` starts with ``malformed_path``."""
        f = self.faults
        if f.malformed_next > 0 and path.startswith(f.malformed_path):
            self.faults = f.consumed("malformed_next")
            return f.malformed
        return None

    def take_book_lie(self) -> str | None:
        """The lie this depth push or depth answer carries (one of ``BOOK_LIES``), or None (consumes one
        ``book_lie_next``)."""
        f = self.faults
        if f.book_lie_next > 0:
            self.faults = f.consumed("book_lie_next")
            return f.book_lie
        return None

    def take_phantom_fill(self) -> bool:
        """True when a fill of an order nobody placed is to be made now (consumes one ``phantom_fill_next``)."""
        f = self.faults
        if f.phantom_fill_next > 0:
            self.faults = f.consumed("phantom_fill_next")
            return True
        return False
