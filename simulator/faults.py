"""Fault injection for one simulated venue: what to break, and the seeded decisions of when to break it.

``Faults`` is the settable part (a dataclass, set at start from ``--faults JSON`` or at run time through
``POST /_sim/faults``); ``FaultInjector`` holds the current ``Faults`` plus a ``random.Random(seed)`` and the counters,
and answers the server's per-request question "what happens to this request?". The same seed and the same request
sequence give the same decisions, so fault runs repeat.

Counted faults ("next N") are consumed in request order; timed faults ("for T seconds") are stored as deadlines on the
injected monotonic clock. The server applies the decision; the engine and market honour the two flags they own
(``partial_fills_only`` on the engine, ``freeze_book`` on the market).
"""
from __future__ import annotations

import dataclasses
import enum
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

logger = logging.getLogger(__name__)

DOWN_MODES = ("refuse", "silent")
# What a lying order answer gets wrong: the side, the client order id, the symbol, the amount, the price (the order's
# and its fills', worse for us), or its fills (each reported twice under new trade ids: more than the amount).
LIES = ("side", "client_order_id", "symbol", "amount", "price", "fills")
THROTTLE_STATUSES = (429, 418)


class FaultConfigError(ValueError):
    """A faults JSON/dict names an unknown fault or gives a value of the wrong type or range."""


