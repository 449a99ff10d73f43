"""Validation before anything is sent: an order request checked against the venue's ``MarketRules`` and the free
balance less what in-flight orders need, refused with a specific ``OrderValidationError`` naming the field (the price
and amount errors are ``execution.money``'s). ``round_to_market`` rounds deliberately for callers who want it.

``OrderValidation`` is the part of ``OrderManager`` that validates (a mixin: it reads the manager's rules, balances,
open orders and journal)."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from execution import money
from execution.api.precision import is_on_step, is_on_tick, passive_price, round_price, truncate_amount
from execution.money import InvalidInputError, InvalidPriceError
from execution.orders.ids import is_valid_client_order_id
from execution.orders.lifecycle import S
from execution.types import ZERO, MarketRules, OrderType, Side, TimeInForce

OrderValidationError = InvalidInputError  # an order refused locally before any I/O; ``field`` names the input


class UnknownSymbolError(OrderValidationError):
    """The symbol has no market rules at this venue."""


class InvalidSideError(OrderValidationError):
    """Side is not buy or sell."""


class InvalidOrderTypeError(OrderValidationError):
    """Order type is not one rayarb places (limit, market)."""


class InvalidTimeInForceError(OrderValidationError):
    """Time in force is not GTC, IOC or FOK."""


class PriceOutOfRangeError(OrderValidationError):
    """Price outside the venue's min/max price."""


class OffTickPriceError(OrderValidationError):
    """Price not on the tick grid. Use ``round_to_market`` to round it deliberately."""


class OffStepAmountError(OrderValidationError):
    """Amount not on the lot step. Use ``round_to_market`` to truncate it deliberately."""


class BelowMinimumError(OrderValidationError):
    """Amount below the venue's minimum amount."""


class AboveMaximumError(OrderValidationError):
    """Amount above the venue's maximum amount."""


class BelowMinNotionalError(BelowMinimumError):
    """amount * price below the venue's minimum notional."""


class InsufficientBalanceError(OrderValidationError):
    """Free balance (less what in-flight orders need) cannot pay for the order: quote for a buy, base for a sell."""


class InvalidClientOrderIdError(OrderValidationError):
    """A given client order id is not valid for the venue (1-36 chars of [.A-Z:/a-z0-9_-])."""


class DuplicateClientOrderIdError(OrderValidationError):
    """A given client order id is already used by an order of this manager or its journal."""


def round_to_market(rules: MarketRules, side: Side, amount: Decimal, price: Decimal, *,
                    passive: bool = True) -> tuple[Decimal, Decimal]:
    """(amount, price) on the venue's grid with ccxt's helpers: amount truncated to the step; price moved to the tick
    never worse for us (down for a buy, up for a sell) when ``passive``, else to the nearest tick."""
    rounded_price = passive_price(rules, side, price) if passive else round_price(rules, price)
    return truncate_amount(rules, amount), rounded_price


@dataclass(frozen=True, slots=True)
class ValidOrder:
    """An order request that passed validation, normalized."""

    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    amount: Decimal
    price: Decimal
    rules: MarketRules


_IN_FLIGHT = frozenset({S.INITIALIZED, S.SUBMITTED, S.UNKNOWN})  # not yet reflected in the venue's free balance


def _to_enum(value: Any, enum: type, field_name: str, error: type[OrderValidationError]) -> Any:
    if isinstance(value, enum):
        return value
    if isinstance(value, str):
        for member in enum:
            if value.strip().lower() == str(member.value).lower():
                return member
    raise error(field_name, value, f"must be one of {[m.value for m in enum]}")


