"""OKX's private WebSocket (``/ws/v5/private``): ``login`` and the ``orders`` channel, as ccxt.pro's ``okx``
``watch_orders`` / ``watch_my_trades`` use them.

Login: ``{"op": "login", "args": [{"apiKey", "passphrase", "timestamp": unix seconds, "sign": base64 HMAC-SHA256 of
timestamp + "GET" + "/users/self/verify"}]}`` -> ``{"event": "login", "code": "0"}``, or an error event: 60005 key,
60024 passphrase, 60004 / 60006 timestamp (malformed / more than 30 s off), 60007 signature. Subscribing to
``orders`` before logging in is 60011.

``orders`` pushes every change of the logged-in account's orders, in order: placed (``live``), each fill
(``partially_filled`` / ``filled`` with ``tradeId``, ``fillSz``, ``fillPx``, ``fillTime``, ``fillFee`` (negative: a
charge) and ``fillFeeCcy``, ``execType``), and the end (``canceled`` for an expired IOC or a cancel). Each push shows
the order as it was at that moment (``accFillSz``, ``avgPx``, ``state``, cumulative ``fee``).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from simulator.core.engine import OrderUpdate
from simulator.okx.engine import OkxEngine, _STATES, num

LOGIN_TOLERANCE_S = 30
VERIFY_PATH = "/users/self/verify"


class LoginError(Exception):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def verify_login(engine: OkxEngine, args: Any, now_ms: int) -> Any:
    """The account a ``login`` op proves, or ``LoginError``."""
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        raise LoginError("60013", "Invalid args")
    arg = args[0]
    api_key, passphrase, timestamp, sign = (arg.get(k) for k in ("apiKey", "passphrase", "timestamp", "sign"))
    if not all(isinstance(v, str) and v for v in (api_key, passphrase, timestamp, sign)):
        raise LoginError("60013", "Invalid args")
    account = engine.account_for_key(api_key) if len(api_key) <= 256 else None
    if account is None:
        raise LoginError("60005", "Invalid OK-ACCESS-KEY")
    expected = engine.passphrases.get(account.name, "")
    if not hmac.compare_digest(passphrase.encode("utf-8", "surrogateescape"), expected.encode()):
        raise LoginError("60024", "Wrong passphrase")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise LoginError("60004", "Invalid timestamp")
    if abs(now_ms // 1000 - int(timestamp)) > LOGIN_TOLERANCE_S:
        raise LoginError("60006", "Timestamp request expired")
    mac = hmac.new(account.secret.encode(), (timestamp + "GET" + VERIFY_PATH).encode(), hashlib.sha256)
    if not hmac.compare_digest(base64.b64encode(mac.digest()), sign.encode("utf-8", "surrogateescape")):
        raise LoginError("60007", "Invalid sign")
    return account


def order_push(engine: OkxEngine, update: OrderUpdate) -> dict[str, Any]:
    """The ``orders`` channel's entry for one order update: the order as it was then, plus the fill it was."""
    order, trade = update.order, update.trade
    view = engine.order_view(order)
    view.update({
        "accFillSz": num(update.executed_qty),
        "avgPx": num(update.cum_quote / update.executed_qty) if update.executed_qty else "",
        "state": _STATES[update.status], "fee": num(-update.fee), "uTime": str(update.update_time),
        "fillSz": "0", "fillPx": "", "tradeId": "", "fillTime": "", "fillFee": "0", "fillFeeCcy": "", "execType": "",
        "fillNotionalUsd": "", "fillPnl": "0", "amendResult": "", "code": "0", "msg": "", "reqId": "",
    })
    if trade is not None:
        is_buyer = trade.buy_order is order
        commission, asset = trade.commission_for(is_buyer)
        view.update({
            "fillSz": num(trade.qty), "fillPx": num(trade.price), "tradeId": str(trade.trade_id),
            "fillTime": str(trade.time), "fillFee": num(-commission), "fillFeeCcy": asset,
            "execType": "M" if is_buyer == trade.buyer_is_maker else "T",
        })
    return view
