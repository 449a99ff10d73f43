"""Money: the one way a number becomes a ``Decimal``, and the one pair of price and amount errors.

The float rule: a float becomes the ``Decimal`` of its shortest repr, ``Decimal(repr(x))``. ccxt parses a venue's
decimal strings ("100.1") into floats, and a float's shortest repr is that string again, so the Decimal is the
venue's exact number, never the float's binary expansion (``Decimal(100.1)`` would be 100.099999999999994315658...).
NaN and infinities are refused, and so are bools (``True`` is not an amount).

Code that takes money from the outside (a venue's reply, a caller's order) accepts floats by that rule. Code whose
contract is "money is never float" (the arbitrage maths, the position tracker, an order handed to a venue) passes
``floats=False`` and refuses them instead: a float there is a caller's bug.

``InvalidInputError`` is the base of every input refused locally before any I/O (``field``, ``value``, ``reason``);
``OrderValidationError`` and ``ArbitrageInputError`` are its names in the order and arbitrage code.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from execution.error_handler import FatalError

__all__ = ["InvalidInputError", "InvalidPriceError", "InvalidAmountError", "exact", "to_decimal", "price", "amount"]


class InvalidInputError(FatalError, ValueError):
    """An input refused locally before any I/O. ``field`` names the input at fault; nothing was sent."""

    def __init__(self, field: str, value: Any, reason: str) -> None:
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field}={shown}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class InvalidAmountError(InvalidInputError):
    """An amount is not a finite number of the right sign (NaN, infinity, zero where a trade needs one, negative,
    bool, None, not a number, or a float where floats are refused)."""


class InvalidPriceError(InvalidInputError):
    """A price is not a finite positive number, or is missing (or a float where floats are refused)."""


def exact(value: Decimal | float | int | str) -> Decimal:
    """``value`` as a Decimal by the one rule (a float by its shortest repr, a str stripped), unchecked: NaN and
    infinities pass through for the caller to judge. Raises ``decimal.InvalidOperation`` for a non-numeric str and
    ``TypeError`` for anything else, bools included."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is a bool, not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value.strip())
    raise TypeError(f"{type(value).__name__} is not a number")


def to_decimal(value: Any, what: str = "value", *, error: type[InvalidInputError] = InvalidAmountError,
               floats: bool = True) -> Decimal:
    """``value`` as a finite Decimal by the one rule, or ``error(what, value, reason)``. ``floats=False`` refuses
    floats (where money is never float)."""
    number = _number(value, what, error, floats)
    if not number.is_finite():
        raise error(what, value, "is not finite")
    return number


def price(value: Any, what: str = "price", *, floats: bool = True) -> Decimal:
    """A positive finite price, or ``InvalidPriceError``."""
    number = _number(value, what, InvalidPriceError, floats)
    if not number.is_finite() or number <= 0:
        raise InvalidPriceError(what, value, "must be a positive finite number")
    return number


def amount(value: Any, what: str = "amount", *, allow_zero: bool = False, floats: bool = True) -> Decimal:
    """A positive (or, with ``allow_zero``, non-negative) finite amount, or ``InvalidAmountError``."""
    number = _number(value, what, InvalidAmountError, floats)
    if not number.is_finite() or number < 0 or (number == 0 and not allow_zero):
        raise InvalidAmountError(what, value, f"must be a {'non-negative' if allow_zero else 'positive'} finite number")
    return number


def _number(value: Any, what: str, error: type[InvalidInputError], floats: bool) -> Decimal:
    if value is None:
        raise error(what, value, "is missing")
    if isinstance(value, bool):
        raise error(what, value, "must be a number, not a bool")
    if isinstance(value, float) and not floats:
        raise error(what, value, "must be a Decimal, int or str, not float: money is never float")
    try:
        return exact(value)
    except InvalidOperation:
        raise error(what, value, "is not a number") from None
    except TypeError:
        raise error(what, value, f"must be a Decimal, int or numeric str, not {type(value).__name__}") from None
