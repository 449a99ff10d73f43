"""The seed's module path for the arbitrage code, kept so every existing import keeps working: it only re-exports.

The code lives in ``execution/arbitrage/`` (profit, sizing, legs, unwind, outcome, executor); import from there in
new code.
"""
from __future__ import annotations

from execution.arbitrage.executor import execute_arbitrage, execute_opportunity, start_arbitrage
from execution.arbitrage.legs import (
    TERMINAL_STATUSES,
    ArbitrageIO,
    LegIntent,
    LegPurpose,
    LegResult,
    is_definite_rejection,
    make_client_order_id,
)
from execution.arbitrage.outcome import ArbitrageResult, Outcome, classify, realised_profit
from execution.arbitrage.profit import (
    BPS,
    EXACT,
    ONE,
    ArbitrageInputError,
    AssetFlows,
    Fees,
    InvalidFeeError,
    calculate_asset_flows,
    calculate_profit,
    calculate_profit_for_amount,
    profit_bps,
)
from execution.arbitrage.sizing import Opportunity, common_step, find_opportunity, size_arbitrage, walk_book
from execution.arbitrage.unwind import UnwindPlan, UnwindPolicy, plan_unwind
from execution.money import InvalidAmountError, InvalidPriceError

__all__ = [
    "ArbitrageIO", "ArbitrageInputError", "ArbitrageResult", "AssetFlows", "BPS", "EXACT", "Fees", "InvalidAmountError",
    "InvalidFeeError", "InvalidPriceError", "LegIntent", "LegPurpose", "LegResult", "ONE", "Opportunity", "Outcome",
    "TERMINAL_STATUSES", "UnwindPlan", "UnwindPolicy", "calculate_asset_flows", "calculate_profit",
    "calculate_profit_for_amount", "classify", "common_step", "execute_arbitrage", "execute_opportunity",
    "find_opportunity", "is_definite_rejection", "make_client_order_id", "plan_unwind", "profit_bps",
    "realised_profit", "size_arbitrage", "start_arbitrage", "walk_book",
]
