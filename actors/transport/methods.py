"""The hot path's channel methods and their declared types: what may travel over a channel, and nothing else.

A method's arguments are decoded into exactly these types on the serving side, and its answer into its result type on
the calling side (``wire``). Each serving actor's handler carries the same types in its signature
(tests/actors/test_channel.py checks that they agree).
"""
from __future__ import annotations

from execution.messages import ArbitrageDetected, BookPush, SubmitOrder, SubmitOutcome
from execution.types import Fill, OrderBook

from actors.transport.wire import Interface, Method

HOT_PATH = Interface({
    # exchange actor -> detector, order manager: a book, or the venue's balances
    "on_book": Method((BookPush,), None),
    # detector -> order manager: the opportunity, answered with its outcome ("denied:<reason>", "both_filled", ...)
    "on_opportunity": Method((ArbitrageDetected,), str),
    # order manager -> exchange actor: one leg, and the venue's book for an unwind
    "submit_order": Method((SubmitOrder,), SubmitOutcome),
    "latest_book": Method((str,), OrderBook | None),
    # order manager -> position tracker: fills, answered with how many were new
    "apply_fills": Method((list[Fill],), int),
})