@dataclass
class Faults:
    """What to break on one venue. Every field defaults to "no fault"; ``Faults()`` is a healthy venue.

    Shares are probabilities in [0, 1] per request; ``*_next`` fields count the next N matching requests;
    ``*_for_s`` fields last T seconds from the moment they are set.
    """

    latency_ms: float = 0.0  # added to every REST answer
    jitter_ms: float = 0.0  # plus uniform(0, jitter_ms)
    error_share: float = 0.0  # share of REST requests answered with a bare 5xx (no JSON code)
    error_status: int = 503
    throttle_next: int = 0  # next N REST requests answered 429/418 with Retry-After
    throttle_for_s: float = 0.0  # or every REST request for T seconds
    throttle_status: int = 429
    retry_after_s: int = 1
    drop_share: float = 0.0  # share of REST requests whose connection is closed without an answer
    drop_next: int = 0  # next N REST requests closed without an answer
    accept_then_drop_next: int = 0  # next N order POSTs: placed in the engine, then the connection is closed
    reject_next_orders: int = 0  # next N order POSTs refused (reject_status/code/msg; by default -2010), not placed
    accept_then_reject_next: int = 0  # next N order POSTs: placed in the engine, then answered reject_status/code/msg
    reject_status: int = 400  # the HTTP status of those answers
    reject_code: int = -2010  # their code in the venue's dialect (Binance: as set; OKX: an OKX code > 0, else 51000)
    reject_msg: str = ""  # their message ("" = "Order rejected by venue (simulated).")
    lie_next_orders: int = 0  # next N order POSTs: placed as sent, but the answer lies about the field ``lie``
    lie: str = "side"  # one of LIES (an OKX order answer carries ids only: only "client_order_id" changes it)
    partial_fills_only: bool = False  # engine flag: takers fill only part of what they could
    freeze_book: bool = False  # market flag: the market maker stops re-quoting
    ws_gap_next: int = 0  # drop the next N depth events from the stream, so clients see a sequence gap
    ws_bad_checksum_next: int = 0  # corrupt the checksum of the next N book updates (dialects with one: OKX)
    down: str | None = None  # "refuse": stop listening; "silent": accept and answer nothing
    down_for_s: float = 0.0  # when > 0, the venue comes back by itself after T seconds
    seed: int | None = None  # reseeds the injector's random decisions when given

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
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        values = dataclasses.asdict(self)
        for key, value in changes.items():
            if key not in defaults:
                raise FaultConfigError(f"unknown fault {key!r}; known: {sorted(defaults)}")
            values[key] = defaults[key] if value is None else _coerce(key, defaults[key], value)
        result = Faults(**values)
        result.validate()
        return result

    def validate(self) -> None:
        for name in ("error_share", "drop_share"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise FaultConfigError(f"{name} must be within [0, 1], got {share}")
        for name in ("latency_ms", "jitter_ms", "throttle_for_s", "down_for_s", "throttle_next", "drop_next",
                     "accept_then_drop_next", "reject_next_orders", "accept_then_reject_next", "lie_next_orders",
                     "ws_gap_next", "ws_bad_checksum_next", "retry_after_s"):
            if getattr(self, name) < 0:
                raise FaultConfigError(f"{name} must not be negative, got {getattr(self, name)}")
        if not 500 <= self.error_status <= 599:
            raise FaultConfigError(f"error_status must be a 5xx status, got {self.error_status}")
        if self.throttle_status not in THROTTLE_STATUSES:
            raise FaultConfigError(f"throttle_status must be one of {THROTTLE_STATUSES}, got {self.throttle_status}")
        if not 400 <= self.reject_status <= 599:
            raise FaultConfigError(f"reject_status must be a 4xx or 5xx status, got {self.reject_status}")
        if self.lie not in LIES:
            raise FaultConfigError(f"lie must be one of {LIES}, got {self.lie!r}")
        if len(self.reject_msg) > 200:
            raise FaultConfigError("reject_msg must be at most 200 characters")
        if self.down is not None and self.down not in DOWN_MODES:
            raise FaultConfigError(f"down must be one of {DOWN_MODES} or null, got {self.down!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(key: str, default: Any, value: Any) -> Any:
    """Check a JSON value against the type of the field's default (bool is not accepted as a number)."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise FaultConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if isinstance(default, int) and key != "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FaultConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if key == "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise FaultConfigError(f"seed must be an integer, got {value!r}")
        return value
    if key == "down":
        if not isinstance(value, str):
            raise FaultConfigError(f"down must be a string or null, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise FaultConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise FaultConfigError(f"cannot set {key} to {value!r}")  # pragma: no cover - every field is handled above


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
        faults.validate()
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
            self.faults = dataclasses.replace(self.faults, down=None, down_for_s=0.0)
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
            self.faults = dataclasses.replace(f, drop_next=f.drop_next - 1)
            return Decision(Action.DROP, delay_s)
        if f.drop_share and self._rng.random() < f.drop_share:
            return Decision(Action.DROP, delay_s)
        if f.throttle_next > 0:
            self.faults = dataclasses.replace(f, throttle_next=f.throttle_next - 1)
            return Decision(Action.THROTTLE, delay_s)
        if self._throttle_until:
            if self.monotonic() < self._throttle_until:
                return Decision(Action.THROTTLE, delay_s)
            self._throttle_until = 0.0
            self.faults = dataclasses.replace(f, throttle_for_s=0.0)
            f = self.faults
        if f.error_share and self._rng.random() < f.error_share:
            return Decision(Action.ERROR_5XX, delay_s)
        if is_order_post:
            if f.reject_next_orders > 0:
                self.faults = dataclasses.replace(f, reject_next_orders=f.reject_next_orders - 1)
                return Decision(Action.REJECT_ORDER, delay_s)
            if f.accept_then_drop_next > 0:
                self.faults = dataclasses.replace(f, accept_then_drop_next=f.accept_then_drop_next - 1)
                return Decision(Action.ACCEPT_THEN_DROP, delay_s)
            if f.accept_then_reject_next > 0:
                self.faults = dataclasses.replace(f, accept_then_reject_next=f.accept_then_reject_next - 1)
                return Decision(Action.ACCEPT_THEN_REJECT, delay_s)
            if f.lie_next_orders > 0:
                self.faults = dataclasses.replace(f, lie_next_orders=f.lie_next_orders - 1)
                return Decision(Action.LIE, delay_s)
        if delay_s:
            return Decision(Action.PASS, delay_s)
        return PASS

    def take_bad_checksum(self) -> bool:
        """True when this book update's checksum is to be corrupted (consumes one ``ws_bad_checksum_next``)."""
        f = self.faults
        if f.ws_bad_checksum_next > 0:
            self.faults = dataclasses.replace(f, ws_bad_checksum_next=f.ws_bad_checksum_next - 1)
            return True
        return False

    def take_ws_gap(self) -> bool:
        """True when this depth event is to be dropped from the stream (consumes one ``ws_gap_next``)."""
        f = self.faults
        if f.ws_gap_next > 0:
            self.faults = dataclasses.replace(f, ws_gap_next=f.ws_gap_next - 1)
            return True
        return False
