"""Binance (and Binance-dialect venues) through ccxt: connect, place orders, find them again by client order id.

The seed's two functions keep their names: ``initialize_binance_api(api_key, secret_key)`` returns a connected async
ccxt exchange with markets loaded (real Binance, its testnet, or a local venue URL), and
``place_order(exchange, symbol, side, amount, price)`` returns ccxt's unified order dict. Around them:
``fetch_order_by_client_id`` (the lookup that settles an ambiguous create), ``CcxtArbitrageIO``, the
``ArbitrageIO`` adapter ``execution.arbitrage.executor.execute_arbitrage`` uses with real ccxt clients, and
``create_spot_order``, ccxt's ``create_order`` for an order already on the market's grid (the exchange actor's).

Orders are checked locally before any I/O: the amount must already be on the market's step and the price on its tick
(ccxt would silently truncate/round them), so what is journaled is what is sent. Decimal values are passed to ccxt as
strings. Failures are rayarb's translated errors; a failed create is ``AmbiguousOrderError`` unless the venue
definitely refused it.
"""
from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from execution import money
from execution.api.dialects import (CLIENT_ORDER_ID_RULES, answers_ids_only, client_order_id_fits,
                                    settle_acknowledged_order)
from execution.api.errors import ccxt_errors
from execution.api.orders import order_snapshot_from_ccxt
from execution.api.other_exchange_api import (
    DEFAULT_TIMEOUT_S,
    fetch_order_book,
    initialize_exchange_api,
)
from execution.api.precision import is_multiple, is_on_step, is_on_tick, rules_from_market
from execution.api.venue import VenueConfigError
from execution.error_handler import AmbiguousOrderError, BadSymbol, ErrorClass, InvalidOrder, RayarbError, error_class
from execution.messages import CancelOrder, QueryOrder, SubmitOrder
from execution.replies import UntrustedReply, reply_mismatch
from execution.types import OrderBook, OrderSnapshot, OrderType, Side, TimeInForce

logger = logging.getLogger(__name__)

# Binance's newClientOrderId rule (each dialect's: ``execution.api.dialects.CLIENT_ORDER_ID_RULES``).
CLIENT_ORDER_ID_PATTERN = re.compile(r"^[.A-Za-z0-9:/_-]{1,36}$")


async def initialize_binance_api(
    api_key: str | None,
    secret_key: str | None,
    *,
    url: str | None = None,
    testnet: bool = False,
    verify_keys: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    options: dict[str, Any] | None = None,
) -> Any:
    """A connected async ccxt Binance client, markets loaded: real Binance, its testnet (``testnet=True``) or the
    local Binance-dialect venue at ``url``. See ``initialize_exchange_api`` for the errors."""
    if url is not None and testnet:
        raise VenueConfigError("give either url (a local venue) or testnet=True, not both")
    return await initialize_exchange_api(
        "binance", api_key, secret_key, url=url, sandbox=testnet, verify_keys=verify_keys, timeout_s=timeout_s,
        options=options,
    )


def _decimal_arg(value: Any, what: str, exchange: str) -> Decimal:
    try:
        return money.amount(value, what, floats=False)
    except money.InvalidInputError as exc:
        raise InvalidOrder(f"{what} {exc.reason}", exchange=exchange) from None


