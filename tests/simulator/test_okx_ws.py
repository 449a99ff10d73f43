"""The OKX public WebSocket of an OKX-dialect venue through unmodified ccxt.pro ``okx``: the ``books`` channel's
snapshot then updates, chained by ``seqId`` / ``prevSeqId`` (ccxt checks the chain and raises InvalidNonce on a gap),
each carrying OKX's CRC32 checksum of the top 25 levels, which these tests verify on the book ccxt maintains.

ccxt 4.5.90 does not verify OKX's checksum itself (pro/okx.py reads neither ``checksum`` nor crc32; older versions
did), so the verification here is the client's: ``checksum_of(book)`` computes OKX's checksum with ccxt's own
``crc32`` over ccxt's parsed book, and a deliberately corrupted checksum (the ``ws_bad_checksum_next`` fault) is
caught by it while every honest one matches.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import aiohttp
import ccxt
import pytest

SYMBOL = "BTC/USDT"
WAIT_S = 5.0


def checksum_of(ex: Any, book: Any) -> int:
    """OKX's checksum of ccxt's book: the top 25 bid and ask levels interleaved, ``price:size``, signed CRC32."""
    parts: list[str] = []
    bids, asks = book["bids"], book["asks"]
    for index in range(25):
        if index < len(bids):
            parts += [ex.number_to_string(bids[index][0]), ex.number_to_string(bids[index][1])]
        if index < len(asks):
            parts += [ex.number_to_string(asks[index][0]), ex.number_to_string(asks[index][1])]
    return ex.crc32(":".join(parts), True)


class ChecksumWatch:
    """Wraps ccxt's message handler: after ccxt applies each ``books`` message, compare the message's checksum with
    the checksum of the book ccxt now holds. ``verified`` and ``mismatches`` count seqIds."""

    def __init__(self, ex: Any) -> None:
        self.ex = ex
        self.verified: list[int] = []
        self.mismatches: list[int] = []
        self.actions: list[str] = []
        original = ex.handle_message

        def handle(client: Any, message: Any) -> Any:
            result = original(client, message)
            if isinstance(message, dict) and message.get("arg", {}).get("channel") == "books" and "data" in message:
                book = ex.orderbooks.get(SYMBOL)
                entry = message["data"][0]
                if book is not None and book["nonce"] == entry["seqId"]:
                    self.actions.append(message["action"])
                    ok = checksum_of(ex, book) == entry["checksum"]
                    (self.verified if ok else self.mismatches).append(entry["seqId"])
            return result

        ex.handle_message = handle  # before the first watch: ccxt's client binds the handler when it is created


async def _watch(pro: Any, limit: int | None = None) -> Any:
    return await asyncio.wait_for(pro.watch_order_book(SYMBOL, limit), timeout=WAIT_S)


async def _until_equal_to_rest(pro: Any, rest: Any) -> Any:
    """With the book frozen, wait until ccxt's book equals REST ``market/books`` level for level."""
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while True:
        snapshot = await rest.fetch_order_book(SYMBOL, 400)
        book = pro.orderbooks.get(SYMBOL)
        if book is not None and ([list(l) for l in book["bids"]], [list(l) for l in book["asks"]]) == (
                [l[:2] for l in snapshot["bids"]], [l[:2] for l in snapshot["asks"]]):
            return book
        assert asyncio.get_running_loop().time() < deadline, "the stream did not converge to the REST book"
        await asyncio.sleep(0.05)


async def test_books_snapshot_then_updates_chained_and_checksummed(make_okx_client: Callable[..., Any],
                                                                   okx_venue: Any) -> None:
    pro = await make_okx_client("pro", load=False)
    watch = ChecksumWatch(pro)
    await pro.load_markets()
    rest = await make_okx_client()
    nonces = []
    for _ in range(8):
        nonces.append((await _watch(pro))["nonce"])
    assert nonces == sorted(nonces) and nonces[-1] > nonces[0]
    assert watch.actions[0] == "snapshot" and "update" in watch.actions[1:]
    assert watch.mismatches == [] and len(watch.verified) >= 8

    await okx_venue.set_faults({"freeze_book": True})
    book = await _until_equal_to_rest(pro, rest)
    assert book["bids"] and book["asks"]
    # orders move the book; each change is pushed at once and verified
    ask = book["asks"][0][0]
    await rest.create_order(SYMBOL, "limit", "buy", 0.01, book["bids"][0][0] - 0.37)
    await rest.create_order(SYMBOL, "limit", "buy", 0.5, ask * 1.0005, {"timeInForce": "IOC"})
    verified_before = len(watch.verified)
    await _until_equal_to_rest(pro, rest)
    assert watch.mismatches == [] and len(watch.verified) > verified_before


