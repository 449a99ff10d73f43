"""A streamed book that fails its check (crossed, a negative or NaN level) is refused and the subscription is dropped,
so the next watch starts from the venue's snapshot: ccxt's local book, kept by deltas, could otherwise hold the bad
level for good and every later update would be refused too (seen in a run: an OKX-dialect venue's books stayed
crossed, 120 s stale, after one lying push)."""
from __future__ import annotations

import asyncio
import time

import pytest

from actors.exchange import ExchangeConnection, VenueSpec

SYMBOL = "BTC/USDT"


async def until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def book(bid: float, ask: float) -> dict:
    return {"bids": [[bid, 1.0]], "asks": [[ask, 1.0]], "timestamp": int(time.time() * 1000), "nonce": 1}


@pytest.mark.parametrize("lie", [book(102.0, 101.0), book(-100.0, 101.0), book(float("nan"), 101.0)],
                         ids=["crossed", "negative", "nan"])
async def test_a_refused_book_drops_the_subscription_and_the_next_snapshot_is_published(lie):
    connection = ExchangeConnection(VenueSpec(name="beta", exchange_id="okx", url=None, paper=True), [SYMBOL],
                                    stream_timeout_s=30)
    calls: list[str] = []
    books = [lie, book(100.0, 101.0)]

    class Stream:
        orderbooks = {SYMBOL: object()}

        async def watch_order_book(self, symbol):
            calls.append("watch")
            if books:
                return books.pop(0)
            await asyncio.sleep(3600)

        async def un_watch_order_book(self, symbol):
            calls.append("unwatch")

    connection._stream = Stream()
    task = asyncio.get_running_loop().create_task(connection._follow_book(SYMBOL))
    try:
        await until(lambda: SYMBOL in connection._books)
    finally:
        task.cancel()
    assert calls[:3] == ["watch", "unwatch", "watch"]
    assert SYMBOL not in Stream.orderbooks
    assert connection._books[SYMBOL].bids[0][0] == 100.0
