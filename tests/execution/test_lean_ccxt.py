"""ccxt through ``execution.api.lean_ccxt``: the same classes, names and lists as ccxt's own packages give, with only
the exchanges used loaded. Each side runs in a fresh interpreter: one imports ccxt itself, the other through
``execution.api`` (which installs the lean packages)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IDS = ("binance", "okx", "binanceusdm", "kraken", "bybit")

DESCRIBE = f"""
import hashlib, json, sys
FIRST
import ccxt, ccxt.async_support, ccxt.pro
lean = type(sys.modules["ccxt"]).__name__ == "LeanPackage"
loaded_before = sum(name.startswith("ccxt.") for name in sys.modules)
seen = {{}}
for package in (ccxt, ccxt.async_support, ccxt.pro):
    for exchange_id in {IDS!r}:
        cls = getattr(package, exchange_id)
        described = json.dumps(cls().describe(), sort_keys=True, default=repr)
        seen[f"{{package.__name__}}.{{exchange_id}}"] = [
            [c.__module__ + "." + c.__qualname__ for c in cls.__mro__], hashlib.sha256(described.encode()).hexdigest()]
    seen[package.__name__] = [package.__version__, package.exchanges, package.Exchange.__module__]
seen["names"] = [getattr(ccxt, n).__module__ for n in ("NetworkError", "InsufficientFunds", "Precise")]
seen["constants"] = [ccxt.TRUNCATE, ccxt.ROUND, ccxt.TICK_SIZE, ccxt.async_support.PAD_WITH_ZERO]
seen["missing"] = [hasattr(ccxt.pro, "no_such_exchange"), hasattr(ccxt, "__all_exchanges__")]
import ccxt.pro.binanceusdm as rebound
seen["rebound"] = rebound is ccxt.pro.binanceusdm
print(json.dumps({{"lean": lean, "loaded_before": loaded_before, "seen": seen}}))
"""


def describe(first: str) -> dict:
    out = subprocess.run([sys.executable, "-c", DESCRIBE.replace("FIRST", first)], cwd=REPO, capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_the_lean_packages_give_what_ccxts_own_give_and_load_only_what_is_used():
    own = describe("import ccxt.pro")
    lean = describe("import execution.api")
    assert (own["lean"], lean["lean"]) == (False, True)
    assert lean["seen"] == own["seen"]
    assert len(own["seen"]["ccxt"][1]) > 50  # the lists were read, not left empty
    assert own["seen"]["missing"] == [False, False] and own["seen"]["rebound"] is True
    # ccxt's own packages load every exchange before one is used; the lean ones none
    assert own["loaded_before"] > 250 and lean["loaded_before"] < 10


def test_a_process_that_imported_ccxt_itself_keeps_it():
    code = ("import ccxt, sys\nimport execution.api\nimport ccxt.pro\n"
            "print(type(sys.modules['ccxt']).__name__, type(sys.modules['ccxt.pro']).__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["module", "module"]
