"""How the report's tables and the live status print amounts: money rounded to its currency's precision, milliseconds
with three decimals. report.json keeps every amount exact; only what is printed is rounded."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

# Decimal places a currency's amounts are shown with: crypto assets (USDT included) carry 8 at Binance and OKX.
MONEY_DECIMALS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0}
DEFAULT_MONEY_DECIMALS = 8


def shown_money(amount: Any, currency: str | None) -> Decimal | str:
    """``amount`` rounded (half to even) to ``currency``'s precision when it has more places; as given otherwise."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    places = MONEY_DECIMALS.get((currency or "").upper(), DEFAULT_MONEY_DECIMALS)
    if value.is_finite() and value.as_tuple().exponent < -places:
        return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return value


def shown_ms(value: Any) -> str:
    """Milliseconds with three decimals, or "-" for none."""
    return "-" if value is None else f"{float(value):.3f}"
