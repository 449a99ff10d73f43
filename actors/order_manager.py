"""The ``order_manager`` actor: forwards opportunities, orders and their answers to the domain objects it holds.

- one ``execution.order_manager.OrderManager`` per venue over one SQLite journal (every order journaled before it is
  sent), and ``execution.arbitrage_executor.start_arbitrage`` with I/O through the exchange actors (both legs at once);
- ``execution.risk.RiskEngine``: pre-trade checks, exposure, realised PnL, outcomes, the one-legged count and the kill
  switch, rebuilt from the journal in ``start`` and fed every order event and fill after its commit; a trip is
  journaled before the detector is told to stop;
- ``execution.hedging.hedge_exposure`` for what a crash or an unresolved leg left exposed;
- ``execution.latency.LatencyRecorder`` for tick-to-order and the legs' round trips.

The order managers and the executor reach the exchange actors through ``actors.order_io``.

Start-up and recovery are the same path: ``start`` rebuilds the risk engine, reconciles every non-terminal journaled
order by client order id, resubmits (same id) only lost orders younger than the TTL (none while the kill switch is
tripped), and hedges what is left exposed. Fills go on to the position tracker. ``start`` opens the journal, which
waits for the process this one replaces to let go of it (the intent log's lock): with
``supervisor.order_manager_standby`` the second order manager waits unstarted, holding nothing, until the supervisor
starts it when the active one dies.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from actors.base import DeploymentActor
from actors.common import POSITION_TRACKER, Deployment, PeerFacts, exchange_actor_name
from actors.hot_path import prepare_hot_path_thread
from actors.peers import venue_market_rules
from actors.order_io import CALL_TIMEOUT_S, LEG_TIMEOUT_S, ActorIO, VenueAdapter
from execution.api import load_ccxt, load_ccxt_in_background
from execution.arbitrage_executor import ArbitrageResult, Outcome, UnwindPolicy, start_arbitrage
from execution.hedging import hedge_exposure
from execution.journal import Journal
from execution.latency import LatencyRecorder
from execution.messages import (
    ArbitrageDetected,
    BookPush,
    FillApplied,
    OrderAccepted,
    OrderDenied,
    OrderInitialized,
    OrderRejected,
    OrderStatusUnknown,
    OrderSubmitted,
    QueryOrder,
)
from execution.order_manager import ClientOrderIdFactory, OrderManager, ResubmitRefused
from execution.replies import ReplyNotApplied
from execution.risk import HEDGE_OPPORTUNITY_PREFIX, RiskEngine, RiskLimits, RiskUpdate, Trip
from execution.types import Fill, MarketRules, OrderSnapshot, OrderStatus, Side

logger = logging.getLogger(__name__)

# Binance accepts a signed request until its timestamp + recvWindow (ccxt: 10 s); an order not found after that,
# plus clock margin, can no longer appear, so only then is it proven absent (resubmitted within its TTL, else expired).
REQUEST_LIFETIME_S = 11.0
JOURNAL_CHECKPOINT_PERIOD_S = 1.0  # also how often an operator's reset of the kill switch is read from the journal
# the arbitrage outcome metric's labels
_OUTCOME_LABEL = {Outcome.BOTH_FILLED: "both_filled", Outcome.ONE_LEGGED: "one_legged", Outcome.PARTIAL: "partial"}


class _StillInFlight(Exception):
    """Reconciliation leaves this order to the executor that is handling its opportunity."""


class OrderManagerActor(DeploymentActor):
    channel_methods = ("on_opportunity", "on_book")

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(deployment)
        # validation rounds with ccxt's helpers: imported while the process starts (and waits on its peers in
        # start()), not on the first order
        self._ccxt_import = load_ccxt_in_background()
        # opened by start(): a standby (supervisor.order_manager_standby) must not hold the journal's lock
        self.journal: Journal | None = None
        self.ids = ClientOrderIdFactory("rx")
        self.managers: dict[str, OrderManager] = {}
        self.rules: dict[tuple[str, str], MarketRules] = {}
        self._venue_rules: dict[str, dict[str, MarketRules]] = {}  # venue -> its market rules (prepare)
        self.balances: dict[str, dict[str, Decimal]] = {}
        self.last_snapshot: dict[str, OrderSnapshot] = {}
        self.latency = LatencyRecorder()
        # every figure about money: rebuilt from the journal in start() (None until then: nothing is taken)
        self.risk: RiskEngine | None = None
        self.denied: Counter[str] = Counter()  # this process's refusals, by reason (not money: not journaled)
        self.received = 0
        self._in_flight: set[str] = set()
        self._leg_sides: dict[str, Side] = {}  # client order id -> side, for the legs of opportunities in flight
        self._fills_before_run = 0
        self._fills_outbox: deque[Fill] = deque(maxlen=1_000_000)
        self._flush_task: asyncio.Task | None = None
        self._start_lock = asyncio.Lock()
        self._started = False
        self._reconcile_lock = asyncio.Lock()
        self._settle_task: asyncio.Task | None = None
        self._checkpoint_task: asyncio.Task | None = None
        self.scheduling = "normal"
        self.crash_before_send = False  # armed by arm_crash_before_send (rayarb chaos); see VenueAdapter
        self.start_timeline.step("constructed")

    # ----- lifecycle -----
    async def prepare(self, facts: PeerFacts | None = None) -> None:
        """What starting needs that holds nothing (idempotent): every venue's market rules, and the channels to the
        exchange actors and the tracker, from what the supervisor told (``facts``) or else asked of them. A standby
        order manager is prepared at once, so that taking over is opening the journal, rebuilding and reconciling."""
        names = self.deployment.venue_names
        told = PeerFacts() if facts is None else facts
        if not self._venue_rules:
            self._venue_rules = await venue_market_rules(self.peers, names, told.rules)
            self.start_timeline.step("market rules")
        await self.channels.connect(*(exchange_actor_name(v) for v in names), POSITION_TRACKER, told=told.channels)
        self.peers.warm(*told.channels, method="channel_address")  # the peers no Ray call of its start reached

    async def start(self, facts: PeerFacts | None = None) -> dict[str, Any]:
        """Open the journal, rebuild the risk engine from it, build the per-venue managers (``prepare`` first, with
        ``facts``) and reconcile the journal (idempotent)."""
        first = False
        async with self._start_lock:
            if not self._started:
                self.start_timeline.step("start called")
                if self.journal is None:
                    # waits for the process this one replaces to be gone (its lock on the intent log), off the loop.
                    # Checkpoints run on a worker thread (_checkpoint_journal), never inside an order's commit; a new
                    # order is written ahead to the intent log (one write) and reaches SQLite once its request is out
                    self.journal = await asyncio.to_thread(Journal, self.deployment.journal_path,
                                                           checkpoint_in_background=True, intent_log=True)
                    self.start_timeline.step("journal opened")
                # fills before this run are in its baseline balances already (a --resume of an earlier run's journal)
                self._fills_before_run = self.journal.begin_run(self.deployment.run_id, time.time())
                self._rebuild_risk()
                self.start_timeline.step("risk rebuilt")
                await self.prepare(facts)
                self.start_timeline.step("channels")
                await asyncio.to_thread(self._ccxt_import.join)
                load_ccxt()
                self.start_timeline.step("ccxt")
                for venue, venue_rules in self._venue_rules.items():
                    for symbol, rules in venue_rules.items():
                        self.rules[(venue, symbol)] = rules
                    self.managers[venue] = OrderManager(
                        venue, VenueAdapter(self, venue), venue_rules,
                        balances=lambda v=venue: self.balances.get(v, {}), journal=self.journal,
                        id_factory=self.ids, on_event=self._on_event, submit_timeout_s=LEG_TIMEOUT_S,
                        resubmit_ttl_s=self.deployment.strategy.order_ttl_s)
                self._started = True
                self._settle_task = asyncio.get_running_loop().create_task(self._settle_open_orders())
                self._checkpoint_task = asyncio.get_running_loop().create_task(self._checkpoint_journal())
                self.scheduling = prepare_hot_path_thread(self.deployment.realtime_priority,
                                                          self.deployment.cpu_wake_latency_us)
                self.start_timeline.step("started")
                first = True
        reconciled = await self.reconcile()
        if first:
            self.start_timeline.step("reconciled")
        return reconciled

    def _rebuild_risk(self) -> None:
        """The risk engine as the journal leaves it; a trip the journal lacks (a process died before its commit) is
        journaled now; a tripped switch stops the detector at once."""
        self.risk = RiskEngine.rebuild(self.journal, RiskLimits.of(self.deployment.strategy, self.deployment.risk),
                                       actor=f"order_manager pid {os.getpid()} on {socket.gethostname()}")
        status = self.risk.status()
        logger.info("risk engine rebuilt from the journal: %d opportunities taken %s, kill switch %s",
                    status["opportunities_taken"], status["outcomes"], status["kill_switch"] or "off")
        trip = self.risk.trip
        if trip is not None and self.risk.trip_seq is None:
            self._journal_trip(trip)
        self.metrics.set_kill_switch(None if trip is None else trip.rule)
        if trip is not None:
            logger.error("kill switch tripped (%s); no opportunity is taken until an operator resets it "
                         "(rayarb risk reset RUN_DIR)", trip.reason)
            asyncio.get_running_loop().create_task(self._disable_detector())

    async def health(self) -> dict[str, Any]:
        return {**self.identity(), "started": self._started, "active": self._started,
                "in_flight": len(self._in_flight),
                "kill_switch": None if self.risk is None or self.risk.trip is None else self.risk.trip.reason,
                "trading_allowed": self._trading_allowed(),
                "channel_calls": self.channels.stats(), "scheduling": self.scheduling}

    async def arm_crash_before_send(self) -> None:
        """A fault for ``rayarb chaos``: the next order this process journals is never sent, the process SIGKILLs
        itself between the journal append and the send. An actor method, so only callers on the run's
        token-authenticated Ray can arm it; nothing in the config or the environment does."""
        self.crash_before_send = True

    def _opened(self) -> Journal:
        """The journal, once ``start`` opened it."""
        if self.journal is None:
            raise RuntimeError("the order manager has not opened the journal: not started (a standby, or restarting)")
        return self.journal

    def _trading_allowed(self) -> bool:
        return self._started and self.risk is not None and self.risk.trading_allowed

    async def trading_allowed(self) -> bool:
        """Whether the risk engine lets opportunities be taken (the supervisor enables the detector only then)."""
        return self._trading_allowed()

    async def risk_status(self) -> dict[str, Any] | None:
        return None if self.risk is None else self.risk.status()

    async def on_book(self, item: BookPush) -> None:
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
        assert self.risk is not None  # _risk_check refuses everything before start
        self._in_flight.add(message.opportunity_id)
        self.risk.taking(message, received_at)
        legs = (self.ids.next(), self.ids.next())
        self._leg_sides[legs[0]] = Side.BUY
        self._leg_sides[legs[1]] = Side.SELL
        try:
            pending = start_arbitrage(
                message.buy_exchange, message.sell_exchange, message.symbol, message.amount,
                buy_price=message.buy_price, sell_price=message.sell_price, io=ActorIO(self, message.opportunity_id),
                rules={v: self.rules[(v, message.symbol)] for v in (message.buy_exchange, message.sell_exchange)},
                client_order_ids=legs,
                unwind=UnwindPolicy(max_slippage_bps=Decimal(self.deployment.strategy.unwind_max_slippage_bps)),
                balances=self.balances, leg_timeout_s=LEG_TIMEOUT_S)
        except BaseException:
            self._done_with(message, legs)
            raise
        self.metrics.count_opportunity_taken(message.symbol)  # once the legs are on their way
        return self._settle_opportunity(message, legs, received_at, pending)

    async def _settle_opportunity(self, message: ArbitrageDetected, legs: tuple[str, str], received_at: float,
                                  pending: Awaitable[ArbitrageResult]) -> str:
        try:
            result = await pending
        finally:
            self._done_with(message, legs)
        latency = self.latency.opportunity(((leg.intent.venue, leg.intent.client_order_id) for leg in result.legs),
                                           message.book_received_at, message.detected_at, received_at)
        if latency is not None:
            self.metrics.observe_tick_to_order(message.buy_exchange, message.symbol, latency)
        self._schedule_fill_flush()
        return result.outcome.value  # what the executor saw; the outcome counted is the risk engine's (journal)

    def _done_with(self, message: ArbitrageDetected, legs: tuple[str, str]) -> None:
        self._in_flight.discard(message.opportunity_id)
        for cid in legs:
            self._leg_sides.pop(cid, None)
        if self.risk is not None:
            self.risk.done(message, time.time())

    def _risk_check(self, message: ArbitrageDetected) -> str | None:
        if not self._started or self.risk is None:
            return "exchange_unavailable"
        return self.risk.check(message, time.time())

    def _risk_update(self, update: RiskUpdate) -> None:
        for _opportunity_id, symbol, outcome in update.classified:
            self.metrics.count_arbitrage_outcome(symbol, _OUTCOME_LABEL.get(outcome, "none"))
        if update.trip is not None:
            self._journal_trip(update.trip)
            logger.error("kill switch: %s; no new opportunities are taken", update.trip.reason)
            self.metrics.set_kill_switch(update.trip.rule)
            asyncio.get_running_loop().create_task(self._disable_detector())

    def _journal_trip(self, trip: Trip) -> None:
        """Journal the trip in one commit. The engine is tripped in memory whatever happens here; if the commit
        fails, the next start's rebuild finds the limit reached and journals it then."""
        assert self.risk is not None
        try:
            self.risk.trip_journaled(self.journal.record_risk_event("trip", **trip.journal_fields()))
        except Exception as exc:
            logger.error("could not journal the kill switch's trip (%s): %s", trip.reason, exc)

    async def _disable_detector(self) -> None:
        await asyncio.gather(*(self._disable_shard(name) for name in self.deployment.detector_actors))

    async def _disable_shard(self, name: str) -> None:
        try:
            await self.peers.call(name, "set_enabled", False, timeout_s=CALL_TIMEOUT_S, idempotent=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("could not disable %s: %s", name, type(exc).__name__)

    # ----- events and fills -----
    def _on_event(self, event: Any) -> None:
        """Every event of the order managers, after its journal commit: to the risk engine, the position tracker's
        outbox and the metrics."""
        if isinstance(event, ReplyNotApplied):  # an answer that did not match its order: the order was looked up
            self.metrics.count_reply_mismatch(event.exchange, event.field)
            return
        if isinstance(event, FillApplied):
            fill = event.fill
            self._fills_outbox.append(fill)
            self.metrics.record_fill(fill.exchange, fill.symbol, fill.side, fill.amount, fill.price)
            sent = self.latency.sent(fill.client_order_id)
            if sent is not None:
                self.metrics.observe_order_fill(fill.exchange, fill.symbol, max(0.0, fill.ts_ms / 1000 - sent))
            if self.risk is not None:
                self._risk_update(self.risk.on_fill(fill))
            return
        if isinstance(event, (OrderInitialized, OrderSubmitted)):
            return  # the legs' write path: nothing to settle yet, and the request is not out yet
        order = self._order(event.exchange, event.client_order_id)
        if self.risk is not None:
            self._risk_update(self.risk.on_event(event, order, self._leg_sides.get(event.client_order_id)))
        outcome = {OrderAccepted: "accepted", OrderRejected: "rejected", OrderDenied: "denied",
                   OrderStatusUnknown: "unknown"}.get(type(event))
        if outcome is not None:
            side = order.side if order is not None else self._leg_sides.get(event.client_order_id, "buy")
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
        """Send every fill this run journaled to the position tracker (it ignores the ones it has)."""
        fills = self._opened().fills(after=self._fills_before_run)
        await self.peers.call(POSITION_TRACKER, "apply_fills", fills, timeout_s=60, idempotent=True)
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
            self._read_risk_events()

    def _read_risk_events(self) -> None:
        """Apply trips and resets journaled by others (an operator's ``rayarb risk reset`` while the run goes on)."""
        if self.risk is None:
            return
        try:
            events = self.journal.risk_events(self.risk.last_event_seq)
        except Exception as exc:
            logger.warning("could not read the kill switch's journal: %s", exc)
            return
        for event in events:
            was_tripped = self.risk.trip is not None
            self.risk.apply_event(event)
            if event.kind == "reset" and was_tripped and self.risk.trip is None:
                logger.warning("kill switch reset by %s: %s", event.actor, event.reason)
        if events:
            trip = self.risk.trip
            self.metrics.set_kill_switch(None if trip is None else trip.rule)

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
                if not self._trading_allowed() and now - order.created_at <= manager.resubmit_ttl_s:
                    continue  # the kill switch is tripped: nothing is sent again; past its TTL it is expired below
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
        adapter = VenueAdapter(self, venue)

        async def lookup(query: QueryOrder) -> OrderSnapshot | None:
            order = self.managers[venue].orders.get(query.client_order_id)
            if order is not None and order.opportunity_id in self._in_flight:
                raise _StillInFlight(query.client_order_id)
            return await adapter.query_order(query)

        return lookup

    def net_base_exposure(self) -> dict[str, Decimal]:
        """Per symbol, the base bought minus sold minus base fees over every journaled fill (the risk engine's)."""
        return self.risk.net_base_exposure() if self.risk is not None else {}

    async def _hedge_exposure(self) -> list[str]:
        """Flatten a net base exposure that a crash or an unresolved leg left behind (when above the minimums)."""
        if any(m.open_orders() for m in self.managers.values()):
            return []  # exposure is not known while an order is unresolved
        return await hedge_exposure(
            ActorIO(self, f"{HEDGE_OPPORTUNITY_PREFIX}{self.incarnation}"), self.net_base_exposure(), self.rules,
            list(self.managers), max_slippage_bps=Decimal(self.deployment.strategy.unwind_max_slippage_bps),
            balances=self.balances, new_client_order_id=self.ids.next)

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
        """The risk engine's figures (from the journal), this process's counters, and the tick-to-order samples: all
        of them, or only the newest ``recent_samples`` (the live status asks every second and needs no more)."""
        orders, fills = self._opened().counts()
        risk = self.risk.status() if self.risk is not None else RiskEngine.rebuild(self._opened(), None).status()
        return {
            "opportunities_received": self.received,
            "opportunities_taken": risk["opportunities_taken"],
            "denied": dict(self.denied),
            "outcomes": risk["outcomes"],
            "one_legged": risk["one_legged"],
            "realised_profit": risk["realised_profit"],
            "kill_switch": risk["kill_switch"],
            "risk": risk,
            **self.latency.summary(recent_samples),
            "orders": orders,
            "fills": fills,
        }

    async def export(self) -> dict[str, list[dict[str, Any]]]:
        """Orders and fills from the journal, as report rows."""
        orders = []
        for row in self._opened().orders():
            sent = self.latency.sent_at.get(row.client_order_id)
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
        } for f in self._opened().fills()]
        return {"orders": orders, "fills": fills}
