"""The ``detector`` actor: latest books from every exchange actor in, opportunities out to the order manager.

With ``detector.shards`` K > 1 there are K of them, ``detector:0`` .. ``detector:<K-1>``, each detecting on its share
of the symbols (``execution.sharding``): the exchange actors send each shard only its symbols' books (and every
venue's balances), and every shard sends its opportunities to the one order manager.
With ``supervisor.detector_standby`` a shard has a second actor, ``<shard>~2``: started (market rules loaded, its
channel to the order manager open) but sent no books and never firing until the supervisor ``activate``s it, when the
shard's active actor dies; the exchange actors then send it their latest books at once.
Thin: detection and sizing are ``execution.detector``. It keeps at most one opportunity in flight per symbol and venue
pair (released when the order manager answers or the call times out), so nothing queues up behind a slow order manager.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from actors.base import DeploymentActor
from actors.common import ORDER_MANAGER, Deployment, PeerFacts
from actors.hot_path import prepare_hot_path_thread
from actors.peers import venue_market_rules
from execution.detector import ArbitrageDetector, Detection
from execution.messages import ArbitrageDetected, BookPush
from execution.types import MarketRules

logger = logging.getLogger(__name__)

OPPORTUNITY_TIMEOUT_S = 60.0


class DetectorActor(DeploymentActor):
    channel_methods = ("on_book",)

    def __init__(self, deployment: Deployment, shard: int = 0) -> None:
        super().__init__(deployment)
        self.name = deployment.detector_names[shard]
        self.symbols = deployment.detector_symbols(self.name)
        self.detector: ArbitrageDetector | None = None
        self._inventory: dict[str, dict[str, Decimal]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._enabled = False  # the supervisor enables detection once the run's baseline is taken
        self.active = False  # the shard's detecting actor (a standby's detection stays off until it is activated)
        self._sequence = 0
        # (venue, symbol) -> when its latest book arrived: the book age metric of each decision
        self._book_received_at: dict[tuple[str, str], float] = {}
        self.scheduling = "normal"
        self.start_timeline.step("constructed")

    async def start(self, active: bool = True, facts: PeerFacts | None = None) -> None:
        """Load every venue's market rules and open the channel to the order manager (idempotent), from what the
        supervisor told (``facts``) or else asked of them; ``active``: the shard's detecting actor, else its standby
        until ``activate``."""
        if self.detector is not None:
            return
        told = PeerFacts() if facts is None else facts
        by_venue = await venue_market_rules(self.peers, self.deployment.venue_names, told.rules)
        rules: dict[tuple[str, str], MarketRules] = {}
        for venue, venue_rules in by_venue.items():
            for symbol, r in venue_rules.items():
                if symbol in self.symbols:
                    rules[(venue, symbol)] = r
        strategy = self.deployment.strategy
        self.detector = ArbitrageDetector(rules, min_profit_bps=Decimal(strategy.min_profit_bps),
                                          max_book_age_s=strategy.max_book_age_ms / 1000,
                                          max_notional=Decimal(strategy.max_notional_per_trade),
                                          on_skip=self.metrics.count_opportunity_skipped)
        self.active = active
        self._apply_enabled()
        await self.channels.connect(ORDER_MANAGER, told=told.channels)
        self.peers.warm(*told.channels, method="channel_address")  # the peers no Ray call of its start reached
        for venue, free in self._inventory.items():
            self.detector.set_inventory(venue, free)
        self.scheduling = prepare_hot_path_thread(self.deployment.realtime_priority,
                                                  self.deployment.cpu_wake_latency_us)

    async def health(self) -> dict[str, Any]:
        d = self.detector
        return {**self.identity(), "shard": self.name, "symbols": list(self.symbols), "started": d is not None,
                "updates": d.updates if d else 0, "detected": d.detected if d else 0,
                "skipped": dict(d.skipped) if d else {}, "in_flight": len(d.in_flight) if d else 0,
                "enabled": self._enabled, "active": self.active, "channel_calls": self.channels.stats(),
                "scheduling": self.scheduling}

    async def ingest(self, samples: int = 10_000) -> dict[str, Any]:
        """Books taken in so far and the newest ``samples`` books' ages at use, in seconds (the ingest benchmark)."""
        d = self.detector
        if d is None:
            return {"updates": 0, "book_ages_s": []}
        ages = list(d.book_ages)
        return {"updates": d.updates, "book_ages_s": ages[-samples:] if samples else []}

    async def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        self._apply_enabled()

    async def activate(self) -> None:
        """Take detection over from the shard's dead active actor (the supervisor then has the books sent here)."""
        if self.detector is None:
            raise RuntimeError(f"{self.name}: activated before it was started")
        if not self.active:
            self.active = True
            self._apply_enabled()
            logger.info("detector %s: standby active", self.name)

    def _apply_enabled(self) -> None:
        """Detection runs when the supervisor enabled it and this is the shard's active actor: a standby never fires,
        whatever it was told."""
        if self.detector is not None:
            self.detector.enabled = self._enabled and self.active

    async def on_book(self, item: BookPush) -> None:
        self.on_book_now(item)

    def on_book_now(self, item: BookPush) -> None:
        """A book (or a venue's balances): checked, and any opportunity sent, as the channel receives it."""
        if isinstance(item, tuple):  # ("balances", venue, free)
            _, venue, free = item
            self._inventory[venue] = free
            if self.detector is not None:
                self.detector.set_inventory(venue, free)
            return
        self._book_received_at[(item.exchange, item.symbol)] = item.received_at
        if self.detector is None:
            return
        for detection in self.detector.on_book(item):  # each skip counted in the metrics as it happens
            self._fire(detection)

    def _fire(self, detection: Detection) -> None:
        opp = detection.opportunity
        self._sequence += 1
        message = ArbitrageDetected(
            opportunity_id=f"op-{self.incarnation}-{self._sequence}", symbol=opp.symbol,
            buy_exchange=opp.buy_exchange, sell_exchange=opp.sell_exchange, amount=opp.amount,
            buy_price=opp.buy_limit, sell_price=opp.sell_limit, expected_profit=opp.expected_profit,
            detected_at=detection.detected_at, buy_book_received_at=detection.buy_book_received_at,
            sell_book_received_at=detection.sell_book_received_at)
        detection_s = max(0.0, time.time() - detection.book_received_at)
        answer = self.channels.request(ORDER_MANAGER, "on_opportunity", message, timeout_s=OPPORTUNITY_TIMEOUT_S)
        task = asyncio.get_running_loop().create_task(self._hand_over(message, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # metrics once the opportunity is on its way
        self.metrics.count_opportunity_detected(opp.symbol)
        self.metrics.observe_detection(opp.symbol, detection_s)
        for venue in (opp.buy_exchange, opp.sell_exchange):
            received_at = self._book_received_at.get((venue, opp.symbol))
            if received_at is not None:
                self.metrics.observe_book_age(venue, opp.symbol, max(0.0, detection.detected_at - received_at))

    async def _hand_over(self, message: ArbitrageDetected, answer: Awaitable[str]) -> None:
        key = (message.symbol, message.buy_exchange, message.sell_exchange)
        try:
            await answer
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("opportunity %s not handled: %s", message.opportunity_id, type(exc).__name__)
        finally:
            if self.detector is not None:
                self.detector.release(key)