class OrderValidation:
    """``OrderManager``'s checks of an order request (see the module docstring). Reads the manager's ``exchange``,
    ``_rules``, ``_balances``, ``_open``, ``_journal`` and ``_held``."""

    def free_balance(self, asset: str) -> Decimal:
        balances = self._balances() if callable(self._balances) else self._balances
        return Decimal(balances.get(asset, ZERO))

    def reserved_balance(self, asset: str) -> Decimal:
        """What this manager's in-flight orders need of ``asset`` that the venue's free balance may not show yet."""
        reserved = ZERO
        for order in self._open.values():
            if order.status not in _IN_FLIGHT:
                continue
            rules = self._rules.get(order.symbol)
            if rules is None:
                continue
            if order.side is Side.BUY and rules.quote == asset and order.price is not None:
                reserved += order.amount * order.price * (1 + rules.taker_fee)
            elif order.side is Side.SELL and rules.base == asset:
                reserved += order.amount
        return reserved

    def validate_order(self, symbol: Any, side: Any, amount: Any, price: Any, order_type: Any = OrderType.LIMIT,
                       time_in_force: Any = TimeInForce.GTC, client_order_id: Any = None, *,
                       look_in_journal: bool = True) -> ValidOrder:
        """Check an order request; raise the specific ``OrderValidationError`` for the first problem found.
        ``look_in_journal=False`` leaves a client order id used by an order no longer in memory to the journal's
        write (``start_order``: the journal refuses it, nothing written) instead of a lookup here."""
        side = _to_enum(side, Side, "side", InvalidSideError)
        order_type = _to_enum(order_type, OrderType, "order_type", InvalidOrderTypeError)
        time_in_force = _to_enum(time_in_force, TimeInForce, "time_in_force", InvalidTimeInForceError)
        if not isinstance(symbol, str) or symbol not in self._rules:
            raise UnknownSymbolError("symbol", symbol, f"no market rules for it at {self.exchange}")
        rules = self._rules[symbol]
        amount = money.amount(amount, "amount")
        if price is None and order_type is OrderType.MARKET:
            raise InvalidPriceError("price", price, "a market order needs a reference price for notional and balance")
        price = money.price(price, "price")
        if rules.min_price is not None and rules.min_price > 0 and price < rules.min_price:
            raise PriceOutOfRangeError("price", price, f"below the minimum price {rules.min_price}")
        if rules.max_price is not None and rules.max_price > 0 and price > rules.max_price:
            raise PriceOutOfRangeError("price", price, f"above the maximum price {rules.max_price}")
        if order_type is OrderType.LIMIT and not is_on_tick(rules, price):
            raise OffTickPriceError("price", price, f"not a multiple of the tick {rules.price_tick}")
        if not is_on_step(rules, amount):
            raise OffStepAmountError("amount", amount, f"not a multiple of the step {rules.amount_step}")
        if amount < rules.min_amount:
            raise BelowMinimumError("amount", amount, f"below the minimum amount {rules.min_amount}")
        if rules.max_amount is not None and rules.max_amount > 0 and amount > rules.max_amount:
            raise AboveMaximumError("amount", amount, f"above the maximum amount {rules.max_amount}")
        notional = amount * price
        if notional < rules.min_notional:
            raise BelowMinNotionalError("notional", notional, f"amount*price below the minimum {rules.min_notional}")
        if side is Side.BUY:
            asset, needed = rules.quote, notional * (1 + rules.taker_fee)
        else:
            asset, needed = rules.base, amount
        available = self.free_balance(asset) - self.reserved_balance(asset)
        if needed > available:
            raise InsufficientBalanceError(f"balance.{asset}", needed, f"needs {needed} {asset}, {available} "
                                                                        f"available (free less in-flight orders)")
        if client_order_id is not None:
            if not is_valid_client_order_id(client_order_id):
                raise InvalidClientOrderIdError("client_order_id", client_order_id,
                                                "must be 1-36 chars of [.A-Z:/a-z0-9_-]")
            if self._held(client_order_id) is not None or (
                    look_in_journal and self._journal.get(client_order_id) is not None):
                raise DuplicateClientOrderIdError("client_order_id", client_order_id, "already used")
        return ValidOrder(symbol=symbol, side=side, order_type=order_type, time_in_force=time_in_force,
                          amount=amount, price=price, rules=rules)
