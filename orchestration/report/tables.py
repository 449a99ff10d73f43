"""The run report as text tables (``rayarb report RUN_DIR``): overview, venues, latency, orders and fills, built
with pandas from the files ``orchestration.report.files`` reads back."""
from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from orchestration.report.files import FILL_COLUMNS, ORDER_COLUMNS, load_run_report
from orchestration.report.shown import shown_ms, shown_money


def _table(title: str, frame: Any) -> str:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 30, "display.max_colwidth", 60):
        body = "(none)" if frame.empty else frame.to_string()
    return f"{title}\n{'-' * len(title)}\n{body}\n"


def _balance_check(check: Any) -> str:
    """Whether every venue's balance moved exactly as the fills say; each difference named by venue and asset."""
    if not isinstance(check, dict) or not check.get("checked"):
        return "not checked"
    differences = check.get("differences") or {}
    if not differences:
        return "agree exactly"
    return "DIFFER: " + "; ".join(f"{where.replace(':', ' ')} {amount} (moved without a fill)"
                                  for where, amount in sorted(differences.items()))


def format_report(run_dir: str | os.PathLike[str]) -> str:
    """The report of a run as text tables (pandas): overview, venues, latency, orders and fills."""
    import pandas as pd

    loaded = load_run_report(run_dir)
    report = loaded.report
    pnl = report.get("pnl") or {}
    currency = pnl.get("currency") or ""
    latency = (report.get("latency") or {}).get("tick_to_order") or {}
    overview = pd.DataFrame(
        [
            ("mode", report.get("mode")),
            ("duration (s)", report.get("duration_s")),
            ("symbols", ", ".join(report.get("symbols") or [])),
            ("opportunities detected", report.get("opportunities_detected")),
            ("opportunities taken", report.get("opportunities_taken")),
            ("orders", (report.get("orders") or {}).get("count")),
            ("fills", (report.get("fills") or {}).get("count")),
            ("one-legged outcomes", report.get("one_legged")),
            ("kill switch", report.get("kill_switch") or "off"),  # why trading stopped, if it did
            ("balances vs fills", _balance_check(report.get("balance_check"))),
            (f"PnL total {currency}".rstrip(), shown_money(pnl.get("total"), currency)),
        ],
        columns=["item", "value"],
    ).set_index("item")
    overview.index.name = None

    venue_names = sorted(set(report.get("venues") or {}) | set(pnl.get("per_venue") or {})
                         | set(report.get("positions") or {}))
    assets = sorted({asset for positions in (report.get("positions") or {}).values() for asset in positions})
    venue_rows = []
    for name in venue_names:
        info = (report.get("venues") or {}).get(name) or {}
        row = {"venue": name, "exchange": info.get("exchange") or "", "url": info.get("url") or "",
               f"pnl {currency}".rstrip(): shown_money((pnl.get("per_venue") or {}).get(name), currency)}
        for asset in assets:
            row[asset] = ((report.get("positions") or {}).get(name) or {}).get(asset, "")
        venue_rows.append(row)
    venues = pd.DataFrame(venue_rows).set_index("venue") if venue_rows else pd.DataFrame()

    latency_frame = pd.DataFrame(
        [{key: (latency.get(key) if key == "count"
                else shown_ms(None if latency.get(key) is None else latency[key] * 1000))
          for key in ("count", "min", "p50", "p90", "p99", "max", "mean")}],
        index=["tick-to-order (ms)"])

    orders = pd.DataFrame(loaded.orders, columns=list(ORDER_COLUMNS))
    if orders.empty:
        order_table = pd.DataFrame()
    else:
        order_table = pd.crosstab([orders["exchange"], orders["symbol"]], orders["status"].fillna("?"),
                                  margins=True, margins_name="total")

    fills = pd.DataFrame(loaded.fills, columns=list(FILL_COLUMNS))
    if fills.empty:
        fill_table = pd.DataFrame()
    else:
        fills["notional"] = [p * a for p, a in zip(fills["price"], fills["amount"])]
        fill_table = fills.groupby(["exchange", "symbol", "side"]).agg(
            fills=("trade_id", "count"),
            amount=("amount", lambda s: sum(s, Decimal(0))),
            notional=("notional", lambda s: sum(s, Decimal(0))),
        )
        fees = fills.groupby(["exchange", "symbol", "side", "fee_asset"])["fee"].apply(lambda s: sum(s, Decimal(0)))
        fee_text = fees.reset_index().groupby(["exchange", "symbol", "side"]).apply(
            lambda g: ", ".join(f"{fee} {asset}" for fee, asset in zip(g["fee"], g["fee_asset"])),
            include_groups=False)
        fill_table["fees"] = fee_text

    parts = [
        f"rayarb run report: {loaded.run_dir}\n",
        _table("Overview", overview),
        _table("Venues (PnL and net position change)", venues),
        _table("Latency", latency_frame),
        _table("Orders by venue, symbol and status", order_table),
        _table("Fills by venue, symbol and side", fill_table),
    ]
    return "\n".join(parts)
