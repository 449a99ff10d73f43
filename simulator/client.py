"""A client of a simulator venue's control endpoints (``/_sim/...``): faults, and what the venue says about the
account rayarb trades with (orders, trades, balances). Used by ``rayarb chaos``, the benchmarks and the tests."""
from __future__ import annotations

import json
import urllib.request
from decimal import Decimal
from typing import Any

ACCOUNT = "main"
TIMEOUT_S = 10.0


def sim_get(url: str, path: str) -> Any:
    with urllib.request.urlopen(url + path, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


def sim_post(url: str, path: str, body: dict) -> Any:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        return json.loads(response.read())


def account_balances(url: str, account: str = ACCOUNT) -> dict[str, Decimal]:
    """Total (free + locked) per asset of the traded account."""
    raw = sim_get(url, "/_sim/balances")[account]
    return {asset: Decimal(v["free"]) + Decimal(v["locked"]) for asset, v in raw.items()}


def account_orders(url: str, account: str = ACCOUNT) -> list[dict]:
    return [o for o in sim_get(url, "/_sim/orders") if o.get("account") == account]


def account_trades(url: str, account: str = ACCOUNT) -> list[dict]:
    return [t for t in sim_get(url, "/_sim/trades") if account in (t["buyer"], t["seller"])]
