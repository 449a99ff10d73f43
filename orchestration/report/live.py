"""The live status of a running run: counters, each venue's book age and the kill switch (``LiveStatus``), and how
it is shown (``StatusDisplay``): a block a terminal redraws in place (rich), or one line per interval for a log or a
pipe."""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping

from orchestration.report.shown import shown_ms, shown_money


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """A snapshot of a running run, rendered as the terminal status block."""

    uptime_s: float
    mode: str
    book_age_ms: Mapping[str, float | None] = field(default_factory=dict)  # venue -> age of its freshest book
    opportunities_detected: int = 0
    opportunities_taken: int = 0
    orders: int = 0
    fills: int = 0
    one_legged: int = 0
    pnl_total: Decimal = Decimal(0)
    pnl_currency: str = "USDT"
    tick_to_order_p50_ms: float | None = None
    tick_to_order_p99_ms: float | None = None
    max_book_age_ms: float | None = None  # books older than this are marked stale
    kill_switch: str | None = None  # why the kill switch tripped, if it did

    def render(self) -> str:
        """Two or three compact lines: counters, venues with book age, and the kill switch when tripped (a terminal
        redraws them in place)."""
        return "\n".join(self._lines())

    def render_line(self) -> str:
        """The same as one line, for a log or a pipe: one line per interval."""
        return " | ".join(self._lines())

    def _lines(self) -> list[str]:
        seconds = int(self.uptime_s)
        uptime = f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        pnl_total = shown_money(self.pnl_total, self.pnl_currency)
        pnl = f"{'+' if pnl_total >= 0 else ''}{pnl_total}"
        lines = [
            f"rayarb {self.mode} up {uptime} | opps {self.opportunities_detected} detected / "
            f"{self.opportunities_taken} taken | orders {self.orders} fills {self.fills} "
            f"one-legged {self.one_legged} | PnL {pnl} {self.pnl_currency}",
        ]
        venues = []
        for venue, age in sorted(self.book_age_ms.items()):
            if age is None:
                venues.append(f"{venue} no book")
            elif self.max_book_age_ms is not None and age > self.max_book_age_ms:
                venues.append(f"{venue} STALE {age:.0f}ms")
            else:
                venues.append(f"{venue} {age:.0f}ms")
        lines.append(f"books: {'  '.join(venues) or '-'} | tick->order p50 {shown_ms(self.tick_to_order_p50_ms)}ms "
                     f"p99 {shown_ms(self.tick_to_order_p99_ms)}ms")
        if self.kill_switch:
            lines.append(f"KILL SWITCH: {self.kill_switch}")
        return lines


class StatusDisplay:
    """Shows a ``LiveStatus`` once per interval on ``stream``: on a terminal the block is redrawn in place (rich's
    ``Live``); anywhere else (a log, a pipe) each status is one line."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._live: Any = None  # the redrawn block, on a terminal, once shown

    def show(self, status: LiveStatus) -> None:
        if self._live is None and _is_terminal(self.stream):
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), auto_refresh=False, transient=False)
            self._live.start()
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(status.render()), refresh=True)
        else:
            print(status.render_line(), file=self.stream, flush=True)

    def close(self) -> None:
        """Leave the last block on screen; what is printed next goes below it."""
        if self._live is not None:
            self._live.stop()
            self._live = None


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