def _order_params(exchange: Any, symbol: str, side: Any, amount: Any, price: Any, order_type: Any,
                  time_in_force: Any, client_order_id: str | None) -> tuple[str, str, str, str | None, dict[str, Any]]:
    """Validate an order locally and return ccxt's arguments (type, side, amount, price, params)."""
    name = exchange.id
    try:
        order_side = side if isinstance(side, Side) else Side(str(side).lower())
    except ValueError as exc:
        raise InvalidOrder(f"side must be buy or sell, got {side!r}", exchange=name) from exc
    try:
        kind = order_type if isinstance(order_type, OrderType) else OrderType(str(order_type).lower())
    except ValueError as exc:
        raise InvalidOrder(f"order_type must be limit or market, got {order_type!r}", exchange=name) from exc
    quantity = _decimal_arg(amount, "amount", name)
    limit = None
    if kind is OrderType.LIMIT:
        if price is None:
            raise InvalidOrder("a limit order needs a price", exchange=name)
        limit = _decimal_arg(price, "price", name)
    markets = getattr(exchange, "markets", None) or {}
    market = markets.get(symbol)
    if market is None:
        raise BadSymbol(f"{name} does not list {symbol!r} (markets loaded: {len(markets)})", exchange=name)
    rules = rules_from_market(name, market)
    if rules.amount_step and not is_on_step(rules, quantity):
        raise InvalidOrder(f"amount {quantity} is not on {symbol}'s step {rules.amount_step}", exchange=name)
    if limit is not None and rules.price_tick and not is_on_tick(rules, limit):
        raise InvalidOrder(f"price {limit} is not on {symbol}'s tick {rules.price_tick}", exchange=name)
    params: dict[str, Any] = {}
    if client_order_id is not None:
        if not client_order_id_fits(name, client_order_id):
            rule = CLIENT_ORDER_ID_RULES.get(name)
            raise InvalidOrder(f"client order id {client_order_id!r} is not what {name} accepts"
                               + (f" ({rule.pattern})" if rule is not None else ""), exchange=name)
        params["clientOrderId"] = client_order_id  # ccxt sends it as newClientOrderId
    if time_in_force is not None:
        try:
            tif = time_in_force if isinstance(time_in_force, TimeInForce) else TimeInForce(str(time_in_force).upper())
        except ValueError as exc:
            raise InvalidOrder(f"time_in_force must be GTC, IOC or FOK, got {time_in_force!r}", exchange=name) from exc
        params["timeInForce"] = tif.value
    return kind.value, order_side.value, str(quantity), None if limit is None else str(limit), params


