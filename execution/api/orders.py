"""ccxt's unified order and trade dicts turned into rayarb's ``OrderSnapshot`` and ``Fill``, in ``Decimal``.

ccxt hands numbers over as Python floats; each is converted by ``execution.money``'s rule (a float's shortest repr),
which gives back the venue's decimal text for any value with up to 15 significant digits (every price and amount a
spot venue quotes). Status
mapping: ccxt ``open`` is ACCEPTED (or PARTIALLY_FILLED once something filled), ``closed`` FILLED, ``canceled``
CANCELED, ``expired`` EXPIRED (an IOC remainder), ``rejected`` REJECTED, ``canceling`` PENDING_CANCEL; anything else
UNKNOWN. ``venue`` names the venue as rayarb knows it (``alpha``), which can differ from the ccxt id (``binance``).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from execution import money
from execution.types import ZERO, Fill, OrderSnapshot, OrderStatus, Side

logger = logging.getLogger(__name__)

_STATUSES = {
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
    "canceling": OrderStatus.PENDING_CANCEL,
}


class MalformedOrderError(ValueError):
    """A ccxt order or trade dict lacks a field rayarb needs or carries a value that is not a number."""


def to_decimal(value: Any, what: str = "value") -> Decimal | None:
    """A ccxt number or numeric string as a finite Decimal by ``execution.money``'s rule; None stays None."""
    if value is None:
        return None
    try:
        return money.to_decimal(value, what)
    except money.InvalidInputError as exc:
        raise MalformedOrderError(str(exc)) from None


def side_of(value: Any) -> Side:
    try:
        return value if isinstance(value, Side) else Side(str(value).lower())
    except ValueError as exc:
        raise MalformedOrderError(f"side {value!r} is neither buy nor sell") from exc


def status_of(ccxt_status: str | None, filled: Decimal) -> OrderStatus:
    if ccxt_status == "open":
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    return _STATUSES.get(ccxt_status or "", OrderStatus.UNKNOWN)


def fill_from_ccxt_trade(
    venue: str,
    trade: Mapping[str, Any],
    *,
    client_order_id: str,
    side: Side | None = None,
    symbol: str | None = None,
    exchange_order_id: str | None = None,
    ts_ms: int | None = None,
) -> Fill:
    """A ``Fill`` from a ccxt unified trade (``order['trades'][i]`` or a ``fetch_my_trades`` entry).

    Keyword arguments fill what the trade leaves out (Binance's FULL order response carries fills without symbol,
    side, order id or time). A trade without fee information is recorded with fee 0 in its quote asset and a
    warning, rather than a guessed fee.
    """
    trade_id = trade.get("id")
    if trade_id in (None, ""):
        raise MalformedOrderError(f"trade of {client_order_id} on {venue} has no id")
    price = to_decimal(trade.get("price"), "trade price")
    amount = to_decimal(trade.get("amount"), "trade amount")
    if price is None or amount is None:
        raise MalformedOrderError(f"trade {trade_id} on {venue} has no price or amount")
    trade_symbol = trade.get("symbol") or symbol
    if not trade_symbol:
        raise MalformedOrderError(f"trade {trade_id} on {venue} has no symbol")
    trade_side = side_of(trade.get("side") or side)
    fee = trade.get("fee") or {}
    fee_cost = to_decimal(fee.get("cost"), "trade fee")
    fee_asset = fee.get("currency")
    if fee_cost is None or not fee_asset:
        logger.warning("trade %s of %s on %s carries no fee: recorded as 0", trade_id, client_order_id, venue)
        fee_cost = ZERO
        fee_asset = fee_asset or trade_symbol.split("/")[-1].split(":")[0]
    timestamp = trade.get("timestamp")
    return Fill(
        exchange=venue,
        symbol=trade_symbol,
        side=trade_side,
        price=price,
        amount=amount,
        fee=fee_cost,
        fee_asset=fee_asset,
        trade_id=str(trade_id),
        client_order_id=client_order_id,
        exchange_order_id=str(trade.get("order") or exchange_order_id or "") or None,
        ts_ms=int(timestamp if timestamp is not None else ts_ms or 0),
    )


def fills_from_ccxt_trades(
    venue: str,
    trades: Iterable[Mapping[str, Any]],
    *,
    client_order_id: str,
    side: Side | None = None,
    symbol: str | None = None,
    exchange_order_id: str | None = None,
    ts_ms: int | None = None,
) -> tuple[Fill, ...]:
    return tuple(
        fill_from_ccxt_trade(
            venue, trade, client_order_id=client_order_id, side=side, symbol=symbol,
            exchange_order_id=exchange_order_id, ts_ms=ts_ms,
        )
        for trade in trades
    )


def order_snapshot_from_ccxt(
    venue: str,
    order: Mapping[str, Any],
    *,
    client_order_id: str | None = None,
    trades: Iterable[Mapping[str, Any]] | None = None,
) -> OrderSnapshot:
    """An ``OrderSnapshot`` from a ccxt unified order. ``trades`` (e.g. from ``fetch_order_trades``) replace the
    order's own ``trades`` when given; ``client_order_id`` is used when the order does not echo one."""
    info = order.get("info")
    if isinstance(info, (str, bytes)):  # ccxt could not parse the body (garbage, cut short, an HTML page)
        text = info.decode("utf-8", "replace") if isinstance(info, bytes) else info
        preview = " ".join(text.split())[:60]
        raise MalformedOrderError(f"{venue} answered order {order.get('clientOrderId') or client_order_id} with a "
                                  f"body that is not JSON ({len(text)} bytes: {preview!r})")
    cid = order.get("clientOrderId") or client_order_id
    if not cid:
        raise MalformedOrderError(f"order {order.get('id')!r} on {venue} has no client order id")
    status = order.get("status")
    if status is not None and status != "open" and status not in _STATUSES:
        raise MalformedOrderError(f"order {cid} on {venue} has status {status!r}, which is no order status rayarb "
                                  f"knows")
    symbol = order.get("symbol")
    if not symbol:
        raise MalformedOrderError(f"order {cid} on {venue} has no symbol")
    side = side_of(order.get("side"))
    amount = to_decimal(order.get("amount"), "order amount")
    filled = to_decimal(order.get("filled"), "order filled") or ZERO
    if amount is None:
        raise MalformedOrderError(f"order {cid} on {venue} has no amount")
    exchange_order_id = str(order["id"]) if order.get("id") not in (None, "") else None
    timestamp = order.get("lastTradeTimestamp") or order.get("timestamp")
    fills = fills_from_ccxt_trades(
        venue,
        (order.get("trades") or ()) if trades is None else trades,
        client_order_id=cid,
        side=side,
        symbol=symbol,
        exchange_order_id=exchange_order_id,
        ts_ms=timestamp,
    )
    return OrderSnapshot(
        exchange=venue,
        symbol=symbol,
        side=side,
        client_order_id=cid,
        exchange_order_id=exchange_order_id,
        status=status_of(order.get("status"), filled),
        amount=amount,
        filled=filled,
        price=to_decimal(order.get("price"), "order price"),
        average=to_decimal(order.get("average"), "order average"),
        fills=fills,
        ts_ms=int(timestamp) if timestamp is not None else None,
    )
