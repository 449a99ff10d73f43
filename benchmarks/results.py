"""``benchmarks/results.json``: every figure a benchmark measured, with its unit, the command that measured it, when, on
what machine and at what code version; and the tables at the top of BENCHMARKS.md, made from it.

Each benchmark calls ``record(key, title, command, figures)`` once at its end; the key (``"tick_to_order.3x2"``)
replaces that benchmark's previous entry and leaves the others. ``python -m benchmarks.results`` (run by ``make
bench`` after the benchmarks) rewrites the part of BENCHMARKS.md between the two ``results`` markers from the file, so
the document shows what the file holds and nothing else.

A figure is ``Figure(name, value, unit)``, optionally with ``baseline`` (the same measure of the alternative it is set
beside: the ratio column is value / baseline) and ``target`` (what the figure should meet, as text: ``"<= 1.3x"``).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
DOCUMENT = ROOT / "BENCHMARKS.md"
BEGIN = "<!-- results:begin (made by python -m benchmarks.results from benchmarks/results.json; do not edit) -->"
END = "<!-- results:end -->"
# The 1-minute load average when the benchmark started (this module is imported at its start): what else was running.
# Taken when its figures are recorded, it would be the benchmark's own load.
LOAD_AT_START = round(os.getloadavg()[0], 2)


@dataclass(frozen=True)
class Figure:
    name: str
    value: float | int | None
    unit: str
    baseline: float | int | None = None
    target: str | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, memory, Python and the libraries on the hot path."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    versions = {}
    for module in ("ccxt", "ray", "aiohttp", "uvloop", "msgspec"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # an absent library is simply not listed
            continue
    return {"cores": os.cpu_count(), "cpu": model, "memory_gib": memory_gib, "python": platform.python_version(),
            "load_average_1m": LOAD_AT_START, "load_average_at": "start", **versions}


def code_version() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load(path: Path = RESULTS) -> dict[str, Any]:
    if not path.exists():
        return {"benchmarks": {}}
    return json.loads(path.read_text())


def record(key: str, title: str, command: str, figures: list[Figure], *, notes: str = "",
           path: Path = RESULTS) -> dict[str, Any]:
    """Store one benchmark's figures under ``key`` (replacing its previous entry) and return the entry."""
    entry = {
        "title": title,
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "code_version": code_version(),
        "notes": notes,
        "figures": [{k: v for k, v in {**asdict(f), "ratio": _rounded(f.ratio)}.items() if v is not None}
                    for f in figures],
    }
    results = load(path)
    results["benchmarks"][key] = entry
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return entry


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# The order a reader wants them in: the comparison with the alternative first, then what each part carries.
SHOWN_FIRST = ("side_by_side", "ingest", "order_pipeline", "recovery", "scale_out", "resources", "profile",
               "venue_orders", "journal")


def _shown_order(key: str) -> tuple[int, str]:
    family = key.split(".", 1)[0]
    return (SHOWN_FIRST.index(family) if family in SHOWN_FIRST else len(SHOWN_FIRST), key)


def render(results: dict[str, Any]) -> str:
    """The tables of every benchmark in ``results`` as Markdown, the side-by-side comparison first (``SHOWN_FIRST``),
    any other in key order after them."""
    parts = []
    for key in sorted(results["benchmarks"], key=_shown_order):
        entry = results["benchmarks"][key]
        m = entry["machine"]
        parts.append(f"### {entry['title']}\n")
        parts.append(f"    {entry['command']}\n")
        parts.append(f"Measured {entry['date'][:10]} at `{entry['code_version']}` on {m.get('cores')} cores "
                     f"({m.get('cpu') or 'unknown CPU'}), load average {m.get('load_average_1m')} "
                     f"{'at start' if m.get('load_average_at') == 'start' else 'at the end (its own load included)'}"
                     ".\n")
        if entry.get("notes"):
            parts.append(entry["notes"].strip() + "\n")
        with_baseline = any("baseline" in f for f in entry["figures"])
        with_target = any("target" in f for f in entry["figures"])
        header = ["figure", "value", "unit"] + (["baseline", "ratio"] if with_baseline else []) + (
            ["target"] if with_target else [])
        rows = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in
                                                                 range(len(header))) + "|"]
        for f in entry["figures"]:
            cells = [f["name"], _shown(f.get("value")), f["unit"]]
            if with_baseline:
                cells += [_shown(f.get("baseline")), "-" if f.get("ratio") is None else f"{f['ratio']:.2f}x"]
            if with_target:
                cells.append(f.get("target") or "")
            rows.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(rows) + "\n")
    return "\n".join(parts)


def update_document(results_path: Path = RESULTS, document: Path = DOCUMENT) -> None:
    """Rewrite the generated part of BENCHMARKS.md (between the markers) from ``results_path``."""
    text = document.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{document}: the markers of the generated tables are missing ({BEGIN!r} ... {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    document.write_text(head + BEGIN + "\n\n" + render(load(results_path)) + "\n" + END + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description="Rewrite BENCHMARKS.md's tables from benchmarks/results.json")
    parser.parse_args()
    update_document()


if __name__ == "__main__":
    main()
