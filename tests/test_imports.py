"""Where the heavy libraries may be imported. Only ``execution/api`` imports ccxt, and only on first use: Ray imports
an actor's module in every process that makes a handle to that actor, so a process that only calls the exchange
actors or the order manager (the detector, the tracker, the supervisor, a driver) must not load every ccxt exchange
class by importing their modules. ``execution/`` is pure domain logic: no Ray, no Prometheus client."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("execution", "actors", "orchestration", "simulator", "metrics")
ACTOR_MODULES = ("actors.exchange", "actors.order_manager", "actors.detector", "actors.position_tracker",
                 "actors.supervisor", "orchestration.main_job")


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def sources() -> list[Path]:
    return [p for package in PACKAGES if (REPO / package).is_dir() for p in sorted((REPO / package).rglob("*.py"))]


def test_only_execution_api_imports_ccxt_and_execution_imports_no_ray_or_prometheus():
    assert len(sources()) > 50  # the scan reads the project
    wrong = []
    for path in sources():
        where = path.relative_to(REPO).as_posix()
        tops = {name.split(".")[0] for name in imported_modules(path)}
        if "ccxt" in tops and not where.startswith("execution/api/"):
            wrong.append(f"{where} imports ccxt")
        if where.startswith("execution/") and tops & {"ray", "prometheus_client"}:
            wrong.append(f"{where} imports {', '.join(sorted(tops & {'ray', 'prometheus_client'}))}")
    assert wrong == []


def test_importing_the_actors_modules_loads_neither_ccxt_nor_aiohttp():
    """aiohttp (ccxt's async transport, rayarb's order entry) is the exchange actor's alone: the order manager and the
    detector import ``actors.exchange`` to make their handles while they restart (~0.1-0.2 s under load)."""
    code = (f"import sys\nfor name in {ACTOR_MODULES!r}:\n    __import__(name)\n"
            "print(sorted(m for m, module in sys.modules.items() if m.split('.')[0] in ('ccxt', 'aiohttp')\n"
            "             and type(module).__name__ != 'LeanPackage'))")  # execution/api/lean_ccxt.py: nothing loaded
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_the_order_manager_and_a_built_exchange_load_ccxt_when_they_need_it():
    code = ("import sys\nfrom execution.api import load_ccxt_in_background\nthread = load_ccxt_in_background()\n"
            "thread.join(60)\nloaded = 'ccxt.base.errors' in sys.modules and not thread.is_alive()\n"
            "from execution.api.venue import make_exchange\n"
            "exchange = make_exchange('binance', url='http://127.0.0.1:9', flavour='pro')\n"
            "print(loaded, 'ccxt.pro' in sys.modules, type(exchange).__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "True", "ccxt.pro.binance"]
