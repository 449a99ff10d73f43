"""The ``position_tracker`` actor: positions and PnL from fills, checked against the venues' balances.

Thin: the bookkeeping is ``execution.position_tracker.PositionTracker``. After a restart it is rebuilt from the
journal's fills (the supervisor asks the order manager to replay them; repeated trade ids are ignored). Starting
balances are read from the exchange actors once per run and kept by the driver, so a restarted tracker compares
against the same baseline.
"""
from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from actors.base import DeploymentActor
from actors.common import Deployment, exchange_actor_name
from execution.position_tracker import PositionTracker
from execution.types import ZERO, Fill

logger = logging.getLogger(__name__)


class PositionTrackerActor(DeploymentActor):
    channel_methods = ("apply_fills",)  # after every opportunity: kept off Ray's (CPU-dearer) path

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(deployment)
        self.tracker = PositionTracker()
        self.starting_balances: dict[str, dict[str, Decimal]] | None = None
        self.fills: list[Fill] = []  # every fill applied, in order (the journal holds the same)
        self.differences: dict[tuple[str, str], Decimal] = {}
        self.start_timeline.step("constructed")

    async def start(self, starting_balances: dict[str, dict[str, Decimal]] | None = None) -> None:
        """Set the run's starting balances (venue -> asset -> total), the baseline of ``reconcile_balances``."""
        if starting_balances is not None and self.starting_balances is None:
            self.starting_balances = starting_balances
            self.tracker = PositionTracker(starting_balances)
            self.tracker.apply_all(self.fills)

    async def health(self) -> dict[str, Any]:
        return {**self.identity(), "fills": len(self.fills), "differences": len(self.differences)}

    async def apply_fills(self, fills: list[Fill]) -> int:
        new = [fill for fill in fills if self.tracker.apply(fill)]
        self.fills.extend(new)
        if new:
            self._publish()
        return len(new)

    def _publish(self) -> None:
        for venue, changes in self.tracker.balance_changes().items():
            for asset, amount in changes.items():
                self.metrics.set_position(venue, asset, amount)
        realized: dict[str, Decimal] = {}
        for (_venue, quote), pnl in self.tracker.realized_pnl().items():
            realized[quote] = realized.get(quote, ZERO) + pnl
        unrealized: dict[str, Decimal] = {}
        for (venue, symbol), pnl in self.tracker.unrealized_pnl().items():
            quote = self.tracker.assets_of(symbol)[1]
            unrealized[quote] = unrealized.get(quote, ZERO) + pnl
        fees_quote: dict[str, Decimal] = {}
        for (_venue, asset), fee in self.tracker.fees().items():
            fees_quote[asset] = fees_quote.get(asset, ZERO) + fee
        for quote in set(realized) | set(unrealized):
            self.metrics.set_pnl(quote, realized.get(quote, ZERO) - fees_quote.get(quote, ZERO),
                                 unrealized.get(quote, ZERO))

    async def set_marks(self, marks: dict[str, Decimal]) -> None:
        for symbol, price in marks.items():
            self.tracker.set_mark(symbol, price)
        self._publish()

    async def balance_changes(self) -> dict[str, dict[str, Decimal]]:
        return self.tracker.balance_changes()

    async def venue_balances(self) -> dict[str, dict[str, Decimal]]:
        """Total (free + locked) balance per venue and asset, as every venue reports it now."""
        venues = self.deployment.venue_names
        answers = await asyncio.gather(*(
            self.peers.call(exchange_actor_name(v), "balances", timeout_s=15, idempotent=True) for v in venues))
        return {venue: {asset: free + locked for asset, (free, locked) in answer.items()}
                for venue, answer in zip(venues, answers)}

    async def reconcile_balances(self) -> dict[str, Any]:
        """Compare starting balances + fills with what each venue reports now; report any difference."""
        if self.starting_balances is None:
            return {"checked": False, "differences": {}}
        now = await self.venue_balances()
        previous, self.differences = self.differences, self.tracker.balance_differences(now)
        for venue, asset in previous.keys() - self.differences.keys():
            self.metrics.set_balance_unexplained(venue, asset, ZERO)
        for (venue, asset), difference in sorted(self.differences.items()):
            logger.warning("%s", PositionTracker.describe_difference(venue, asset, difference))
            self.metrics.set_balance_unexplained(venue, asset, difference)
        return {"checked": True, "differences": {f"{v}:{a}": str(d) for (v, a), d in self.differences.items()},
                "unexplained": [PositionTracker.describe_difference(v, a, d)
                                for (v, a), d in sorted(self.differences.items())]}
