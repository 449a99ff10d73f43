"""The risk engine: pre-trade checks, open exposure, realised PnL, outcomes, the one-legged count and the kill switch.

Every figure here about money is derived from the journal: the engine is rebuilt from its orders, fills and
``risk_events`` whenever the order manager starts (``RiskEngine.rebuild``), then kept current by the same order
events and fills that the order managers journal (``on_order``, ``on_fill``, called after their commit). Nothing the
engine shows is lost with the process that held it.

**Outcomes as they happened.** An opportunity's outcome is decided by its two legs as the journal ends them, not by
what the executor saw while it waited: a leg whose answer was lost (UNKNOWN) keeps the opportunity ``unresolved``
until reconciliation settles that leg, and then the opportunity is classified like any other. One leg filled (fully
or partly) and the other not filled at all is ``one_legged`` however the other ended: rejected, expired, canceled,
lost then expired, denied before sending (``OrderDenied``), or never journaled at all (not sent). Each opportunity
with at least one journaled leg is in exactly one class at any time (``classify_legs``), so the counts add up to
the opportunities taken. An opportunity none of whose legs was journaled sent nothing and is not taken.

**The kill switch** trips when the one-legged outcomes or the realised loss since the last reset reach their limits.
A trip is journaled (``risk_events``: rule, reason, time, the figures and opportunities behind it) and latched: it
is in the journal, so a restarted order manager, a new detector or supervisor, and a new ``rayarb run --resume`` on
the same journal all rebuild it tripped. Only an operator clears it (``rayarb risk reset RUN_DIR``), which journals
who cleared what, and the figures at that moment become the baselines the limits count from again.

Orders that belong to an opportunity's legs: an ``opportunity_id`` that is not a hedge's (``HEDGE_OPPORTUNITY_PREFIX``)
and a client order id that is not an unwind's (``UNWIND_ID_PREFIX``, made by the executor). Unwinds and hedges move
exposure and PnL (their fills), never an outcome.

Pure: no ray, no prometheus_client; the journal is read, never written, here (the caller journals a ``Trip``).
Why one module of ~530 lines: ``RiskEngine`` is one state (exposure, PnL, outcomes, the switch) rebuilt from one
journal, and the leg classification before it is what that state counts.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any, Protocol

from execution import money
from execution.arbitrage.outcome import Outcome
from execution.arbitrage.profit import EXACT
from execution.journal import Journal, JournaledRiskEvent
from execution.messages import ArbitrageDetected, FillApplied, OrderDenied, OrderInitialized, OrderSubmitted
from execution.types import ZERO, Fill, OrderStatus, Side

HEDGE_OPPORTUNITY_PREFIX = "hedge-"
UNWIND_ID_PREFIX = "unw"  # execution.arbitrage.legs.make_client_order_id("unw") (no dash: OKX refuses one)
RULE_ONE_LEGGED = "one_legged"
RULE_LOSS_LIMIT = "loss_limit"
RULES = (RULE_ONE_LEGGED, RULE_LOSS_LIMIT)
OUTCOME_CLASSES = tuple(o.value for o in Outcome)  # both_filled, both_missed, one_legged, partial, unresolved
_TERMINAL = frozenset({OrderStatus.DENIED, OrderStatus.REJECTED, OrderStatus.FILLED, OrderStatus.CANCELED,
                       OrderStatus.EXPIRED})
_DETAIL_OPPORTUNITIES = 20  # one-legged opportunity ids named in a trip's detail (the newest)


class OrderLike(Protocol):
    """What the engine reads of an order: ``execution.orders.lifecycle.Order`` or a journal row."""

    client_order_id: str
    exchange: str
    symbol: str
    side: Side
    amount: Decimal
    status: OrderStatus
    opportunity_id: str | None


@dataclass(frozen=True, slots=True)
class LegState:
    """One leg of an opportunity as last known. ``journaled`` False: it was never sent (denied before, or missing
    from the journal, which is written before any send)."""

    client_order_id: str
    venue: str
    side: Side
    amount: Decimal
    filled: Decimal
    status: OrderStatus
    journaled: bool = True

    @property
    def settled(self) -> bool:
        """Its fill can no longer change but for a late fill: terminal, or filled completely."""
        return self.status in _TERMINAL or (self.amount > 0 and self.filled >= self.amount)


def never_sent(side: Side, client_order_id: str = "", venue: str = "") -> LegState:
    return LegState(client_order_id, venue, side, ZERO, ZERO, OrderStatus.DENIED, journaled=False)


def classify_legs(buy: LegState | None, sell: LegState | None) -> Outcome:
    """The one outcome class of an opportunity's two legs. A missing leg was never sent (filled nothing).

    - ``unresolved``: a sent leg is not settled yet (its answer lost, or still working): wait for reconciliation;
    - ``both_filled``: both filled completely; ``both_missed``: neither filled anything;
    - ``one_legged``: one filled something (fully or partly), the other nothing, however it ended;
    - ``partial``: both filled something, at least one not all of it.
    """
    legs = [leg if leg is not None else never_sent(side) for leg, side in ((buy, Side.BUY), (sell, Side.SELL))]
    if not all(leg.settled for leg in legs):
        return Outcome.UNRESOLVED
    bought, sold = legs[0].filled, legs[1].filled
    if bought > 0 and sold > 0:
        full = all(leg.journaled and leg.filled >= leg.amount for leg in legs)
        return Outcome.BOTH_FILLED if full else Outcome.PARTIAL
    if bought == 0 and sold == 0:
        return Outcome.BOTH_MISSED
    return Outcome.ONE_LEGGED


def is_leg(order: OrderLike) -> bool:
    """Whether the order is one of an opportunity's two legs (not an unwind, a hedge or a stand-alone order)."""
    opportunity = order.opportunity_id
    return (opportunity is not None and not opportunity.startswith(HEDGE_OPPORTUNITY_PREFIX)
            and not order.client_order_id.startswith(UNWIND_ID_PREFIX))


