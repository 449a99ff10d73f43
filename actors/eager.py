"""Starting a coroutine on the caller's stack: its first step runs now, the rest as a task.

An order leg arrives at the exchange actor inside the channel's ``data_received``. As a task, its placing would begin
on the loop's next turn, behind whatever else that turn runs (book messages read in the same poll, their parsing);
started here, the request is built, signed and written before the callback returns, and only the wait for the answer
is left to a task. This is what Python 3.12's eager tasks do (``asyncio.eager_task_factory``); on 3.11 it is done by
hand, stepping the coroutine the way ``asyncio.Task`` does.
"""
from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start_eagerly(coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
    """Run ``coro`` up to its first suspension now, in a context of its own (as a task would). Returns an awaitable of
    its result: a finished future when it never suspended, else the task that carries it on."""
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    try:
        awaiting = context.run(coro.send, None)
    except StopIteration as done:
        finished = loop.create_future()
        finished.set_result(done.value)
        return finished
    except Exception as exc:
        failed = loop.create_future()
        failed.set_exception(exc)
        return failed
    return loop.create_task(_carry_on(coro, awaiting), context=context)


async def _carry_on(coro: Coroutine[Any, Any, T], awaiting: Any) -> T:
    """Resume ``coro`` each time what it waits on is done, as ``asyncio.Task`` would; a cancellation of this task
    reaches ``coro`` as it would reach a task's coroutine."""
    while True:
        thrown: BaseException | None = None
        try:
            if awaiting is None:  # a bare yield (asyncio.sleep(0)): give the loop one turn
                await asyncio.sleep(0)
            elif asyncio.isfuture(awaiting):
                awaiting._asyncio_future_blocking = False  # taken over from the coroutine, as Task does
                await awaiting  # the coroutine reads its result or exception itself when resumed
            else:
                thrown = RuntimeError(f"coroutine yielded {awaiting!r}, not a future")  # as Task says
        except asyncio.CancelledError as cancel:
            # this task was cancelled, and the future it waited on with it: the coroutine sees that when resumed;
            # if that future had finished first, the cancellation is thrown in, as Task does
            if awaiting is None or not awaiting.cancelled():
                thrown = cancel
        except Exception:
            pass
        try:
            awaiting = coro.send(None) if thrown is None else coro.throw(thrown)
        except StopIteration as done:
            return done.value
