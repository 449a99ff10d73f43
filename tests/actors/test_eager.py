"""actors.eager: a coroutine's first step runs on the caller's stack; from there on it behaves as the same coroutine
run by an asyncio Task (checked side by side: results, exceptions, cancellations, context variables)."""
from __future__ import annotations

import asyncio
import contextvars

import pytest

from actors.eager import start_eagerly


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def test_the_first_step_runs_before_start_eagerly_returns_and_the_rest_when_the_loop_gets_there():
    events: list[str] = []
    gate = asyncio.get_running_loop().create_future()

    async def place() -> str:
        events.append("written")
        answer = await gate
        events.append(f"answered {answer}")
        return answer

    pending = start_eagerly(place())
    assert events == ["written"]  # a task would not have begun yet
    gate.set_result("ok")
    assert await pending == "ok" and events == ["written", "answered ok"]


async def test_a_coroutine_that_never_suspends_gives_its_result_or_exception():
    ran = []

    async def answer() -> int:
        ran.append("answer")
        return 7

    async def refuse() -> int:
        ran.append("refuse")
        raise ValueError("bad order")

    done = start_eagerly(answer())
    failed = start_eagerly(refuse())
    assert ran == ["answer", "refuse"]
    assert await done == 7
    with pytest.raises(ValueError, match="bad order"):
        await failed


async def test_its_first_step_runs_as_its_task_from_a_plain_callback_or_from_inside_another_task():
    loop = asyncio.get_running_loop()
    seen = []

    async def place() -> str:
        seen.append(asyncio.current_task())
        async with asyncio.timeout(5):  # needs a current task, as aiohttp's and ccxt's timeouts do
            await asyncio.sleep(0)
        return "placed"

    from_callback = loop.create_future()
    loop.call_soon(lambda: from_callback.set_result(start_eagerly(place())))  # a protocol callback: no task current
    task = await from_callback
    assert seen == [task] and await task == "placed"
    outer = asyncio.current_task()
    inner = start_eagerly(place())
    assert seen[-1] is inner and asyncio.current_task() is outer  # the caller's task is current again
    assert await inner == "placed"


async def test_a_timeout_entered_in_the_first_step_fires_in_the_coroutine():
    loop = asyncio.get_running_loop()
    events = []

    async def silent_venue() -> None:
        try:
            async with asyncio.timeout(0.01):
                await loop.create_future()  # no answer, ever
        except TimeoutError:
            events.append("timed out")
            raise

    started = loop.create_future()
    loop.call_soon(lambda: started.set_result(start_eagerly(silent_venue())))
    with pytest.raises(TimeoutError):
        await (await started)
    assert events == ["timed out"]


async def test_cancelled_before_its_next_turn_the_coroutine_is_closed_not_left_suspended():
    events = []

    async def leg() -> None:
        try:
            events.append("written")
            await asyncio.sleep(1)
        finally:
            events.append("finally")

    task = start_eagerly(leg())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert events == ["written", "finally"]


def scenarios(loop: asyncio.AbstractEventLoop):
    """Coroutines that suspend in every way asyncio allows; each appends what happens to ``events``."""

    async def several_waits(events):
        events.append("start")
        await asyncio.sleep(0)
        events.append("after sleep(0)")
        await asyncio.sleep(0.001)
        fut = loop.create_future()
        loop.call_soon(fut.set_exception, ConnectionResetError("venue hung up"))
        try:
            await fut
        except ConnectionResetError as exc:
            events.append(f"caught {exc}")
        inner = asyncio.ensure_future(asyncio.sleep(0.001, result="inner"))
        events.append(await inner)
        return "done"

    async def raises_later(events):
        await asyncio.sleep(0)
        events.append("about to fail")
        raise LookupError("order unknown")

    async def cancelled_while_waiting(events):
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            events.append("saw cancel")
            raise
        finally:
            events.append("cleaned up")

    async def cancel_swallowed(events):
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            events.append("saw cancel, carries on")
        await asyncio.sleep(0)
        return "finished anyway"

    async def reads_its_own_context(events):
        request_id.set("rx-1")
        await asyncio.sleep(0)
        events.append(request_id.get())
        return request_id.get()

    return [several_waits, raises_later, cancelled_while_waiting, cancel_swallowed, reads_its_own_context]


async def _outcome(start, scenario, cancel_after_s: float | None):
    events: list[str] = []
    pending = start(scenario(events))
    waiter = asyncio.ensure_future(pending)
    if cancel_after_s is not None:
        await asyncio.sleep(cancel_after_s)
        waiter.cancel()
    try:
        result = ("result", await waiter)
    except asyncio.CancelledError:
        result = ("cancelled", None)
    except Exception as exc:
        result = ("raised", repr(exc))
    return events, result, request_id.get()


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("cancel_after_s", [None, 0.0005])
async def test_from_its_first_suspension_on_it_behaves_as_the_same_coroutine_in_a_task(index, cancel_after_s):
    scenario = scenarios(asyncio.get_running_loop())[index]
    as_task = await _outcome(asyncio.ensure_future, scenario, cancel_after_s)
    eager = await _outcome(start_eagerly, scenario, cancel_after_s)
    assert eager == as_task
    assert eager[2] == "none"  # a context variable it sets stays its own


async def test_a_cancel_that_comes_after_the_awaited_future_finished_is_thrown_in_as_a_task_would():
    loop = asyncio.get_running_loop()

    def scenario(events, fut):
        async def leg():
            try:
                events.append(await fut)
                await asyncio.sleep(0)
                events.append("not cancelled")
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
        return leg()

    outcomes = []
    for start in (asyncio.ensure_future, start_eagerly):
        events: list[str] = []
        fut = loop.create_future()
        pending = start(scenario(events, fut))
        await asyncio.sleep(0)
        fut.set_result("answer")  # finished, and the task cancelled before it runs again
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        outcomes.append(events)
    assert outcomes[0] == outcomes[1]
