"""Every rayarb metric, defined in one place, and the only place where Decimal values become floats.

``RayarbMetrics(registry)`` holds all metrics; actors call its ``observe_*`` / ``count_*`` / ``set_*`` methods and never
touch prometheus_client themselves. Names start with ``rayarb_``, durations are in seconds, counters end in ``_total``.
Every label takes its value from a bounded set: the exchanges and symbols of the configuration (declared with
``init_labels``) and the fixed tuples below. A value outside its set is recorded as ``other`` (and logged once) instead
of raising, because a metrics call must never break the trading path.

Gauges use prometheus_client's ``mostrecent`` multiprocess mode so that, when metrics are written by many processes on a
node (``metrics.exporter``), the value last set by any process wins, also across an actor restart.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

logger = logging.getLogger(__name__)

# 0.1 ms .. 10 s, roughly 1-2.5-5 per decade.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05,
    0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
)

OTHER = "other"

SIDES = ("buy", "sell")
ORDER_TYPES = ("limit", "market")
ORDER_OUTCOMES = ("accepted", "rejected", "denied", "failed", "unknown")
ARBITRAGE_OUTCOMES = ("both_filled", "one_legged", "partial", "none")
SKIP_REASONS = (
    "stale_book",
    "below_min_profit",
    "below_min_amount",
    "below_min_notional",
    "insufficient_balance",
    "exposure_limit",
    "in_flight_limit",
    "cooldown",
    "exchange_unavailable",
    "kill_switch",
    OTHER,
)
# why a channel server closed a connection (actors.transport.wire.REFUSAL_REASONS)
CHANNEL_REFUSALS = (
    "handshake_failed", "handshake_timeout", "handshakes_full", "tls_failed", "unknown_method", "undecodable",
    "oversized",
)
# the fields a venue's answer can get wrong (execution.replies.FIELDS): rayarb_reply_mismatches
REPLY_FIELDS = ("client_order_id", "exchange", "symbol", "side", "exchange_order_id", "amount", "price", "fill",
                "filled")
# ccxt's error classes (ccxt/base/errors.py), most specific first is not needed: the class's own MRO is walked.
ERROR_CLASSES = (
    "AuthenticationError", "PermissionDenied", "AccountNotEnabled", "AccountSuspended",
    "ArgumentsRequired", "BadRequest", "BadSymbol", "OperationRejected", "NoChange", "MarginModeAlreadySet",
    "MarketClosed", "ManualInteractionNeeded", "RestrictedLocation", "InsufficientFunds", "InvalidAddress",
    "AddressPending", "InvalidOrder", "OrderNotFound", "OrderNotCached", "OrderImmediatelyFillable",
    "OrderNotFillable", "DuplicateOrderId", "ContractUnavailable", "NotSupported", "InvalidProxySettings",
    "ExchangeClosedByUser", "OperationFailed", "NetworkError", "DDoSProtection", "RateLimitExceeded",
    "ExchangeNotAvailable", "OnMaintenance", "InvalidNonce", "ChecksumError", "RequestTimeout", "BadResponse",
    "NullResponse", "CancelPending", "UnsubscribeError", "ExchangeError", "BaseError",
    "TimeoutError", "ConnectionError", OTHER,
)
# What can trip the kill switch (execution/risk.py)
KILL_SWITCH_RULES = ("one_legged", "loss_limit")
# Actor roles besides one ``exchange:<name>`` actor per venue.
ACTOR_ROLES = ("supervisor", "detector", "order_manager", "position_tracker", "metrics_exporter")


# What a configured exchange id or ccxt symbol may look like; anything else (e.g. a key pasted in the wrong field) is
# refused by init_labels rather than put on every series.
_EXCHANGE_RE = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
_SYMBOL_RE = re.compile(r"[A-Z0-9]{1,12}/[A-Z0-9]{1,12}(:[A-Z0-9]{1,12})?")


def exchange_actor(exchange: str) -> str:
    """The ``actor`` label of the connection actor for one exchange."""
    return f"exchange:{exchange}"


def assets_of(symbols: Iterable[str]) -> tuple[str, ...]:
    """Base and quote assets of ccxt symbols such as ``BTC/USDT``, in first-seen order."""
    assets: list[str] = []
    for symbol in symbols:
        for asset in symbol.split(":")[0].split("/"):
            if asset and asset not in assets:
                assets.append(asset)
    return tuple(assets)


def error_class_label(error: BaseException | type | str) -> str:
    """The ccxt class name that labels an error: the nearest class in the error's MRO that is in ERROR_CLASSES."""
    if isinstance(error, str):
        return error if error in ERROR_CLASSES else OTHER
    error_type = error if isinstance(error, type) else type(error)
    for klass in error_type.__mro__:
        if klass.__name__ in ERROR_CLASSES:
            return klass.__name__
    return OTHER


