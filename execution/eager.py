"""Starting a call at once: ``start_now`` begins an order's request before its caller awaits anything.

The order manager and the arbitrage legs use it so that a request is written (in the kernel) when the call returns,
not on the event loop's next turn.
"""
from __future__ import annotations

from typing import Any, Awaitable


def start_now(owner: Any, eager: str, lazy: str, *args: Any) -> Awaitable[Any]:
    """Begin a call now when ``owner``'s class declares the plain method ``eager`` (it starts the work, e.g. writes a
    request, before returning an awaitable answer), otherwise the coroutine ``owner.<lazy>(*args)``, which starts when
    awaited. An error raised while starting comes out of the awaitable, so the awaiting code classifies it like any
    other. (The class, not the instance: a test double's ``__getattr__`` must not pass for ``eager``.)"""
    start = getattr(type(owner), eager, None)
    if start is None:
        return getattr(owner, lazy)(*args)
    try:
        return start(owner, *args)
    except Exception as error:
        return _raising(error)


async def _raising(error: BaseException) -> Any:
    raise error
