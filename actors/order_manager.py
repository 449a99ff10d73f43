"""The ``order_manager`` actor: pre-trade risk, the journal, and arbitrage execution through the exchange actors.

It holds one ``execution.order_manager.OrderManager`` per venue over one SQLite journal, and runs
``execution.arbitrage_executor.start_arbitrage`` with I/O that goes through the exchange actors (both legs in
parallel). Every order is journaled before it is sent. Start-up and recovery are the same path: ``start`` reconciles
every non-terminal journaled order by client order id, resubmits (same id) only lost orders younger than the TTL, and
hedges what is left exposed. Fills go on to the position tracker.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from actors.channel import Channels, ServesChannel
from actors.common import POSITION_TRACKER, DETECTOR, Deployment, exchange_actor_name, new_incarnation
from actors.peers import Peers
from actors.hot_path import prepare_hot_path_thread
from actors.exchange import SubmitOutcome
from actors.telemetry import process_metrics
from execution.arbitrage_executor import (
    ArbitrageResult,
    Outcome,
    UnwindPolicy,
    plan_unwind,
    start_arbitrage,
)
from execution.error_handler import AmbiguousOrderError, InvalidOrder
from execution.journal import Journal
from execution.messages import (
    ArbitrageDetected,
    CancelOrder,
    FillApplied,
    OrderAccepted,
    OrderDenied,
    OrderRejected,
    OrderStatusUnknown,
    QueryOrder,
    SubmitOrder,
)
from execution.order_manager import ClientOrderIdFactory, Order, OrderManager, ResubmitRefused
from execution.types import ZERO, Fill, MarketRules, OrderBook, OrderSnapshot, OrderStatus, OrderType, Side, TimeInForce

logger = logging.getLogger(__name__)

LEG_TIMEOUT_S = 10.0
# Binance accepts a signed request until its timestamp + recvWindow (ccxt: 10 s); an order not found after that,
# plus clock margin, can no longer appear, so only then is it proven absent (resubmitted within its TTL, else expired).
REQUEST_LIFETIME_S = 11.0
CALL_TIMEOUT_S = 15.0
MAX_LATENCY_SAMPLES = 100_000
JOURNAL_CHECKPOINT_PERIOD_S = 1.0


class _StillInFlight(Exception):
    """Reconciliation leaves this order to the executor that is handling its opportunity."""


class _VenueAdapter:
    """``ExchangeAdapter`` for one venue's ``OrderManager``: calls the venue's exchange actor."""

    def __init__(self, owner: "OrderManagerActor", venue: str) -> None:
        self._owner = owner
        self._venue = venue
        self._actor = exchange_actor_name(venue)

    def start_submit_order(self, command: SubmitOrder) -> Awaitable[OrderSnapshot]:
        """Written to the exchange actor's channel before this returns (see ``OrderManager.start_order``)."""
        answer = self._owner.channels.request(self._actor, "submit_order", command, timeout_s=LEG_TIMEOUT_S)
        return self._record(command, answer)

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot:
        return await self.start_submit_order(command)

    async def _record(self, command: SubmitOrder, answer: Awaitable[SubmitOutcome]) -> OrderSnapshot:
        outcome = await answer
        self._owner.sent_at[command.client_order_id] = (outcome.sent_at, outcome.acked_at, outcome.started_at)
        self._owner.round_trip_s.append(outcome.acked_at - outcome.sent_at)
        self._owner.last_snapshot[command.client_order_id] = outcome.snapshot
        return outcome.snapshot

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None:
        snapshot = await self._owner.peers.call(self._actor, "lookup_order", command.symbol, command.client_order_id,
                                                timeout_s=CALL_TIMEOUT_S)
        if snapshot is not None:
            self._owner.last_snapshot[command.client_order_id] = snapshot
        return snapshot

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot:
        return await self._owner.peers.call(self._actor, "cancel_order", command.symbol, command.client_order_id,
                                            timeout_s=CALL_TIMEOUT_S)