async def test_a_corrupted_checksum_is_caught(make_okx_client: Callable[..., Any], okx_venue: Any) -> None:
    pro = await make_okx_client("pro", load=False)
    watch = ChecksumWatch(pro)
    await pro.load_markets()
    await _watch(pro)
    await okx_venue.set_faults({"ws_bad_checksum_next": 1})
    deadline = asyncio.get_running_loop().time() + WAIT_S
    while not watch.mismatches:
        assert asyncio.get_running_loop().time() < deadline, "no corrupted checksum arrived"
        await _watch(pro)
    assert len(watch.mismatches) == 1
    verified = len(watch.verified)
    for _ in range(3):  # the fault corrupted one push; the next ones verify again
        await _watch(pro)
    assert len(watch.mismatches) == 1 and len(watch.verified) > verified


async def test_a_sequence_gap_raises_invalid_nonce_then_the_next_watch_resyncs(
        make_okx_client: Callable[..., Any], okx_venue: Any) -> None:
    pro = await make_okx_client("pro", load=False)
    watch = ChecksumWatch(pro)
    await pro.load_markets()
    rest = await make_okx_client()
    await _watch(pro)
    await okx_venue.set_faults({"ws_gap_next": 1})
    with pytest.raises(ccxt.InvalidNonce):
        for _ in range(50):
            await _watch(pro)
    assert okx_venue.server.dropped_ws_events == 1
    await _watch(pro)  # ccxt unsubscribes, resubscribes and gets a new snapshot
    assert watch.actions.count("snapshot") == 2
    await okx_venue.set_faults({"freeze_book": True})
    await _until_equal_to_rest(pro, rest)
    assert watch.mismatches == []


async def test_books5_replaces_the_book_on_each_push(make_okx_client: Callable[..., Any]) -> None:
    pro = await make_okx_client("pro")
    for _ in range(3):
        book = await _watch(pro, 5)
        assert 0 < len(book["bids"]) <= 5 and 0 < len(book["asks"]) <= 5
        assert book["bids"][0][0] < book["asks"][0][0]


async def test_raw_protocol_ping_subscribe_echo_and_errors(okx_venue: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(okx_venue.ws_url + "/public", timeout=aiohttp.ClientWSTimeout(ws_close=WAIT_S)) as ws:
            await ws.send_str("ping")
            assert (await ws.receive(timeout=WAIT_S)).data == "pong"
            await ws.send_str(json.dumps({"op": "subscribe", "args": [{"channel": "books", "instId": "DOGE-USDT"}]}))
            error = json.loads((await ws.receive(timeout=WAIT_S)).data)
            assert error["event"] == "error" and error["code"] == "60018"
            await ws.send_str("{not json")
            assert json.loads((await ws.receive(timeout=WAIT_S)).data)["code"] == "60012"
            arg = {"channel": "books", "instId": "BTC-USDT"}
            await ws.send_str(json.dumps({"op": "subscribe", "args": [arg]}))
            assert json.loads((await ws.receive(timeout=WAIT_S)).data) == {
                "event": "subscribe", "arg": arg, "connId": error["connId"]}
            snapshot = json.loads((await ws.receive(timeout=WAIT_S)).data)
            assert snapshot["action"] == "snapshot" and snapshot["arg"] == arg
            first = snapshot["data"][0]
            assert first["prevSeqId"] == -1 and isinstance(first["checksum"], int) and first["asks"] and first["bids"]
            assert all(len(level) == 4 and level[2] == "0" for level in first["asks"] + first["bids"])
            update = json.loads((await ws.receive(timeout=WAIT_S)).data)
            assert update["action"] == "update" and update["data"][0]["prevSeqId"] == first["seqId"]
            await ws.send_str(json.dumps({"op": "unsubscribe", "args": [arg]}))
            while True:  # updates already queued may come first
                message = (await ws.receive(timeout=WAIT_S)).data
                if json.loads(message).get("event") == "unsubscribe":
                    break


def test_checksum_is_okx_documented_algorithm() -> None:
    """OKX's documented example: bids 3366.1x7, 3366x6; asks 3366.8x9, 3368x8 -> "3366.1:7:3366.8:9:3366:6:3368:8"."""
    from simulator.okx.engine import checksum

    bids, asks = [["3366.1", "7"], ["3366", "6"]], [["3366.8", "9"], ["3368", "8"]]
    assert checksum(bids, asks) == -1881014294 == ccxt.okx().crc32("3366.1:7:3366.8:9:3366:6:3368:8", True)
    assert checksum(bids[:1], asks) != checksum(bids, asks)
