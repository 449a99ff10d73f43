"""Starting a coroutine on the caller's stack: its first step runs now, as its task, and the rest on the loop.

An order leg arrives at the exchange actor inside the channel's ``data_received``. As a plain task its placing would
begin on the loop's next turn, behind whatever else that turn runs (book messages read in the same poll, their
parsing); started eagerly, the request is built, signed and written before the callback returns, and only the wait
for the answer is left to the loop. This is Python 3.12's ``asyncio.Task(..., eager_start=True)``, used there; on 3.11
the first step is taken by hand, with the task made current for it (``asyncio.timeout``, aiohttp and ccxt need a
current task), and a small driver steps the coroutine on from there the way ``asyncio.Task`` does.
"""
from __future__ import annotations

import asyncio
import contextvars
import sys
from asyncio import tasks as _tasks
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def start_eagerly(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
    """Run ``coro`` up to its first suspension now, as the task returned, which carries it on from there."""
    loop = asyncio.get_running_loop()
    if sys.version_info >= (3, 12):
        return asyncio.Task(coro, loop=loop, eager_start=True)
    first: list[Any] = []  # the first step's outcome: ("waits", awaitable) / ("returned", value) / ("raised", exc)
    context = contextvars.copy_context()
    task = loop.create_task(_carry_on(coro, first), context=context)  # its own first step comes a turn later
    outer = _tasks.current_task(loop)  # a task may be running this call: it is current again afterwards
    if outer is not None:
        _tasks._leave_task(loop, outer)
    _tasks._enter_task(loop, task)
    try:
        first.append(context.run(_first_step, coro))
    finally:
        _tasks._leave_task(loop, task)
        if outer is not None:
            _tasks._enter_task(loop, outer)
    task.add_done_callback(lambda _: _close_if_left(coro))
    return task


def _first_step(coro: Coroutine[Any, Any, Any]) -> tuple[str, Any]:
    try:
        return "waits", coro.send(None)
    except StopIteration as done:
        return "returned", done.value
    except BaseException as exc:  # noqa: BLE001 - handed to the task, which raises it to whoever awaits
        return "raised", exc


def _close_if_left(coro: Coroutine[Any, Any, Any]) -> None:
    """A task cancelled before its first turn never reached the coroutine: close it, so its ``finally`` runs now."""
    if coro.cr_frame is not None and not coro.cr_running:
        coro.close()


async def _carry_on(coro: Coroutine[Any, Any, T], first: list[Any]) -> T:
    """Resume ``coro`` each time what it waits on is done, as ``asyncio.Task`` would; a cancellation of this task
    reaches ``coro`` as it would reach a task's coroutine."""
    outcome, awaiting = first[0]
    if outcome == "returned":
        return awaiting
    if outcome == "raised":
        raise awaiting
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
