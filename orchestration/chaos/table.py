"""The figures of a ``rayarb chaos`` campaign as rich tables: faults by kind, the run's counts, every invariant with
its violations, recovery times."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def render(figures: dict[str, Any], violations: dict[str, list[str]], console: Console | None = None) -> None:
    console = console or Console()
    faults = Table(title=f"faults ({figures['faults']} of {figures['fault_kinds']} kinds, seed {figures['seed']})")
    faults.add_column("kind")
    faults.add_column("count", justify="right")
    for kind, count in figures["faults_by_kind"].items():
        faults.add_row(kind, str(count))
    console.print(faults)

    recovery = figures["recovery_s"]
    counts = Table(title="the run")
    counts.add_column("figure")
    counts.add_column("value", justify="right")
    for label, value in (("arbitrage attempts", figures["attempts"]), ("orders at the venues", figures["orders"]),
                         ("fills at the venues", figures["fills"]), ("duplicates", figures["duplicates"]),
                         ("untracked venue orders", figures["untracked"]),
                         ("balance mismatches", figures["balance_mismatches"]),
                         ("max net residual", figures["max_residual"]),
                         ("recovery p50 (s)", _seconds(recovery["p50"])), ("recovery max (s)", _seconds(recovery["max"])),
                         ("max opportunities in flight", figures["max_in_flight"]),
                         ("faults not completed", len(figures["faults_not_completed"]))):
        counts.add_row(label, str(value))
    load = figures.get("load")
    if load:
        counts.add_row(f"books/s taken in ({load['symbols']} symbols at {load['update_hz']:g} Hz asked)",
                       str(load["books_per_s"]))
    rss = figures.get("max_rss_mib") or {}
    if rss:
        counts.add_row("largest actor RSS (MiB)", f"{max(rss.values()):.0f}")
    console.print(counts)

    checks = Table(title="invariants")
    checks.add_column("invariant")
    checks.add_column("violations", justify="right")
    checks.add_column("first")
    for name, lines in violations.items():
        checks.add_row(name, str(len(lines)), lines[0] if lines else "", style="red" if lines else None)
    console.print(checks)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
