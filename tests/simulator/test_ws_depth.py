"""The diff-depth WebSocket: Binance's subscription protocol, ccxt.pro's book equal to REST depth level for level,
an injected sequence gap detected and recovered from, and slow consumers dropped instead of buffered forever."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any, Callable

import aiohttp
import ccxt
import pytest

SYMBOL = "BTC/USDT"
WAIT_S = 5.0


async def _watch(pro: Any) -> Any:
    return await asyncio.wait_for(pro.watch_order_book(SYMBOL), timeout=WAIT_S)


async def _synced_to_rest(pro: Any, rest_client: Any) -> tuple[Any, Any]:
    """Wait until the pro book has applied every update REST depth reflects; returns (pro book, REST book)."""
    rest = await rest_client.fetch_order_book(SYMBOL, 1000)
    book = pro.orderbooks.get(SYMBOL)
    while book is None or book["nonce"] is None or book["nonce"] < rest["nonce"]:
        book = await _watch(pro)
    assert book["nonce"] == rest["nonce"], (book["nonce"], rest["nonce"])
    return book, rest


def _assert_same_levels(book: Any, rest: Any) -> None:
    assert [list(level) for level in book["bids"]] == rest["bids"]
    assert [list(level) for level in book["asks"]] == rest["asks"]
    assert rest["bids"] and rest["asks"]


async def _freeze(venue: Any) -> None:
    await venue.set_faults({"freeze_book": True})
    await asyncio.sleep(0.15)  # let an update already drained reach the stream


async def test_pro_book_equals_rest_depth_while_live_then_frozen_and_after_orders(
        make_client: Callable[..., Any], venue: Any) -> None:
    pro = await make_client("pro")
    rest = await make_client()
    nonces = []
    for _ in range(8):  # live market: several diff updates must apply without a gap
        book = await _watch(pro)
        nonces.append(book["nonce"])
    assert nonces == sorted(nonces) and nonces[-1] > nonces[0]

    await _freeze(venue)
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)

    # an order that rests on a new level, a taker that eats levels, and a cancel: each is pushed at once
    bid = Decimal(str(snapshot["bids"][0][0]))
    new_level = float(bid - Decimal("0.37"))
    resting = await rest.create_order(SYMBOL, "limit", "buy", 0.01, new_level)
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)
    assert [new_level, 0.01] in snapshot["bids"] or any(level[0] == new_level for level in snapshot["bids"])

    await rest.create_order(SYMBOL, "market", "buy", 0.5)
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)

    await rest.cancel_order(resting["id"], SYMBOL)
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)
    assert all(level[0] != new_level for level in snapshot["bids"])


async def test_injected_gap_is_detected_and_the_book_recovers(make_client: Callable[..., Any], venue: Any) -> None:
    pro = await make_client("pro")
    rest = await make_client()
    await _watch(pro)
    await _freeze(venue)
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)
    bid = Decimal(str(snapshot["bids"][0][0]))

    await venue.set_faults({"ws_gap_next": 1})
    await rest.create_order(SYMBOL, "limit", "buy", 0.01, float(bid - Decimal("0.11")))  # its update is dropped
    pending = asyncio.ensure_future(pro.watch_order_book(SYMBOL))
    await rest.create_order(SYMBOL, "limit", "buy", 0.01, float(bid - Decimal("0.13")))  # U skips past the gap
    with pytest.raises(ccxt.ChecksumError):
        await asyncio.wait_for(pending, timeout=WAIT_S)
    assert venue.server.dropped_ws_events == 1

    book = await _watch(pro)  # ccxt re-subscribes and takes a new snapshot
    book, snapshot = await _synced_to_rest(pro, rest)
    _assert_same_levels(book, snapshot)
    prices = [level[0] for level in snapshot["bids"]]
    assert float(bid - Decimal("0.11")) in prices and float(bid - Decimal("0.13")) in prices


async def test_subscription_protocol_and_continuous_update_ids(venue: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(venue.ws_url + "/1", timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            async def reply() -> Any:
                while True:
                    message = json.loads((await ws.receive(timeout=WAIT_S)).data)
                    if message.get("e") != "depthUpdate":
                        return message

            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 7}))
            assert await reply() == {"result": None, "id": 7}
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "x"}))
            assert await reply() == {"result": ["btcusdt@depth@100ms"], "id": "x"}
            last_u = None
            for _ in range(5):
                event = json.loads((await ws.receive(timeout=WAIT_S)).data)
                if event.get("e") != "depthUpdate":
                    continue
                assert event["s"] == "BTCUSDT" and event["U"] <= event["u"]
                assert last_u is None or event["U"] == last_u + 1
                last_u = event["u"]
                for price, qty in event["b"] + event["a"]:
                    assert Decimal(price) > 0 and Decimal(qty) >= 0
            assert last_u is not None

            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["nopeusdt@depth"], "id": 8}))
            error = await reply()
            assert error["id"] == 8 and error["error"]["code"] == 2
            await ws.send_str("{not json")
            assert (await reply())["error"]["code"] == 3
            await ws.send_str(json.dumps({"method": "FLY", "id": 9}))
            assert (await reply())["error"]["code"] == 2

            await ws.send_str(json.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@depth@100ms"], "id": 10}))
            assert await reply() == {"result": None, "id": 10}
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 11}))
            assert await reply() == {"result": [], "id": 11}
            await asyncio.sleep(0.2)
            while True:  # drain what was queued before the unsubscribe; afterwards nothing more comes
                try:
                    await ws.receive(timeout=0.3)
                except asyncio.TimeoutError:
                    break


async def test_slow_consumer_is_dropped_not_buffered(venue: Any) -> None:
    venue.server.ws_queue_size = 4
    await venue.set_faults({"freeze_book": True})
    engine = venue.engine
    account = engine.account_for_key(venue.api_key)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(venue.ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@depth"], "id": 1}))
            while json.loads((await ws.receive(timeout=WAIT_S)).data).get("id") != 1:
                pass
            best_bid = Decimal(engine.depth({"symbol": "BTCUSDT", "limit": "1"})["bids"][0][0])
            # a burst of book changes faster than the sender can run: the bounded queue overflows
            for i in range(12):
                engine.new_order(account, {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                           "quantity": "0.001", "price": str(best_bid - Decimal("0.01") * (i + 1))})
                venue.server.publish_depth()
            close_code = None
            for _ in range(20):
                message = await ws.receive(timeout=WAIT_S)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                    close_code = ws.close_code if message.type != aiohttp.WSMsgType.CLOSE else message.data
                    break
            assert close_code == 1008
    assert not venue.server._subscribers.get("BTCUSDT"), "the evicted connection no longer receives events"
