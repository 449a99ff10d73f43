"""Replies cannot lie: a venue's answer is checked against the order it answers before it may move that order.

``reply_mismatch`` compares an ``OrderSnapshot`` (the answer to a submit, a lookup or a cancel) with what was asked:
the client order id, the venue, the symbol, the side, the exchange order id once known, the amount, the limit price
(an order's own price must be ours; an average or a fill may be better than the limit, never worse), and the fills
(each must belong to the order, and the fills together, with those already applied, must not exceed its amount; nor
may the venue's cumulative filled amount). The first field that does not match is returned as a ``ReplyMismatch``;
the caller then treats the order's outcome as unknown and looks it up by its client order id.

A mismatch's text names the field and the two values (ids, symbols, sides, amounts, prices): never a key or a secret.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from execution.error_handler import RayarbError
from execution.types import ZERO, OrderSnapshot, OrderType, Side

FIELDS = ("client_order_id", "exchange", "symbol", "side", "exchange_order_id", "amount", "price", "fill", "filled")


@dataclass(frozen=True, slots=True)
class ReplyMismatch:
    """The first field of a reply that does not match the order it answers (one of ``FIELDS``)."""

    field: str
    expected: str
    got: str

    def __str__(self) -> str:
        return f"reply {self.field} is {self.got}, the order's is {self.expected}"


@dataclass(frozen=True, slots=True)
class ReplyNotApplied:
    """Event (``OrderManager``'s ``on_event``): an answer about ``client_order_id`` at ``exchange`` was not applied
    because its ``field`` did not match the order; the actor counts it (``rayarb_reply_mismatches``)."""

    exchange: str
    client_order_id: str
    field: str
    ts_event: float


class UntrustedReply(RayarbError):
    """A venue's answer did not match the order it answers; it was not applied. The order's outcome is unknown: look
    it up by client order id. ``mismatch`` says which field."""

    def __init__(self, mismatch: ReplyMismatch, **ids: object) -> None:
        super().__init__(str(mismatch), **ids)  # type: ignore[arg-type]
        self.mismatch = mismatch


def _worse(side: Side, price: Decimal, limit: Decimal) -> bool:
    """A price worse for us than our limit: higher for a buy, lower for a sell."""
    return price > limit if side is Side.BUY else price < limit


def reply_mismatch(snapshot: OrderSnapshot, *, client_order_id: str, exchange: str, symbol: str, side: Side,
                   amount: Decimal, price: Decimal | None, order_type: OrderType = OrderType.LIMIT,
                   exchange_order_id: str | None = None, applied_trade_ids: Iterable[str] = (),
                   applied_filled: Decimal = ZERO) -> ReplyMismatch | None:
    """The first field in which ``snapshot`` does not match the order it answers, or None when it matches.

    ``applied_trade_ids`` / ``applied_filled``: the fills of the order already applied (a reply may repeat them; only
    the new ones count towards the amount)."""
    checks = (
        ("client_order_id", client_order_id, snapshot.client_order_id),
        ("exchange", exchange, snapshot.exchange),
        ("symbol", symbol, snapshot.symbol),
        ("side", side, snapshot.side),
    )
    for field, expected, got in checks:
        if expected != got:
            return ReplyMismatch(field, _text(expected), _text(got))
    if exchange_order_id is not None and snapshot.exchange_order_id is not None \
            and snapshot.exchange_order_id != exchange_order_id:
        return ReplyMismatch("exchange_order_id", exchange_order_id, snapshot.exchange_order_id)
    if snapshot.amount != amount:
        return ReplyMismatch("amount", str(amount), str(snapshot.amount))
    limit = price if order_type is OrderType.LIMIT else None
    if limit is not None:
        if snapshot.price is not None and snapshot.price != 0 and snapshot.price != limit:
            return ReplyMismatch("price", str(limit), str(snapshot.price))
        if snapshot.average is not None and snapshot.average != 0 and _worse(side, snapshot.average, limit):
            return ReplyMismatch("price", f"{limit} or better", f"an average of {snapshot.average}")
    if snapshot.filled > amount:
        return ReplyMismatch("filled", f"at most {amount}", str(snapshot.filled))
    known = set(applied_trade_ids)
    total = applied_filled
    for fill in snapshot.fills:
        for field, expected, got in (("client_order_id", client_order_id, fill.client_order_id),
                                     ("exchange", exchange, fill.exchange), ("symbol", symbol, fill.symbol),
                                     ("side", side, fill.side)):
            if expected != got:
                return ReplyMismatch("fill", f"{field} {_text(expected)}", f"trade {fill.trade_id} {field} {_text(got)}")
        if fill.amount <= 0 or fill.price <= 0:
            return ReplyMismatch("fill", "a positive amount and price",
                                 f"trade {fill.trade_id}: {fill.amount} at {fill.price}")
        if limit is not None and _worse(side, fill.price, limit):
            return ReplyMismatch("price", f"{limit} or better", f"trade {fill.trade_id} at {fill.price}")
        if fill.trade_id in known:
            continue
        known.add(fill.trade_id)
        total += fill.amount
        if total > amount:
            return ReplyMismatch("fill", f"fills of at most {amount}", f"{total} with trade {fill.trade_id}")
    return None


def _text(value: object) -> str:
    return value.value if isinstance(value, Side) else str(value)