def split_symbol(symbol: str) -> tuple[str, str]:
    """(base, quote) of a ccxt unified symbol ``BASE/QUOTE`` (``BASE/QUOTE:SETTLE`` too)."""
    base, _, rest = symbol.partition("/")
    return base, rest.partition(":")[0] or "?"


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_notional_per_trade: Decimal
    max_open_exposure: Decimal
    loss_limit: Decimal
    max_one_legged: int
    cooldown_s: float = 0.0

    @classmethod
    def of(cls, strategy: Any, risk: Any) -> "RiskLimits":
        """From the run config's ``strategy`` and ``risk`` sections."""
        return cls(max_notional_per_trade=Decimal(strategy.max_notional_per_trade),
                   max_open_exposure=Decimal(risk.max_open_exposure), loss_limit=Decimal(risk.loss_limit),
                   max_one_legged=int(risk.max_one_legged), cooldown_s=float(strategy.cooldown_s))


@dataclass(frozen=True, slots=True)
class Trip:
    """The kill switch tripping: journal it with ``Journal.record_risk_event("trip", ...)`` (``journal_fields``)."""

    rule: str
    reason: str
    at: float
    detail: dict[str, Any]
    actor: str = ""

    def journal_fields(self) -> dict[str, Any]:
        return {"ts": self.at, "rule": self.rule, "reason": self.reason, "detail": self.detail, "actor": self.actor}


@dataclass(slots=True)
class _Opportunity:
    symbol: str
    legs: dict[Side, LegState] = field(default_factory=dict)
    outcome: Outcome | None = None  # None until a journaled leg is known


@dataclass(slots=True)
class _SymbolBook:
    """Every fill of one symbol, matched first in, first out: what was bought is closed by what is sold after it
    (and the other way round), in the order the journal holds the fills. Exact: sums of products, no division."""

    bought: Decimal = ZERO
    sold: Decimal = ZERO
    matched_profit: Decimal = ZERO  # on the matched amounts: sell price minus buy price
    fees_in_quote: Decimal = ZERO  # quote fees, plus base fees at their fill's price
    base_fees: Decimal = ZERO
    other_fees: int = 0  # fills whose fee was in a third asset (left out of the PnL)
    open_lots: deque = field(default_factory=deque)  # [side, amount left, price], all on one side
    last_price: Decimal = ZERO  # of the latest fill: what an open exposure in this symbol is valued at

    def add(self, side: Side, amount: Decimal, price: Decimal) -> None:
        self.last_price = price
        with localcontext(EXACT):
            if side is Side.BUY:
                self.bought += amount
            else:
                self.sold += amount
            lots = self.open_lots
            while amount > 0 and lots and lots[0][0] is not side:
                lot = lots[0]
                take = min(amount, lot[1])
                buy_price, sell_price = (price, lot[2]) if side is Side.BUY else (lot[2], price)
                self.matched_profit += take * (sell_price - buy_price)
                lot[1] -= take
                amount -= take
                if lot[1] == 0:
                    lots.popleft()
            if amount > 0:
                lots.append([side, amount, price])