def to_float(value: Decimal | float | int) -> float:
    """The metrics boundary: the only place a Decimal money or amount value becomes a float."""
    return float(value)


def _label_text(value: object) -> str:
    # Side / OrderType are str enums: use their value, not "Side.BUY".
    return str(getattr(value, "value", value))


class RayarbMetrics:
    """All rayarb metrics on one registry (``None``: not registered anywhere, as in multiprocess mode).

    Call ``init_labels`` once with the configured exchanges and symbols so every known series exists (at zero) before
    the first event and so later label values can be checked against those sets.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry
        self._exchanges: tuple[str, ...] = ()
        self._symbols: tuple[str, ...] = ()
        self._assets: tuple[str, ...] = ()
        self._actors: tuple[str, ...] = ACTOR_ROLES
        self._warned: set[tuple[str, int]] = set()
        self._skipped: dict[tuple[str, str], Any] = {}  # (symbol, reason) -> its series, the configured ones
        self._warned_lock = threading.Lock()
        r = registry

        # --- latency histograms (seconds)
        self.tick_to_order_seconds = Histogram(
            "rayarb_tick_to_order_seconds",
            "From the book update that triggered an opportunity being received to the leg's order request being sent.",
            ["exchange", "symbol"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.order_ack_seconds = Histogram(
            "rayarb_order_ack_seconds",
            "From an order request being sent to the venue acknowledging (accepting or rejecting) it.",
            ["exchange", "order_type"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.order_fill_seconds = Histogram(
            "rayarb_order_fill_seconds",
            "From an order request being sent to each of its fills being known.",
            ["exchange", "symbol"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.detection_seconds = Histogram(
            "rayarb_detection_seconds",
            "From a book update being received to the opportunity it reveals being detected.",
            ["symbol"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.book_age_seconds = Histogram(
            "rayarb_book_age_seconds",
            "Age of a book (since it was received locally) at the moment a decision used it.",
            ["exchange", "symbol"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.heartbeat_seconds = Histogram(
            "rayarb_heartbeat_seconds",
            "From the supervisor's health check of an actor being sent to its answer (one unanswered within "
            "supervisor.heartbeat_timeout_s is a miss, and a new process's first answer, which waits for its start, "
            "are not observed): how close live actors come to being replaced as hung.", ["actor"],
            buckets=LATENCY_BUCKETS_S, registry=r)

        # --- counters
        self.orders = Counter(
            "rayarb_orders", "Orders by outcome of their submission.",
            ["exchange", "side", "outcome"], registry=r)
        self.fills = Counter(
            "rayarb_fills", "Fills (trades) applied.", ["exchange", "symbol", "side"], registry=r)
        self.filled_base = Counter(
            "rayarb_filled_base", "Filled amount in the base asset.", ["exchange", "symbol", "side"], registry=r)
        self.filled_quote = Counter(
            "rayarb_filled_quote", "Filled notional in the quote asset (price x amount).",
            ["exchange", "symbol", "side"], registry=r)
        self.opportunities_detected = Counter(
            "rayarb_opportunities_detected", "Arbitrage opportunities detected.", ["symbol"], registry=r)
        self.opportunities_taken = Counter(
            "rayarb_opportunities_taken", "Opportunities for which orders were sent.", ["symbol"], registry=r)
        self.opportunities_skipped = Counter(
            "rayarb_opportunities_skipped", "Opportunities not taken, by reason.", ["symbol", "reason"], registry=r)
        self.arbitrage_outcomes = Counter(
            "rayarb_arbitrage_outcomes", "Completed arbitrage attempts by how their two legs ended.",
            ["symbol", "outcome"], registry=r)
        self.exchange_errors = Counter(
            "rayarb_exchange_errors", "Errors from exchange calls by ccxt error class.",
            ["exchange", "error_class"], registry=r)
        self.orders_resubmitted = Counter(
            "rayarb_orders_resubmitted", "Orders sent again (a new client order id) after a failed leg.",
            ["exchange"], registry=r)
        self.reconciliations = Counter(
            "rayarb_reconciliations", "Reconciliations of journaled orders against a venue.", ["exchange"], registry=r)
        self.actor_restarts = Counter(
            "rayarb_actor_restarts", "Actor processes started again after a crash.", ["actor"], registry=r)
        self.book_updates = Counter(
            "rayarb_book_updates", "Order book updates received.", ["exchange", "symbol"], registry=r)
        self.reply_mismatches = Counter(
            "rayarb_reply_mismatches",
            "Venue answers not applied because they did not match the order they answer (by the first field that "
            "differs); the order was left UNKNOWN and looked up by its client order id.", ["exchange", "field"],
            registry=r)
        self.order_connections_opened = Counter(
            "rayarb_order_connections_opened",
            "Connections the order-entry session opened to a venue: one at start, then one per connection the venue "
            "closed or per order sent while every open one was busy.", ["exchange"], registry=r)
        self.channel_refused = Counter(
            "rayarb_channel_refused",
            "Connections an actor's hot-path channel closed: a failed or timed-out handshake, too many handshakes at "
            "once, a failed TLS handshake, or a frame that is not a declared message.", ["reason"], registry=r)

        # --- gauges (last value set by any process wins)
        self.pnl_realized = Gauge(
            "rayarb_pnl_realized", "Realized PnL in the quote asset, net of fees.", ["asset"],
            registry=r, multiprocess_mode="mostrecent")
        self.pnl_unrealized = Gauge(
            "rayarb_pnl_unrealized", "Unrealized PnL of open inventory in the quote asset, at mid prices.", ["asset"],
            registry=r, multiprocess_mode="mostrecent")
        self.position = Gauge(
            "rayarb_position", "Position (balance change since start) per exchange and asset.", ["exchange", "asset"],
            registry=r, multiprocess_mode="mostrecent")
        self.balance_unexplained = Gauge(
            "rayarb_balance_unexplained",
            "Venue balance minus the balance rayarb's fills explain, per exchange and asset (0 when they agree): a "
            "balance that moved without a fill.", ["exchange", "asset"], registry=r, multiprocess_mode="mostrecent")
        self.actor_up = Gauge(
            "rayarb_actor_up", "1 when the actor answers its health check, 0 when not.", ["actor"],
            registry=r, multiprocess_mode="mostrecent")
        self.kill_switch = Gauge(
            "rayarb_kill_switch",
            "1 while the kill switch is tripped by this rule (no opportunity is taken until an operator resets it), "
            "else 0; set from the journal by the order manager at every start.", ["rule"],
            registry=r, multiprocess_mode="mostrecent")
        self.book_updates_per_second = Gauge(
            "rayarb_book_updates_per_second", "Book update rate over the last measuring window.",
            ["exchange", "symbol"], registry=r, multiprocess_mode="mostrecent")

    # ------------------------------------------------------------------ labels
    def init_labels(self, exchanges: Iterable[str], symbols: Iterable[str], detector_shards: int = 1,
                    standby_roles: Iterable[str] = ()) -> None:
        """Declare the configured exchanges and symbols and create every counter and histogram series at zero.
        With ``detector_shards`` > 1 the detector actors are ``detector:0`` .. ``detector:<K-1>`` (actors.common);
        each of ``standby_roles`` (actor names) has a second actor, ``<name>~2`` (supervisor.exchange_standby and
        detector_standby).

        Gauges are not created here: in multiprocess mode a zero set by a restarting process would overwrite the
        last real value; they appear when first set.
        """
        self._exchanges = tuple(dict.fromkeys(exchanges))
        self._symbols = tuple(dict.fromkeys(symbols))
        # The offending value is not quoted: it could be a credential.
        for index, exchange in enumerate(self._exchanges):
            if not _EXCHANGE_RE.fullmatch(exchange):
                raise ValueError(f"exchange #{index} is not an exchange id (lowercase letters, digits, _ or -)")
        for index, symbol in enumerate(self._symbols):
            if not _SYMBOL_RE.fullmatch(symbol):
                raise ValueError(f"symbol #{index} is not a ccxt symbol like BTC/USDT")
        self._assets = assets_of(self._symbols)
        self._actors = ACTOR_ROLES + tuple(exchange_actor(e) for e in self._exchanges)
        if detector_shards > 1:
            self._actors += tuple(f"detector:{shard}" for shard in range(detector_shards))
        self._actors += tuple(role + "~2" for role in dict.fromkeys(standby_roles))
        for exchange in self._exchanges:
            for order_type in ORDER_TYPES:
                self.order_ack_seconds.labels(exchange, order_type)
            for side in SIDES:
                for outcome in ORDER_OUTCOMES:
                    self.orders.labels(exchange, side, outcome)
            for error_class in ERROR_CLASSES:
                self.exchange_errors.labels(exchange, error_class)
            self.orders_resubmitted.labels(exchange)
            self.reconciliations.labels(exchange)
            self.order_connections_opened.labels(exchange)
            for field in REPLY_FIELDS:
                self.reply_mismatches.labels(exchange, field)
            for symbol in self._symbols:
                self.tick_to_order_seconds.labels(exchange, symbol)
                self.order_fill_seconds.labels(exchange, symbol)
                self.book_age_seconds.labels(exchange, symbol)
                self.book_updates.labels(exchange, symbol)
                for side in SIDES:
                    self.fills.labels(exchange, symbol, side)
                    self.filled_base.labels(exchange, symbol, side)
                    self.filled_quote.labels(exchange, symbol, side)
        self._skipped.clear()
        for symbol in self._symbols:
            self.detection_seconds.labels(symbol)
            self.opportunities_detected.labels(symbol)
            self.opportunities_taken.labels(symbol)
            for reason in SKIP_REASONS:  # counted for every book the detector passes over: kept at hand
                self._skipped[(symbol, reason)] = self.opportunities_skipped.labels(symbol, reason)
            for outcome in ARBITRAGE_OUTCOMES:
                self.arbitrage_outcomes.labels(symbol, outcome)
        for actor in self._actors:
            self.actor_restarts.labels(actor)
        for reason in CHANNEL_REFUSALS:
            self.channel_refused.labels(reason)

    def label_sets(self) -> dict[str, tuple[str, ...]]:
        """The allowed values of every label name (after ``init_labels``), ``other`` included."""
        return {
            "exchange": self._exchanges + (OTHER,),
            "symbol": self._symbols + (OTHER,),
            "asset": self._assets + (OTHER,),
            "actor": self._actors + (OTHER,),
            "side": SIDES + (OTHER,),
            "order_type": ORDER_TYPES + (OTHER,),
            "outcome": ORDER_OUTCOMES + ARBITRAGE_OUTCOMES + (OTHER,),
            "reason": SKIP_REASONS + CHANNEL_REFUSALS,
            "error_class": ERROR_CLASSES,
            "rule": KILL_SWITCH_RULES,
            "field": REPLY_FIELDS + (OTHER,),
        }

    def _bounded(self, name: str, value: object, allowed: tuple[str, ...]) -> str:
        text = _label_text(value)
        if text in allowed:
            return text
        # The value itself is not logged: a misplaced argument could be a credential.
        key = (name, hash(text))
        with self._warned_lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            logger.warning("metric label %s got a value (%d chars) outside its declared set; recorded as %r",
                           name, len(text), OTHER)
        return OTHER

    def _exchange(self, exchange: object) -> str:
        return self._bounded("exchange", exchange, self._exchanges)

    def _symbol(self, symbol: object) -> str:
        return self._bounded("symbol", symbol, self._symbols)

    # ------------------------------------------------------------------ latencies
    def observe_tick_to_order(self, exchange: str, symbol: str, seconds: float) -> None:
        self.tick_to_order_seconds.labels(self._exchange(exchange), self._symbol(symbol)).observe(seconds)

    def observe_heartbeat(self, actor: str, seconds: float) -> None:
        self.heartbeat_seconds.labels(self._bounded("actor", actor, self._actors)).observe(seconds)

    def observe_order_ack(self, exchange: str, order_type: object, seconds: float) -> None:
        self.order_ack_seconds.labels(
            self._exchange(exchange), self._bounded("order_type", order_type, ORDER_TYPES)).observe(seconds)

    def observe_order_fill(self, exchange: str, symbol: str, seconds: float) -> None:
        self.order_fill_seconds.labels(self._exchange(exchange), self._symbol(symbol)).observe(seconds)

    def observe_detection(self, symbol: str, seconds: float) -> None:
        self.detection_seconds.labels(self._symbol(symbol)).observe(seconds)

    def observe_book_age(self, exchange: str, symbol: str, seconds: float) -> None:
        self.book_age_seconds.labels(self._exchange(exchange), self._symbol(symbol)).observe(seconds)

    # ------------------------------------------------------------------ counters
    def count_order(self, exchange: str, side: object, outcome: str) -> None:
        self.orders.labels(
            self._exchange(exchange), self._bounded("side", side, SIDES),
            self._bounded("outcome", outcome, ORDER_OUTCOMES)).inc()

    def record_fill(self, exchange: str, symbol: str, side: object, amount: Decimal, price: Decimal) -> None:
        """One fill of ``amount`` base at ``price``: counts the fill, the base amount and the quote notional."""
        labels = (self._exchange(exchange), self._symbol(symbol), self._bounded("side", side, SIDES))
        self.fills.labels(*labels).inc()
        self.filled_base.labels(*labels).inc(to_float(amount))
        self.filled_quote.labels(*labels).inc(to_float(amount * price))

    def count_opportunity_detected(self, symbol: str) -> None:
        self.opportunities_detected.labels(self._symbol(symbol)).inc()

    def count_opportunity_taken(self, symbol: str) -> None:
        self.opportunities_taken.labels(self._symbol(symbol)).inc()

    def count_opportunity_skipped(self, symbol: str, reason: str) -> None:
        child = self._skipped.get((symbol, reason))
        if child is None:
            child = self.opportunities_skipped.labels(self._symbol(symbol),
                                                      self._bounded("reason", reason, SKIP_REASONS))
        child.inc()

    def count_arbitrage_outcome(self, symbol: str, outcome: str) -> None:
        self.arbitrage_outcomes.labels(
            self._symbol(symbol), self._bounded("outcome", outcome, ARBITRAGE_OUTCOMES)).inc()

    def count_exchange_error(self, exchange: str, error: BaseException | type | str) -> None:
        """Counts an error by its ccxt class; only the class name is recorded, never the message."""
        self.exchange_errors.labels(self._exchange(exchange), error_class_label(error)).inc()

    def count_resubmission(self, exchange: str) -> None:
        self.orders_resubmitted.labels(self._exchange(exchange)).inc()

    def count_reconciliation(self, exchange: str) -> None:
        self.reconciliations.labels(self._exchange(exchange)).inc()

    def count_actor_restart(self, actor: str) -> None:
        self.actor_restarts.labels(self._bounded("actor", actor, self._actors)).inc()

    def count_order_connection(self, exchange: str) -> None:
        self.order_connections_opened.labels(self._exchange(exchange)).inc()

    def count_reply_mismatch(self, exchange: str, field: str) -> None:
        self.reply_mismatches.labels(self._exchange(exchange), self._bounded("field", field, REPLY_FIELDS)).inc()

    def count_book_update(self, exchange: str, symbol: str) -> None:
        self.book_updates.labels(self._exchange(exchange), self._symbol(symbol)).inc()

    def count_channel_refused(self, reason: str) -> None:
        self.channel_refused.labels(self._bounded("reason", reason, CHANNEL_REFUSALS)).inc()

    # ------------------------------------------------------------------ gauges
    def set_pnl(self, asset: str, realized: Decimal, unrealized: Decimal) -> None:
        asset_label = self._bounded("asset", asset, self._assets)
        self.pnl_realized.labels(asset_label).set(to_float(realized))
        self.pnl_unrealized.labels(asset_label).set(to_float(unrealized))

    def set_position(self, exchange: str, asset: str, amount: Decimal) -> None:
        self.position.labels(self._exchange(exchange), self._bounded("asset", asset, self._assets)).set(
            to_float(amount))

    def set_balance_unexplained(self, exchange: str, asset: str, amount: Decimal) -> None:
        self.balance_unexplained.labels(self._exchange(exchange), self._bounded("asset", asset, self._assets)).set(
            to_float(amount))

    def set_actor_up(self, actor: str, up: bool) -> None:
        self.actor_up.labels(self._bounded("actor", actor, self._actors)).set(1.0 if up else 0.0)

    def set_kill_switch(self, tripped_by: str | None) -> None:
        """The kill switch's state: tripped by the rule ``tripped_by`` (1), every other rule 0; None: not tripped."""
        for rule in KILL_SWITCH_RULES:
            self.kill_switch.labels(rule).set(1.0 if rule == tripped_by else 0.0)

    def set_book_update_rate(self, exchange: str, symbol: str, per_second: float) -> None:
        self.book_updates_per_second.labels(self._exchange(exchange), self._symbol(symbol)).set(per_second)
