"""What differs between the venue dialects rayarb trades (Binance spot v3, OKX v5), where it is not in another module's
table: which client order ids each accepts, and how an order answer that carries only ids becomes a settled order.

Each difference has one place (docs/architecture.md, "Venue dialects", lists them all):

- client order ids: ``CLIENT_ORDER_ID_RULES`` (per dialect) and ``PORTABLE_CLIENT_ORDER_ID``, the ids valid on every
  dialect, which is what rayarb makes (``execution.orders.ids``, ``execution.arbitrage.legs``);
- the order answer: Binance answers an order with its status and fills (FULL); OKX with ids and ``sCode`` only, so
  ccxt's order has no status, amount or fills. ``answers_ids_only`` recognises such an answer by what it lacks (not by
  the venue's name: any dialect that answers so is handled), and ``settle_acknowledged_order`` turns it into a settled
  ``OrderSnapshot`` by looking the order up by client order id (``fetch_order``) with its trades
  (``fetch_order_trades``, unless the order's answer describes its only trade whole: ``only_trade``), the fills then
  deduplicated by trade id like every other. A lookup that fails leaves the outcome unknown (``AmbiguousOrderError``):
  the order manager looks the order up again later; it is never resent.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from execution.api.errors import ccxt_errors
from execution.api.orders import MalformedOrderError, order_snapshot_from_ccxt, to_decimal
from execution.error_handler import AmbiguousOrderError, RayarbError
from execution.types import OrderSnapshot, OrderStatus

logger = logging.getLogger(__name__)

# The client order ids each dialect accepts (ccxt validates neither).
CLIENT_ORDER_ID_RULES: dict[str, re.Pattern[str]] = {
    "binance": re.compile(r"[.A-Za-z0-9:/_-]{1,36}"),  # newClientOrderId
    "okx": re.compile(r"[A-Za-z0-9]{1,32}"),  # clOrdId: a dash is refused (51000), 33 characters too
}
# Valid on every dialect above: what rayarb makes, so that one run may trade any mix of venues.
PORTABLE_CLIENT_ORDER_ID = re.compile(r"[A-Za-z0-9]{1,32}")


def client_order_id_fits(dialect: str, client_order_id: Any) -> bool:
    """Whether the venue speaking ``dialect`` (a ccxt id) accepts ``client_order_id``; an unknown dialect gets the
    portable rule."""
    rule = CLIENT_ORDER_ID_RULES.get(dialect, PORTABLE_CLIENT_ORDER_ID)
    return isinstance(client_order_id, str) and rule.fullmatch(client_order_id) is not None


# How often a freshly acknowledged IOC order is looked up while the venue still shows it open (its matching had not
# ended when it answered), and the pause between lookups.
SETTLE_ATTEMPTS = 5
SETTLE_PAUSE_S = 0.05
_OPEN = frozenset({OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})


def answers_ids_only(order: Mapping[str, Any]) -> bool:
    """Whether ccxt's unified order from ``create_order`` carries ids only (OKX: ``ordId``, ``clOrdId``, ``sCode``):
    no status, no amount, nothing filled -- the order's outcome must be looked up."""
    return order.get("status") is None and order.get("amount") is None and order.get("filled") is None


def only_trade(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The order's one trade as a ccxt unified trade, when the order's lookup describes it whole; else None (its
    trades must be fetched). OKX's order carries its last fill (``tradeId``, ``fillPx``, ``fillSz``, ``fillTime``)
    beside what filled in all (``accFillSz``) and the order's fee: when the last fill is all that filled, it is the
    order's only trade and its fee the order's, the same trade ``fetch_order_trades`` would return. A maker rebate,
    booked apart from the fee, or anything missing or unreadable sends the lookup to the trades."""
    info = order.get("info")
    if not isinstance(info, Mapping):
        return None
    trade_id, price, size, fill_time = (info.get(k) for k in ("tradeId", "fillPx", "fillSz", "fillTime"))
    fee = order.get("fee") or {}
    if not (trade_id and price and size and fill_time and fee.get("currency")) or info.get("fee") in (None, ""):
        return None
    try:  # numbers by the one rule of every order answer (finite decimals)
        amount = to_decimal(size, "fill size")
        if amount <= 0 or amount != to_decimal(info.get("accFillSz"), "filled") or \
                to_decimal(info.get("rebate") or 0, "rebate") != 0:
            return None
        cost = -to_decimal(info["fee"], "fee")  # OKX charges a negative fee
        timestamp = int(fill_time)
    except (MalformedOrderError, ValueError):
        return None
    return {"id": str(trade_id), "order": order.get("id"), "symbol": order.get("symbol"), "side": order.get("side"),
            "price": price, "amount": size, "fee": {"cost": str(cost), "currency": fee["currency"]},
            "timestamp": timestamp}


async def settle_acknowledged_order(exchange: Any, venue: str, symbol: str, client_order_id: str, *,
                                    attempts: int = SETTLE_ATTEMPTS, pause_s: float = SETTLE_PAUSE_S,
                                    timeout_s: float = 5.0) -> OrderSnapshot:
    """The order the venue acknowledged with ids only, as the venue now knows it, with its fills: looked up by client
    order id (``fetch_order``) and its trades (``fetch_order_trades``, when something filled in more than the one
    trade the order's answer describes). An order still open is looked up again (``attempts`` in all, ``pause_s``
    apart; an IOC ends at once) and returned as it is if it stays open (the order manager settles it later). A partly
    filled IOC comes back canceled with its fills.

    Raises ``AmbiguousOrderError`` when the lookup fails or its answer does not parse: the order exists but its
    outcome is unknown; it is looked up again by client order id, never resent."""
    snapshot: OrderSnapshot | None = None
    try:
        async with asyncio.timeout(timeout_s):
            for attempt in range(max(1, attempts)):
                if attempt:
                    await asyncio.sleep(pause_s)
                with ccxt_errors(venue, client_order_id=client_order_id, client=exchange):
                    raw = await exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id})
                    filled = Decimal(str(raw.get("filled") or 0))
                    trades = None
                    if raw.get("id") and filled > 0:
                        only = only_trade(raw)
                        trades = [only] if only is not None else await exchange.fetch_order_trades(raw["id"], symbol)
                snapshot = order_snapshot_from_ccxt(venue, raw, client_order_id=client_order_id, trades=trades)
                if snapshot.status not in _OPEN and sum((f.amount for f in snapshot.fills), Decimal(0)) == \
                        snapshot.filled:
                    return snapshot
    except (RayarbError, MalformedOrderError, TimeoutError) as error:
        if snapshot is not None:  # an earlier lookup answered: the order as it was then
            logger.warning("%s %s: order still settling after its acknowledgement (%s): as last seen",
                           venue, client_order_id, type(error).__name__)
            return snapshot
        raise AmbiguousOrderError(f"acknowledged, but its lookup failed: {type(error).__name__}: {error}",
                                  cause_type=type(error).__name__, exchange=venue,
                                  client_order_id=client_order_id) from error
    assert snapshot is not None
    return snapshot