@dataclass(frozen=True, slots=True)
class RiskUpdate:
    """What one order or fill changed: opportunities newly classified (id, symbol, outcome) and a trip, if any."""

    classified: tuple[tuple[str, str, Outcome], ...] = ()
    trip: Trip | None = None


NO_UPDATE = RiskUpdate()


class RiskEngine:
    """See the module docstring. ``limits`` None: a read-only view (``rayarb risk status``), nothing trips."""

    def __init__(self, limits: RiskLimits | None, *, actor: str = "", clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.actor = actor
        self._clock = clock
        self._opportunities: dict[str, _Opportunity] = {}
        self._outcomes: Counter[str] = Counter()
        self._one_legged_ids: list[str] = []
        self._symbols: dict[str, _SymbolBook] = {}
        self._realised: Decimal | None = None  # realised_total, until the next fill
        self._fill_keys: set[tuple[str, str, str]] = set()
        self.trip: Trip | None = None  # the latched trip (None: trading allowed)
        self.trip_seq: int | None = None  # its journal row, once journaled
        self.last_event_seq = 0
        self.last_reset: JournaledRiskEvent | None = None
        self._one_legged_baseline = 0
        self._realised_baseline = ZERO
        # pre-trade bookkeeping of this process only (what is in flight is settled by reconciliation after a restart)
        self._busy_sides: set[tuple[str, str, Side]] = set()
        self._traded_at: dict[tuple[str, str], float] = {}
        self._last_trade_at: dict[str, float] = {}

    # ------------------------------------------------------------------ rebuild
    @classmethod
    def rebuild(cls, journal: Journal, limits: RiskLimits | None, *, actor: str = "",
                clock: Callable[[], float] = time.time) -> "RiskEngine":
        """The engine as the journal leaves it: outcomes of every opportunity, fills, trips and resets. If the
        figures are past a limit the journal has no trip for (a process died between the answer and the trip's
        commit), the engine is tripped and ``trip_seq`` is None: journal ``engine.trip`` then."""
        engine = cls(limits, actor=actor, clock=clock)
        fills = journal.fills()
        filled_by_order: dict[str, Decimal] = {}
        for fill in fills:
            engine._add_fill(fill)
            filled_by_order[fill.client_order_id] = filled_by_order.get(fill.client_order_id, ZERO) + fill.amount
        for row in journal.orders():
            if is_leg(row):
                engine._set_leg(row, max(row.filled, filled_by_order.get(row.client_order_id, ZERO)))
        for opportunity in engine._opportunities.values():  # a leg missing from the journal was never sent
            for side in (Side.BUY, Side.SELL):
                opportunity.legs.setdefault(side, never_sent(side))
        for opportunity_id in engine._opportunities:
            engine._classify(opportunity_id)
        for event in journal.risk_events():
            engine.apply_event(event)
        engine._evaluate()
        return engine

    def apply_event(self, event: JournaledRiskEvent) -> None:
        """A journaled trip or reset (in sequence order; one already applied is ignored)."""
        if event.seq <= self.last_event_seq:
            return
        self.last_event_seq = event.seq
        if event.kind == "trip":
            if self.trip is None or self.trip_seq is None:
                self.trip = Trip(event.rule, event.reason, event.ts, event.detail, event.actor)
                self.trip_seq = event.seq
        elif event.kind == "reset":
            self.trip = None
            self.trip_seq = None
            self.last_reset = event
            self._one_legged_baseline = int(event.detail.get("one_legged_total", 0))
            self._realised_baseline = money.exact(event.detail.get("realised_total", "0"))

    # ------------------------------------------------------------------ live updates
    def on_event(self, event: Any, order: Any = None, leg_side: Side | None = None) -> RiskUpdate:
        """One event of an ``execution.orders.manager.OrderManager`` (its ``on_event``, after the journal commit):
        ``order`` is the ``Order`` it is about (None if not held), ``leg_side`` the side of an opportunity's leg the
        caller is sending (an ``OrderDenied`` leg is not in the journal, so only the caller knows it was a leg)."""
        if isinstance(event, FillApplied):
            return self.on_fill(event.fill)
        if isinstance(event, (OrderInitialized, OrderSubmitted)):
            return NO_UPDATE  # the send path: nothing is settled yet
        if isinstance(event, OrderDenied):
            if leg_side is None:
                return NO_UPDATE
            return self.on_denied(event.opportunity_id, event.client_order_id, event.exchange, event.symbol, leg_side)
        if order is None:
            return NO_UPDATE
        return self.on_order(order, order.known_filled)

    def on_order(self, order: OrderLike, filled: Decimal) -> RiskUpdate:
        """An order's status or fill changed (after its journal commit). ``filled`` is what it is known to have
        filled (``Order.known_filled``)."""
        if not is_leg(order):
            return NO_UPDATE
        opportunity_id = order.opportunity_id
        assert opportunity_id is not None
        self._set_leg(order, filled)
        return self._after(self._classify(opportunity_id))

    def on_denied(self, opportunity_id: str | None, client_order_id: str, venue: str, symbol: str,
                  side: Side) -> RiskUpdate:
        """A leg refused before it was sent (``OrderDenied``): it filled nothing, and never will."""
        if opportunity_id is None or opportunity_id.startswith(HEDGE_OPPORTUNITY_PREFIX) or \
                client_order_id.startswith(UNWIND_ID_PREFIX):
            return NO_UPDATE
        opportunity = self._opportunities.setdefault(opportunity_id, _Opportunity(symbol))
        opportunity.legs.setdefault(side, never_sent(side, client_order_id, venue))
        return self._after(self._classify(opportunity_id))

    def on_fill(self, fill: Fill) -> RiskUpdate:
        """A new journaled fill (any order: legs, unwinds, hedges)."""
        if not self._add_fill(fill):
            return NO_UPDATE
        return self._after(None)

    def _after(self, classified: tuple[str, str, Outcome] | None) -> RiskUpdate:
        trip = self._evaluate()
        if classified is None and trip is None:
            return NO_UPDATE
        return RiskUpdate(() if classified is None else (classified,), trip)

    def _set_leg(self, order: OrderLike, filled: Decimal) -> None:
        opportunity_id = order.opportunity_id
        assert opportunity_id is not None
        opportunity = self._opportunities.get(opportunity_id)
        if opportunity is None:
            opportunity = self._opportunities[opportunity_id] = _Opportunity(order.symbol)
        current = opportunity.legs.get(order.side)
        if current is not None and current.journaled and current.client_order_id != order.client_order_id:
            return  # a second order on the same side is not a leg (the first one is)
        opportunity.legs[order.side] = LegState(order.client_order_id, order.exchange, order.side, order.amount,
                                                filled, order.status)

    def _classify(self, opportunity_id: str) -> tuple[str, str, Outcome] | None:
        """Re-classify; returns (id, symbol, outcome) when the opportunity is newly settled (or its class changed
        after being settled, e.g. by a late fill)."""
        opportunity = self._opportunities[opportunity_id]
        if not any(leg.journaled for leg in opportunity.legs.values()):
            return None  # nothing was sent: not taken
        if len(opportunity.legs) < 2:  # live, a leg is known from its first answer (or denial): wait for it
            outcome = Outcome.UNRESOLVED
        else:
            outcome = classify_legs(opportunity.legs[Side.BUY], opportunity.legs[Side.SELL])
        previous = opportunity.outcome
        if outcome is previous:
            return None
        if previous is not None:
            self._outcomes[previous.value] -= 1
            if previous is Outcome.ONE_LEGGED:
                self._one_legged_ids.remove(opportunity_id)
        self._outcomes[outcome.value] += 1
        if outcome is Outcome.ONE_LEGGED:
            self._one_legged_ids.append(opportunity_id)
        opportunity.outcome = outcome
        return None if outcome is Outcome.UNRESOLVED else (opportunity_id, opportunity.symbol, outcome)

    def _add_fill(self, fill: Fill) -> bool:
        key = (fill.exchange, fill.symbol, fill.trade_id)
        if key in self._fill_keys:
            return False
        self._fill_keys.add(key)
        self._realised = None
        book = self._symbols.setdefault(fill.symbol, _SymbolBook())
        base, quote = split_symbol(fill.symbol)
        book.add(fill.side, fill.amount, fill.price)
        with localcontext(EXACT):
            if fill.fee_asset == quote:
                book.fees_in_quote += fill.fee
            elif fill.fee_asset == base:
                book.base_fees += fill.fee
                book.fees_in_quote += fill.fee * fill.price
            elif fill.fee:
                book.other_fees += 1
        return True

    # ------------------------------------------------------------------ figures
    @property
    def one_legged(self) -> int:
        return self._outcomes[Outcome.ONE_LEGGED.value]

    def outcomes(self) -> dict[str, int]:
        """Opportunities taken (at least one leg journaled) per outcome class; they add up to ``taken``."""
        return {name: count for name, count in self._outcomes.items() if count}

    @property
    def taken(self) -> int:
        return sum(self._outcomes.values())

    def realised_profit(self) -> dict[str, Decimal]:
        """Per quote asset, over every journaled fill (legs, unwinds, hedges), exact: each symbol's fills matched
        first in, first out, sell price minus buy price on every matched amount, less every fee (base fees at their
        fill's price). What is not matched is open exposure, not profit."""
        out: dict[str, Decimal] = {}
        with localcontext(EXACT):
            for symbol, book in self._symbols.items():
                quote = split_symbol(symbol)[1]
                out[quote] = out.get(quote, ZERO) + book.matched_profit - book.fees_in_quote
        return out

    def realised_total(self) -> Decimal:
        """Every quote asset's realised profit added up (the loss limit's figure); it changes with fills alone, and is
        checked after every order event."""
        if self._realised is None:
            self._realised = sum(self.realised_profit().values(), ZERO)
        return self._realised

    def open_exposure(self) -> dict[str, Decimal]:
        """Per symbol, base bought minus base sold over every journaled fill (gross of fees): what the legs, unwinds
        and hedges left open."""
        return {symbol: book.bought - book.sold for symbol, book in self._symbols.items()}

    def net_base_exposure(self) -> dict[str, Decimal]:
        """Per symbol, the base the account gained or lost: bought minus sold minus base fees (what a hedge
        flattens)."""
        return {symbol: book.bought - book.sold - book.base_fees for symbol, book in self._symbols.items()}

    def open_exposure_value(self, symbol: str | None = None, price: Decimal | None = None) -> Decimal:
        """The open exposure of every symbol in its quote asset: ``symbol`` at ``price`` (the opportunity's), every
        other at its latest fill's price."""
        total = ZERO
        for name, book in self._symbols.items():
            mark = price if name == symbol and price is not None else book.last_price
            total += abs(book.bought - book.sold) * mark
        return total

    @property
    def trading_allowed(self) -> bool:
        return self.trip is None

    # ------------------------------------------------------------------ the kill switch
    def _evaluate(self) -> Trip | None:
        """Trip the switch when a limit is reached; returns the new trip (to journal), else None."""
        if self.trip is not None or self.limits is None:
            return None
        since = self.one_legged - self._one_legged_baseline
        realised = self.realised_total() - self._realised_baseline
        if since >= self.limits.max_one_legged:
            rule, reason = RULE_ONE_LEGGED, f"{since} one-legged outcomes (limit {self.limits.max_one_legged})"
        elif -realised >= self.limits.loss_limit:
            rule, reason = RULE_LOSS_LIMIT, f"realised loss {-realised} reached the limit {self.limits.loss_limit}"
        else:
            return None
        detail = {"one_legged_since_reset": since, "max_one_legged": self.limits.max_one_legged,
                  "realised_since_reset": str(realised), "loss_limit": str(self.limits.loss_limit),
                  "one_legged_opportunities": self._one_legged_ids[-_DETAIL_OPPORTUNITIES:],
                  "outcomes": self.outcomes()}
        self.trip = Trip(rule, reason, self._clock(), detail, self.actor)
        return self.trip

    def trip_journaled(self, seq: int) -> None:
        self.trip_seq = seq
        self.last_event_seq = max(self.last_event_seq, seq)

    def reset_fields(self, by: str) -> dict[str, Any]:
        """The journal fields of an operator's reset of the current trip (``record_risk_event("reset", ...)``);
        the figures now become the baselines the limits count from. ``LookupError`` when not tripped."""
        if self.trip is None:
            raise LookupError("the kill switch is not tripped")
        trip = self.trip
        realised = self.realised_total()
        return {"ts": self._clock(), "rule": trip.rule,
                "reason": f"cleared by {by}: was '{trip.reason}' since {format_time(trip.at)}",
                "detail": {"cleared_trip_seq": self.trip_seq, "cleared_reason": trip.reason,
                           "cleared_trip_at": trip.at, "one_legged_total": self.one_legged,
                           "realised_total": str(realised),
                           "one_legged_before_reset": self.one_legged - self._one_legged_baseline,
                           "realised_before_reset": str(realised - self._realised_baseline)},
                "actor": by}

    # ------------------------------------------------------------------ pre-trade
    def check(self, message: ArbitrageDetected, now: float) -> str | None:
        """Why this opportunity must not be taken (a skip reason), or None. Cheap: runs on the hot path."""
        if self.trip is not None:
            return "kill_switch"
        limits = self.limits
        if limits is None:
            return "kill_switch"  # a read-only engine never trades
        sides = opportunity_sides(message)
        if not self._busy_sides.isdisjoint(sides):
            return "in_flight_limit"
        if (message.buy_book_received_at <= self._traded_at.get((message.symbol, message.buy_exchange), 0.0)
                or message.sell_book_received_at <= self._traded_at.get((message.symbol, message.sell_exchange), 0.0)):
            return "stale_book"
        if now - self._last_trade_at.get(message.symbol, 0.0) < limits.cooldown_s:
            return "cooldown"
        notional = message.amount * message.buy_price
        if notional > limits.max_notional_per_trade:
            return "exposure_limit"
        if self.open_exposure_value(message.symbol, message.buy_price) + notional > limits.max_open_exposure:
            return "exposure_limit"
        return None

    def taking(self, message: ArbitrageDetected, now: float) -> None:
        """The opportunity passed ``check`` and its legs are going out."""
        self._busy_sides.update(opportunity_sides(message))
        self._last_trade_at[message.symbol] = now

    def done(self, message: ArbitrageDetected, now: float) -> None:
        """Its legs were answered: the books received before now do not show what they took."""
        self._busy_sides.difference_update(opportunity_sides(message))
        for symbol, venue, _side in opportunity_sides(message):
            self._traded_at[(symbol, venue)] = now

    # ------------------------------------------------------------------ reporting
    def status(self) -> dict[str, Any]:
        """Everything about the switch and the figures behind it, JSON-ready (Decimals as strings)."""
        trip = self.trip
        realised = self.realised_profit()
        return {
            "trading_allowed": trip is None,
            "kill_switch": None if trip is None else trip.reason,
            "trip": None if trip is None else {"rule": trip.rule, "reason": trip.reason, "at": trip.at,
                                               "by": trip.actor, "journal_seq": self.trip_seq,
                                               "detail": trip.detail},
            "last_reset": None if self.last_reset is None else {
                "at": self.last_reset.ts, "by": self.last_reset.actor, "reason": self.last_reset.reason},
            "opportunities_taken": self.taken,
            "outcomes": self.outcomes(),
            "one_legged": self.one_legged,
            "one_legged_since_reset": self.one_legged - self._one_legged_baseline,
            "realised_profit": {quote: str(value) for quote, value in realised.items()},
            "realised_since_reset": str(sum(realised.values(), ZERO) - self._realised_baseline),
            "open_exposure": {symbol: str(value) for symbol, value in self.open_exposure().items() if value},
            "limits": None if self.limits is None else {
                "max_one_legged": self.limits.max_one_legged, "loss_limit": str(self.limits.loss_limit),
                "max_open_exposure": str(self.limits.max_open_exposure),
                "max_notional_per_trade": str(self.limits.max_notional_per_trade)},
        }


def opportunity_sides(message: ArbitrageDetected) -> tuple[tuple[str, str, Side], ...]:
    return ((message.symbol, message.buy_exchange, Side.BUY), (message.symbol, message.sell_exchange, Side.SELL))


def format_time(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def legs_of(orders: Iterable[OrderLike]) -> list[OrderLike]:
    """The orders that are opportunity legs."""
    return [order for order in orders if is_leg(order)]