async def place_order(
    exchange: Any,
    symbol: str,
    side: Side | str,
    amount: Decimal | str,
    price: Decimal | str | None,
    *,
    order_type: OrderType | str = "limit",
    time_in_force: TimeInForce | str | None = None,
    client_order_id: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """Place an order and return ccxt's unified order dict.

    ``amount`` and ``price`` are Decimal (or decimal strings), already on the market's step and tick; they are
    refused locally (``InvalidOrder``, nothing sent) otherwise, as are floats, unknown symbols (``BadSymbol``) and
    client order ids Binance would refuse. ``client_order_id`` goes to ccxt as ``params['clientOrderId']`` (sent as
    ``newClientOrderId``). A failure after sending raises ``AmbiguousOrderError`` (look the order up by client order
    id; never resend blindly) unless the venue definitely refused it (a ``FatalError``).
    """
    kind, order_side, quantity, limit, params = _order_params(
        exchange, symbol, side, amount, price, order_type, time_in_force, client_order_id
    )
    with ccxt_errors(exchange.id, client_order_id=client_order_id, creating_order=True, client=exchange):
        order = await asyncio.wait_for(
            exchange.create_order(symbol, kind, order_side, quantity, limit, params), timeout_s
        )
    logger.info(
        "%s %s %s %s @ %s placed: client_order_id=%s exchange_order_id=%s status=%s filled=%s",
        exchange.id, symbol, order_side, quantity, limit, order.get("clientOrderId") or client_order_id,
        order.get("id"), order.get("status"), order.get("filled"),
    )
    return order


async def fetch_order_by_client_id(
    exchange: Any, symbol: str, client_order_id: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
    with_trades: bool = True,
) -> dict[str, Any] | None:
    """The unified order with ``client_order_id`` (None when the venue does not know it). With ``with_trades``, an
    order that filled but came without trades (Binance's GET /order has none) gets them from ``fetch_order_trades``
    under the key ``trades``."""
    try:
        with ccxt_errors(exchange.id, client_order_id=client_order_id, client=exchange):
            order = await asyncio.wait_for(
                exchange.fetch_order(None, symbol, {"clientOrderId": client_order_id}), timeout_s
            )
            if with_trades and not order.get("trades") and (order.get("filled") or 0) > 0 and order.get("id"):
                order = dict(order)
                order["trades"] = await asyncio.wait_for(exchange.fetch_order_trades(order["id"], symbol), timeout_s)
    except RayarbError as error:
        if error_class(error) is ErrorClass.NOT_FOUND:
            return None
        raise
    return order


def _plain(value: Decimal) -> str:
    """The text ccxt's precision helpers give a value already on the grid: no exponent, no trailing zeros."""
    return format(value.normalize(), "f")


def _on_grid(value: Decimal, increment: float) -> bool:
    return value > 0 and is_multiple(value, money.exact(increment))


def spot_order_request(exchange: Any, symbol: str, order_type: OrderType, side: Side, amount: Decimal,
                       price: Decimal | None, time_in_force: TimeInForce, client_order_id: str) -> dict[str, str] | None:
    """The request ccxt's binance ``create_order_request`` builds for a plain spot LIMIT or MARKET order whose amount
    and price are on the market's step and tick, key for key and in ccxt's order (so the signed body is the same
    bytes), without ccxt re-rounding numbers that are already exact (~150 us per order). None when ccxt must build it:
    another exchange, market type, account mode, or a number off the grid."""
    market = (exchange.markets or {}).get(symbol) if exchange.id == "binance" else None
    if (market is None or not market.get("spot") or market.get("stock") or market.get("option")
            or exchange.options.get("papi") or exchange.options.get("portfolioMargin")):
        return None
    precision = market.get("precision") or {}
    step, tick = precision.get("amount"), precision.get("price")
    if step is None or not _on_grid(amount, step) or (price is not None and (tick is None or not _on_grid(price, tick))):
        return None  # ccxt rounds it, its own way
    kind = order_type.value
    request = {"symbol": market["id"], "side": side.value.upper(), "newClientOrderId": client_order_id,
               "newOrderRespType": exchange.safe_string(exchange.options.get("newOrderRespType"), kind, "FULL"),
               "type": kind.upper(), "quantity": _plain(amount)}
    if order_type is OrderType.LIMIT:
        if price is None:
            return None
        request["price"] = _plain(price)
    elif price is not None:  # ccxt turns a priced market buy into quoteOrderQty
        return None
    request["timeInForce"] = time_in_force.value
    return request


async def create_spot_order(exchange: Any, symbol: str, order_type: OrderType, side: Side, amount: Decimal,
                            price: Decimal | None, time_in_force: TimeInForce, client_order_id: str) -> dict[str, Any]:
    """ccxt's ``create_order`` (the unified order it returns, its errors), through ccxt's own signing, HTTP, error
    table and parser, with the request from ``spot_order_request`` when it can build it. A client order id the venue's
    dialect would refuse is refused here (``InvalidOrder``), before anything is sent."""
    if not client_order_id_fits(exchange.id, client_order_id):
        raise InvalidOrder(f"client order id {client_order_id!r} is not what {exchange.id} accepts",
                           exchange=exchange.id, client_order_id=client_order_id)
    request = spot_order_request(exchange, symbol, order_type, side, amount, price, time_in_force, client_order_id)
    if request is None:
        return await exchange.create_order(
            symbol, order_type.value, side.value, str(amount), None if price is None else str(price),
            {"clientOrderId": client_order_id, "timeInForce": time_in_force.value})
    response = await exchange.privatePostOrder(request)
    return exchange.parse_order(response, exchange.markets[symbol])


class CcxtOrderAdapter:
    """``ExchangeAdapter`` (``execution.orders.manager``) for one venue over one ccxt async exchange: what the exchange
    actor does for the order manager, without Ray. Failures are rayarb's translated errors (an unknown outcome of a
    create is ``AmbiguousOrderError``); a lookup of an id the venue does not know returns None."""

    def __init__(self, venue: str, exchange: Any, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.venue = venue
        self.exchange = exchange
        self.timeout_s = timeout_s

    async def submit_order(self, command: SubmitOrder) -> OrderSnapshot:
        with ccxt_errors(self.venue, client_order_id=command.client_order_id, creating_order=True,
                         client=self.exchange):
            async with asyncio.timeout(self.timeout_s):
                raw = await create_spot_order(self.exchange, command.symbol, command.order_type, command.side,
                                              command.amount, command.price, command.time_in_force,
                                              command.client_order_id)
        if answers_ids_only(raw):  # acknowledged with ids only (OKX): the outcome and fills come from a lookup
            return await settle_acknowledged_order(self.exchange, self.venue, command.symbol, command.client_order_id,
                                                   timeout_s=self.timeout_s)
        return order_snapshot_from_ccxt(self.venue, raw, client_order_id=command.client_order_id)

    async def query_order(self, command: QueryOrder) -> OrderSnapshot | None:
        order = await fetch_order_by_client_id(self.exchange, command.symbol, command.client_order_id,
                                               timeout_s=self.timeout_s)
        if order is None:
            return None
        return order_snapshot_from_ccxt(self.venue, order, client_order_id=command.client_order_id)

    async def cancel_order(self, command: CancelOrder) -> OrderSnapshot:
        with ccxt_errors(self.venue, client_order_id=command.client_order_id, client=self.exchange):
            async with asyncio.timeout(self.timeout_s):
                raw = await self.exchange.cancel_order(None, command.symbol, {"clientOrderId": command.client_order_id})
        if answers_ids_only(raw):  # a cancel answered with ids only (OKX): the order as the venue now has it
            return await settle_acknowledged_order(self.exchange, self.venue, command.symbol, command.client_order_id,
                                                   timeout_s=self.timeout_s)
        return order_snapshot_from_ccxt(self.venue, raw, client_order_id=command.client_order_id)


class CcxtArbitrageIO:
    """``ArbitrageIO`` over ccxt async exchanges keyed by venue name (``{"alpha": exchange, ...}``)."""

    def __init__(self, exchanges: Mapping[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S, book_limit: int = 20,
                 max_book_age_s: float = 5.0) -> None:
        self.exchanges = dict(exchanges)
        self.timeout_s = timeout_s
        self.book_limit = book_limit
        self.max_book_age_s = max_book_age_s
        self._asked: dict[str, dict[str, Any]] = {}  # client order id -> what its submit asked (to check answers)
        self.reply_mismatches: dict[str, int] = {}  # answers not believed, by field (execution.replies.FIELDS)

    def _checked(self, snapshot: OrderSnapshot, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot:
        """``snapshot`` when it matches the order it answers; otherwise the mismatch is logged, counted and raised as
        ``UntrustedReply`` (the order's outcome is then unknown: the executor looks it up by client order id)."""
        asked = self._asked.get(client_order_id)
        if asked is None:  # an order this IO did not place: only what the lookup itself names can be checked
            asked = dict(symbol=symbol, side=snapshot.side, amount=snapshot.amount, price=snapshot.price)
        mismatch = reply_mismatch(snapshot, client_order_id=client_order_id, exchange=venue, **asked)
        if mismatch is None:
            return snapshot
        self.reply_mismatches[mismatch.field] = self.reply_mismatches.get(mismatch.field, 0) + 1
        logger.error("%s %s: venue reply not believed: %s", venue, client_order_id, mismatch)
        raise UntrustedReply(mismatch, exchange=venue, client_order_id=client_order_id)

    def _exchange(self, venue: str) -> Any:
        try:
            return self.exchanges[venue]
        except KeyError:
            raise VenueConfigError(f"no exchange connected for venue {venue!r}") from None

    async def submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> OrderSnapshot:
        self._asked[client_order_id] = dict(symbol=symbol, side=side, amount=amount, price=price)
        exchange = self._exchange(venue)
        order = await place_order(
            exchange, symbol, side, amount, price, order_type=OrderType.LIMIT,
            time_in_force=time_in_force, client_order_id=client_order_id, timeout_s=self.timeout_s,
        )
        if answers_ids_only(order):  # acknowledged with ids only (OKX): the outcome and fills come from a lookup
            snapshot = await settle_acknowledged_order(exchange, venue, symbol, client_order_id,
                                                       timeout_s=self.timeout_s)
        else:
            snapshot = order_snapshot_from_ccxt(venue, order, client_order_id=client_order_id)
        try:
            return self._checked(snapshot, venue, symbol, client_order_id)
        except UntrustedReply as untrusted:
            raise AmbiguousOrderError(f"untrusted answer: {untrusted}", exchange=venue,
                                      client_order_id=client_order_id) from None

    async def lookup(self, venue: str, symbol: str, client_order_id: str) -> OrderSnapshot | None:
        order = await fetch_order_by_client_id(self._exchange(venue), symbol, client_order_id, timeout_s=self.timeout_s)
        if order is None:
            return None
        return self._checked(order_snapshot_from_ccxt(venue, order, client_order_id=client_order_id), venue, symbol,
                             client_order_id)

    async def order_book(self, venue: str, symbol: str) -> OrderBook:
        return await fetch_order_book(
            self._exchange(venue), symbol, limit=self.book_limit, max_age_s=self.max_book_age_s, venue=venue,
            timeout_s=self.timeout_s,
        )
