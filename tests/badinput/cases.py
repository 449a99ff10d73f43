"""The bad-input campaign's cases, and RELIABILITY.md's "Bad input" table written from them.

Each test module of ``tests/badinput`` declares ``AREA`` (what is given bad input) and ``CASES``: one ``Case`` per row
(its id, the input in a few words, the exact error text the operator or caller reads), with the test's own data in
``data``. The table in RELIABILITY.md is generated from those lists (``make badinput-table``, i.e.
``python -m tests.badinput.cases``) and ``test_table.py`` fails when the file and the cases differ, so the published
table cannot drift from what the tests assert.

Placeholders in ``error``: ``<F>`` the config file, ``<D>`` the test's directory; the tests substitute them.
"""
from __future__ import annotations

import importlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RELIABILITY = REPO / "RELIABILITY.md"
MODULES = ("tests.badinput.test_config", "tests.badinput.test_cli", "tests.badinput.test_api",
           "tests.badinput.test_replies", "tests.badinput.test_balance")
BEGIN = "<!-- bad-input table: generated from tests/badinput by `make badinput-table`; edit the cases, not this -->"
END = "<!-- end of the bad-input table -->"
SECTION = "## Bad input"


@dataclass(frozen=True)
class Case:
    """One bad input: ``id`` names it, ``input`` says what was given, ``error`` is the exact text it must produce."""

    id: str
    input: str
    error: str
    data: Any = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        return self.id

    def expected(self, **values: str) -> str:
        text = self.error
        for name, value in values.items():
            text = text.replace(f"<{name}>", value)
        return text


def collect() -> list[tuple[str, list[Case]]]:
    """(area, cases) of every module, in the table's order."""
    areas = []
    for name in MODULES:
        module = importlib.import_module(name)
        areas.append((module.AREA, list(module.CASES)))
    return areas


def _cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`{text}`" if "`" not in text else text


def table() -> str:
    areas = collect()
    total = sum(len(cases) for _, cases in areas)
    lines = [BEGIN, "",
             f"{total} cases, each a test in `tests/badinput/` (`.venv/bin/pytest tests/badinput -q`). Each asserts the "
             "exact error text below, no traceback, nothing sent to any venue (the simulator's `/_sim/orders`) "
             "and nothing half-written (no run directory or journal left behind, the config file untouched); the "
             "venue-reply cases go through real ccxt against a real simulator venue of each dialect. In the error texts "
             "`<F>` is the config file, `<D>` the directory the case ran in, `<N>` a number, `<URL>` the venue's url, "
             "`<*>` any text.", ""]
    for area, cases in areas:
        lines += [f"### {area} ({len(cases)})", "", "| case | input | error |", "|---|---|---|"]
        lines += [f"| {c.id} | {_cell(c.input)} | {_cell(c.error)} |" for c in cases]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def section_of(text: str) -> str | None:
    """The generated part of RELIABILITY.md, or None when it has none."""
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN):text.index(END) + len(END)]


def write(path: Path = RELIABILITY) -> None:
    """Put the table in ``path``'s "Bad input" section (the file and the section are made when missing)."""
    generated = table()
    text = path.read_text(encoding="utf-8") if path.exists() else "# Reliability\n"
    current = section_of(text)
    if current is not None:
        text = text.replace(current, generated)
    elif SECTION in text:
        head, _, tail = text.partition(SECTION)
        tail = re.sub(r"\A\s*<!--.*?-->\s*", "\n", tail, flags=re.S)  # a placeholder left for the table
        text = f"{head}{SECTION}\n\n{generated}\n{tail.lstrip(chr(10))}" if tail.strip() else \
            f"{head}{SECTION}\n\n{generated}\n"
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{generated}\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else RELIABILITY)
    print(f"wrote the bad-input table ({sum(len(c) for _, c in collect())} cases) to "
          f"{sys.argv[1] if len(sys.argv) > 1 else RELIABILITY}")