class _ActorIO:
    """``ArbitrageIO`` for one opportunity: every order goes through its venue's ``OrderManager`` (journal first)."""

    def __init__(self, owner: "OrderManagerActor", opportunity_id: str) -> None:
        self._owner = owner
        self._opportunity_id = opportunity_id

    def start_submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> Awaitable[OrderSnapshot]:
        """Journaled and written to the exchange actor before this returns; await the result for the answer."""
        pending = self._owner.managers[venue].start_order(
            symbol, side, amount, price, OrderType.LIMIT, time_in_force=time_in_force, client_order_id=client_order_id,
            opportunity_id=self._opportunity_id)
        return self._answer(venue, client_order_id, pending)

    async def submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> OrderSnapshot:
        return await self.start_submit(venue, symbol, side, amount, price, time_in_force, client_order_id)

    async def _answer(self, venue: str, client_order_id: str, pending: Awaitable[Order]) -> OrderSnapshot:
        order = await pending
        if order.status is OrderStatus.UNKNOWN:
            raise AmbiguousOrderError(f"outcome of {client_order_id} at {venue} unknown: {order.reason}",
                                      exchange=venue, client_order_id=client_order_id)
        if order.status is OrderStatus.REJECTED:
            raise InvalidOrder(f"{venue} rejected {client_order_id}: {order.reason}", exchange=venue,
                               client_order_id=client_order_id)
        return self._owner.last_snapshot[client_order_id]

    async def lookup(self, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        manager = self._owner.managers[venue]
        self._owner.last_snapshot.pop(client_order_id, None)
        await manager.refresh(client_order_id)
        return self._owner.last_snapshot.get(client_order_id)

    async def order_book(self, venue: str, symbol: str) -> OrderBook:
        book = await self._owner.channels.call(exchange_actor_name(venue), "latest_book", symbol,
                                               timeout_s=CALL_TIMEOUT_S)
        if book is None:
            raise LookupError(f"no {symbol} book at {venue}")
        return book


class OrderManagerActor(ServesChannel):
    channel_methods = ("on_opportunity", "on_book")

    def __init__(self, deployment: Deployment) -> None:
        self.deployment = deployment
        self.incarnation = new_incarnation()
        self.peers = Peers()
        self.channel_settings = deployment.channels
        self.channels = Channels(self.peers, deployment.channels)
        self.metrics = process_metrics(deployment.venue_names, deployment.symbols)
        # checkpoints run on a worker thread (_checkpoint_journal), never inside an order's commit; a new order is
        # written ahead to the intent log (one write) and reaches SQLite once its request is out
        self.journal = Journal(deployment.journal_path, checkpoint_in_background=True, intent_log=True)
        self.ids = ClientOrderIdFactory("rx")
        self.managers: dict[str, OrderManager] = {}
        self.rules: dict[tuple[str, str], MarketRules] = {}
        self.balances: dict[str, dict[str, Decimal]] = {}
        self.sent_at: dict[str, tuple[float, float, float]] = {}  # request sent, answered, placing began
        self.last_snapshot: dict[str, OrderSnapshot] = {}
        self.tick_to_order_s: deque[float] = deque(maxlen=MAX_LATENCY_SAMPLES)
        # per tick-to-order sample, its first leg (venue, client order id) and the book's arrival (epoch s): to
        # measure on to the venue's own receipt of that order
        self.first_legs: deque[tuple[str, str, float]] = deque(maxlen=MAX_LATENCY_SAMPLES)
        self.round_trip_s: deque[float] = deque(maxlen=MAX_LATENCY_SAMPLES)  # leg sent -> venue's answer
        # where tick-to-order goes: book -> detected (hop 1 + detection), detected -> here (hop 2), here -> the
        # exchange actor begins placing (journal, hop 3), -> the signed request goes to the kernel
        self.stage_s: dict[str, deque[float]] = {stage: deque(maxlen=MAX_LATENCY_SAMPLES)
                                                 for stage in ("detect", "handoff", "submit", "request")}
        self.outcomes: Counter[str] = Counter()
        self.denied: Counter[str] = Counter()
        self.received = 0
        self.realised_profit: dict[str, Decimal] = {}
        self.exposure_base: dict[str, Decimal] = {}
        self.one_legged = 0
        self.kill_reason: str | None = None
        self._last_trade_at: dict[str, float] = {}
        self._in_flight: set[str] = set()
        # (symbol, venue, side) of legs in flight: a second opportunity on the same book side would compete for the
        # liquidity the first is taking, and the loser's other leg would fill alone (one-legged).
        self._busy_sides: set[tuple[str, str, Side]] = set()
        # (symbol, venue) -> when our last legs there were answered: a book received before that does not show
        # the liquidity those legs took, so an opportunity sized on it is stale.
        self._traded_at: dict[tuple[str, str], float] = {}
        self._fills_outbox: deque[Fill] = deque(maxlen=1_000_000)
        self._flush_task: asyncio.Task | None = None
        self._start_lock = asyncio.Lock()
        self._started = False
        self._reconcile_lock = asyncio.Lock()
        self._settle_task: asyncio.Task | None = None
        self._checkpoint_task: asyncio.Task | None = None
        self.scheduling = "normal"

    # ----- lifecycle -----
    async def start(self) -> dict[str, Any]:
        """Load market rules, build the per-venue managers and reconcile the journal (idempotent)."""
        async with self._start_lock:
            if not self._started:
                names = self.deployment.venue_names
                answers = await asyncio.gather(*(self.peers.call(exchange_actor_name(v), "market_rules", timeout_s=60)
                                                 for v in names))
                for venue, venue_rules in zip(names, answers):
                    for symbol, rules in venue_rules.items():
                        self.rules[(venue, symbol)] = rules
                    self.managers[venue] = OrderManager(
                        venue, _VenueAdapter(self, venue), venue_rules,
                        balances=lambda v=venue: self.balances.get(v, {}), journal=self.journal,
                        id_factory=self.ids, on_event=self._on_event, submit_timeout_s=LEG_TIMEOUT_S,
                        resubmit_ttl_s=self.deployment.strategy.order_ttl_s)
                self._started = True
                await self.channels.connect(*(exchange_actor_name(v) for v in names), POSITION_TRACKER)
                self._settle_task = asyncio.get_running_loop().create_task(self._settle_open_orders())
                self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint_journal())
                self.scheduling = prepare_hot_path_thread(self.deployment.realtime_priority,
                                                          self.deployment.cpu_wake_latency_us)
        return await self.reconcile()

    async def health(self) -> dict[str, Any]:
        return {"incarnation": self.incarnation, "pid": os.getpid(), "started": self._started,
                "in_flight": len(self._in_flight), "kill_switch": self.kill_reason,
                "channel_calls": self.channels.stats(), "scheduling": self.scheduling}

    async def on_book(self, item: Any) -> None:
        """Balances pushed by the exchange actors: ("balances", venue, free)."""
        if isinstance(item, tuple) and item[0] == "balances":
            self.balances[item[1]] = item[2]

    # ----- the hot path -----
    async def on_opportunity(self, message: ArbitrageDetected) -> str:
        answer = self.on_opportunity_now(message)
        return answer if isinstance(answer, str) else await answer

    def on_opportunity_now(self, message: ArbitrageDetected) -> str | Awaitable[str]:
        """Risk checks, journal and both legs written before this returns (as the channel receives the opportunity);
        a denial is the answer itself, else await the result for the outcome."""
        received_at = time.time()
        self.received += 1
        reason = self._risk_check(message)
        if reason is not None:
            self.denied[reason] += 1
            self.metrics.count_opportunity_skipped(message.symbol, reason)
            return f"denied:{reason}"
        sides = self._sides(message)
        self._in_flight.add(message.opportunity_id)
        self._busy_sides.update(sides)
        self._last_trade_at[message.symbol] = received_at
        try:
            pending = start_arbitrage(
                message.buy_exchange, message.sell_exchange, message.symbol, message.amount,
                buy_price=message.buy_price, sell_price=message.sell_price, io=_ActorIO(self, message.opportunity_id),
                rules={v: self.rules[(v, message.symbol)] for v in (message.buy_exchange, message.sell_exchange)},
                client_order_ids=(self.ids.next(), self.ids.next()),
                unwind=UnwindPolicy(max_slippage_bps=Decimal(self.deployment.strategy.unwind_max_slippage_bps)),
                balances=self.balances, leg_timeout_s=LEG_TIMEOUT_S)
        except BaseException:
            self._done_with(message, sides)
            raise
        self.metrics.count_opportunity_taken(message.symbol)  # once the legs are on their way
        return self._settle_opportunity(message, sides, received_at, pending)

    async def _settle_opportunity(self, message: ArbitrageDetected, sides: tuple[tuple[str, str, Side], ...],
                                  received_at: float, pending: Awaitable[ArbitrageResult]) -> str:
        try:
            result = await pending
        finally:
            self._done_with(message, sides)
        self._account(message, result, received_at)
        self._schedule_fill_flush()
        return result.outcome.value

    def _done_with(self, message: ArbitrageDetected, sides: tuple[tuple[str, str, Side], ...]) -> None:
        self._in_flight.discard(message.opportunity_id)
        self._busy_sides.difference_update(sides)
        answered_at = time.time()
        for symbol, venue, _side in sides:
            self._traded_at[(symbol, venue)] = answered_at

    def _risk_check(self, message: ArbitrageDetected) -> str | None:
        if not self._started:
            return "exchange_unavailable"
        if self.kill_reason is not None:
            return "kill_switch"
        if not self._busy_sides.isdisjoint(self._sides(message)):
            return "in_flight_limit"
        if (message.buy_book_received_at <= self._traded_at.get((message.symbol, message.buy_exchange), 0.0)
                or message.sell_book_received_at <= self._traded_at.get((message.symbol, message.sell_exchange), 0.0)):
            return "stale_book"
        cooldown = self.deployment.strategy.cooldown_s
        if time.time() - self._last_trade_at.get(message.symbol, 0.0) < cooldown:
            return "cooldown"
        notional = message.amount * message.buy_price
        if notional > Decimal(self.deployment.strategy.max_notional_per_trade):
            return "exposure_limit"
        open_exposure = sum((abs(base) * message.buy_price for base in self.exposure_base.values()), ZERO)
        if open_exposure + notional > Decimal(self.deployment.risk.max_open_exposure):
            return "exposure_limit"
        return None

    @staticmethod
    def _sides(message: ArbitrageDetected) -> tuple[tuple[str, str, Side], ...]:
        return ((message.symbol, message.buy_exchange, Side.BUY), (message.symbol, message.sell_exchange, Side.SELL))

    def _account(self, message: ArbitrageDetected, result: ArbitrageResult, received_at: float) -> None:
        symbol = message.symbol
        outcome = {Outcome.BOTH_FILLED: "both_filled", Outcome.ONE_LEGGED: "one_legged",
                   Outcome.PARTIAL: "partial"}.get(result.outcome, "none")
        self.outcomes[result.outcome.value] += 1
        self.metrics.count_arbitrage_outcome(symbol, outcome)
        first_leg = min((leg.intent for leg in result.legs if leg.intent.client_order_id in self.sent_at),
                        key=lambda intent: self.sent_at[intent.client_order_id][0], default=None)
        if first_leg is not None:
            first_sent, _, first_started = self.sent_at[first_leg.client_order_id]
            self.first_legs.append((first_leg.venue, first_leg.client_order_id, message.book_received_at))
            latency = max(0.0, first_sent - message.book_received_at)
            self.tick_to_order_s.append(latency)
            self.stage_s["detect"].append(max(0.0, message.detected_at - message.book_received_at))
            self.stage_s["handoff"].append(max(0.0, received_at - message.detected_at))
            self.stage_s["submit"].append(max(0.0, first_started - received_at))
            self.stage_s["request"].append(max(0.0, first_sent - first_started))
            self.metrics.observe_tick_to_order(message.buy_exchange, symbol, latency)
        self.realised_profit[result.quote] = self.realised_profit.get(result.quote, ZERO) + result.realised_profit
        self.exposure_base[symbol] = self.exposure_base.get(symbol, ZERO) + result.residual_after_unwind
        if result.outcome is Outcome.ONE_LEGGED:
            self.one_legged += 1
        risk = self.deployment.risk
        if self.one_legged >= risk.max_one_legged:
            self._trip(f"{self.one_legged} one-legged outcomes")
        if -sum(self.realised_profit.values(), ZERO) >= Decimal(risk.loss_limit):
            self._trip("loss limit reached")

    def _trip(self, reason: str) -> None:
        if self.kill_reason is None:
            self.kill_reason = reason
            logger.error("kill switch: %s; no new opportunities are taken", reason)
            asyncio.get_running_loop().create_task(self._disable_detector())

    async def _disable_detector(self) -> None:
        try:
            await self.peers.call(DETECTOR, "set_enabled", False, timeout_s=CALL_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("could not disable the detector: %s", type(exc).__name__)

    # ----- events and fills -----
    def _on_event(self, event: Any) -> None:
        if isinstance(event, FillApplied):
            fill = event.fill
            self._fills_outbox.append(fill)
            self.metrics.record_fill(fill.exchange, fill.symbol, fill.side, fill.amount, fill.price)
            sent = self.sent_at.get(fill.client_order_id)
            if sent is not None:
                self.metrics.observe_order_fill(fill.exchange, fill.symbol, max(0.0, fill.ts_ms / 1000 - sent[0]))
            return
        outcome = {OrderAccepted: "accepted", OrderRejected: "rejected", OrderDenied: "denied",
                   OrderStatusUnknown: "unknown"}.get(type(event))
        if outcome is not None:
            order = self._order(event.exchange, event.client_order_id)
            side = order.side if order is not None else "buy"
            self.metrics.count_order(event.exchange, side, outcome)

    def _order(self, venue: str, client_order_id: str) -> Any:
        manager = self.managers.get(venue)
        return manager.orders.get(client_order_id) if manager else None

    def _schedule_fill_flush(self) -> None:
        if self._fills_outbox and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.get_running_loop().create_task(self._flush_fills())

    async def _flush_fills(self) -> None:
        while self._fills_outbox:
            batch = list(self._fills_outbox)
            try:
                await self.channels.call(POSITION_TRACKER, "apply_fills", batch, timeout_s=CALL_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the tracker is down: it replays from the journal when it is back
                logger.warning("position tracker unreachable (%s); fills kept for replay", type(exc).__name__)
                return
            for _ in batch:
                self._fills_outbox.popleft()

    async def replay_fills(self) -> int:
        """Send every journaled fill to the position tracker (it ignores the ones it has)."""
        fills = self.journal.fills()
        await self.peers.call(POSITION_TRACKER, "apply_fills", fills, timeout_s=60)
        return len(fills)

    # ----- recovery -----
    def unresolved_orders(self) -> list[str]:
        """Orders a venue answer has not settled yet (not in flight in an opportunity)."""
        return [o.client_order_id for m in self.managers.values() for o in m.open_orders()
                if o.status is OrderStatus.UNKNOWN or o.opportunity_id not in self._in_flight]

    async def _checkpoint_journal(self, period_s: float = JOURNAL_CHECKPOINT_PERIOD_S) -> None:
        """Checkpoint the journal's WAL on a worker thread: inside a commit on the hot path it stalls this loop
        15-19 ms every few hundred orders (execution/journal.py)."""
        while True:
            await asyncio.sleep(period_s)
            try:
                await asyncio.to_thread(self.journal.checkpoint)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the next period tries again; a commit checkpoints if the WAL grows too far
                logger.warning("journal checkpoint failed: %s", exc)

    async def _settle_open_orders(self, period_s: float = 1.0) -> None:
        """While an order's outcome is unknown (e.g. its venue's actor was away longer than the executor's
        lookups), keep reconciling, so it is settled, and its exposure hedged, during the run and not only at exit."""
        while True:
            await asyncio.sleep(period_s)
            if not self.unresolved_orders():
                continue
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("periodic reconciliation failed: %s", type(exc).__name__)

    async def reconcile(self, venue: str | None = None) -> dict[str, Any]:
        """Resolve every non-terminal journaled order by client order id; resubmit lost ones within the TTL (same
        id); expire the rest; then hedge any net exposure left. Start-up and crash recovery are this same path."""
        async with self._reconcile_lock:
            return await self._reconcile(venue)

    async def _reconcile(self, venue: str | None) -> dict[str, Any]:
        venues = [venue] if venue else list(self.managers)
        summary: dict[str, Any] = {"statuses": {}, "unresolved": [], "resubmitted": [], "expired": []}
        for name in venues:
            manager = self.managers[name]
            report = await manager.reconcile(self._lookup_unless_in_flight(name))
            self.metrics.count_reconciliation(name)
            summary["statuses"].update({cid: status.value for cid, status in report.statuses.items()})
            summary["unresolved"].extend(report.unresolved)
            now = time.time()
            for cid in report.lost:
                order = manager.check_order_status(cid)
                if now - order.created_at < REQUEST_LIFETIME_S:
                    continue  # its request could still reach the venue: not proven absent yet
                try:  # within the TTL: same client order id again; past it: expired, the residual is hedged
                    await manager.resubmit(cid)
                    self.metrics.count_resubmission(name)
                    summary["resubmitted"].append(cid)
                except ResubmitRefused:
                    summary["expired"].append(cid)
        summary["hedged"] = await self._hedge_exposure()
        self._schedule_fill_flush()
        if summary["statuses"]:
            logger.info("reconciled %d orders: %d unresolved, %d resubmitted, %d expired", len(summary["statuses"]),
                        len(summary["unresolved"]), len(summary["resubmitted"]), len(summary["expired"]))
        return summary

    def _lookup_unless_in_flight(self, venue: str) -> Any:
        """The venue lookup for reconciliation, refusing orders whose opportunity the executor is still handling."""
        adapter = _VenueAdapter(self, venue)

        async def lookup(query: QueryOrder) -> OrderSnapshot | None:
            order = self.managers[venue].orders.get(query.client_order_id)
            if order is not None and order.opportunity_id in self._in_flight:
                raise _StillInFlight(query.client_order_id)
            return await adapter.query_order(query)

        return lookup

    def net_base_exposure(self) -> dict[str, Decimal]:
        """Per symbol, the base bought minus sold minus base fees over every journaled fill of this run."""
        exposure: dict[str, Decimal] = {}
        for fill in self.journal.fills():
            base = self.rules[(fill.exchange, fill.symbol)].base if (fill.exchange, fill.symbol) in self.rules else None
            signed = fill.amount if fill.side is Side.BUY else -fill.amount
            if fill.fee_asset == base:
                signed -= fill.fee
            exposure[fill.symbol] = exposure.get(fill.symbol, ZERO) + signed
        return exposure

    async def _hedge_exposure(self) -> list[str]:
        """Flatten a net base exposure that a crash or an unresolved leg left behind (when above the minimums)."""
        hedged = []
        if any(m.open_orders() for m in self.managers.values()):
            return hedged  # exposure is not known while an order is unresolved
        for symbol, residual in self.net_base_exposure().items():
            if residual == 0:
                continue
            venues = [v for v in self.managers if (v, symbol) in self.rules]
            io = _ActorIO(self, f"hedge-{self.incarnation}")
            books = {}
            for venue in venues:
                try:
                    books[venue] = await io.order_book(venue, symbol)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    continue
            plan = plan_unwind(residual, symbol, books, {v: self.rules[(v, symbol)] for v in venues},
                               max_slippage_bps=Decimal(self.deployment.strategy.unwind_max_slippage_bps),
                               balances=self.balances)
            if not plan.executable:
                continue
            cid = self.ids.next()
            try:
                await io.submit(plan.venue, symbol, plan.side, plan.amount, plan.limit_price, TimeInForce.IOC, cid)
                hedged.append(cid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("hedge of %s %s failed: %s", residual, symbol, type(exc).__name__)
        return hedged

    async def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until no opportunity is in flight (for a clean shutdown); then settle what is still open."""
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._started:
            await self.reconcile()
            while self.unresolved_orders() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                await self.reconcile()
        if self._flush_task is not None:
            await asyncio.wait_for(asyncio.shield(self._flush_task), timeout_s)
        return not self._in_flight

    # ----- reporting -----
    async def summary(self, recent_samples: int | None = None) -> dict[str, Any]:
        """Counters, and the tick-to-order samples: all of them, or only the newest ``recent_samples`` (the live
        status asks every second and needs no more)."""
        def samples(values: deque) -> list:
            return list(values) if recent_samples is None else list(itertools.islice(reversed(values), recent_samples))

        orders, fills = self.journal.counts()
        return {
            "opportunities_received": self.received,
            "opportunities_taken": self.received - sum(self.denied.values()),
            "denied": dict(self.denied),
            "outcomes": dict(self.outcomes),
            "one_legged": self.one_legged,
            "realised_profit": {k: str(v) for k, v in self.realised_profit.items()},
            "kill_switch": self.kill_reason,
            "tick_to_order_s": samples(self.tick_to_order_s),
            "tick_to_order_first_legs": samples(self.first_legs),
            "tick_to_order_stages_s": {stage: samples(values) for stage, values in self.stage_s.items()},
            "order_round_trip_s": samples(self.round_trip_s),
            "orders": orders,
            "fills": fills,
        }

    async def export(self) -> dict[str, list[dict[str, Any]]]:
        """Orders and fills from the journal, as report rows."""
        orders = []
        for row in self.journal.orders():
            sent = self.sent_at.get(row.client_order_id)
            orders.append({
                "client_order_id": row.client_order_id, "exchange_order_id": row.exchange_order_id,
                "exchange": row.exchange, "symbol": row.symbol, "side": row.side.value,
                "type": row.order_type.value, "tif": row.time_in_force.value, "amount": row.amount,
                "price": row.price, "status": row.status.value, "filled": row.filled,
                "opportunity_id": row.opportunity_id, "created_ts": row.created_ts, "updated_ts": row.updated_ts,
                "sent_ts": sent[0] if sent else None, "ack_ts": sent[1] if sent else None,
            })
        fills = [{
            "ts": f.ts_ms, "exchange": f.exchange, "symbol": f.symbol, "side": f.side.value, "price": f.price,
            "amount": f.amount, "fee": f.fee, "fee_asset": f.fee_asset, "trade_id": f.trade_id,
            "client_order_id": f.client_order_id, "exchange_order_id": f.exchange_order_id,
        } for f in self.journal.fills()]
        return {"orders": orders, "fills": fills}
