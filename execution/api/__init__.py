"""The one package that talks to ccxt (the rest of rayarb must not import it).

Its modules import ccxt when first used, not when imported: importing ccxt loads every exchange class it has (~0.5-1 s
of CPU), and Ray imports an actor's module in every process that makes a handle to that actor, so the detector, the
position tracker and the supervisor, which only call the exchange actors and the order manager, would pay for it on
every start and restart. A process that will use ccxt calls ``load_ccxt`` while it starts, so its first order does
not pay for the import either. And ccxt is imported through ``lean_ccxt``'s packages, installed here, so that a
process loads only the exchanges it builds (half the import's time and memory), not all of them.
"""
from __future__ import annotations

import threading

from execution.api import lean_ccxt

lean_ccxt.install()


def load_ccxt() -> None:
    """Import ccxt's base now (its errors, precision helpers and exchange), in a process that will check orders with
    its precision helpers or translate its errors."""
    import ccxt.base  # noqa: F401


def load_ccxt_in_background() -> threading.Thread:
    """Start importing ccxt on a thread of its own, for a process that waits on its peers while it starts; ``join``
    the thread, then call ``load_ccxt`` (at once if the import succeeded; raising its error if it did not) before the
    first use."""
    thread = threading.Thread(target=load_ccxt, name="ccxt-import", daemon=True)
    thread.start()
    return thread
