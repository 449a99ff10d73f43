"""The exchange actor's class, in-process against a simulator venue: its cached balances after our own orders.

A finished order's fills say exactly what it did to the account, so the actor moves its cached balances by them and
publishes at once instead of asking the venue again; a balance fetch that may predate those fills must not undo them.
"""
from __future__ import annotations

import asyncio
import dataclasses
import time
from decimal import Decimal as D

import aiohttp
import pytest

from actors.credentials import seal
from actors.exchange import ExchangeConnection, VenueSpec
from orchestration.config import Credentials
from execution.error_handler import ErrorClass, SendDeadlinePassed, TimestampOutsideWindow, error_class
from execution.messages import SubmitOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce
from simulator.config import SimConfig
from simulator.launcher import start_local_venues, wall_clock_ms
from tests.integration.runs import ACCOUNT

SYMBOL = "BTC/USDT"


async def venue_free(url: str) -> dict[str, D]:
    """The account's free balances as the venue (in this process's loop) has them."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{url}/_sim/balances") as response:
            raw = await response.json()
    return {asset: D(v["free"]) for asset, v in raw[ACCOUNT].items()}


async def until(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def deliver_keys(connection: ExchangeConnection, venue) -> None:
    """What the run's driver does (orchestration.credentials): seal the venue's keys to the actor's public key."""
    public_key = await connection.credentials_wanted(0.1)
    assert public_key is not None  # a signing venue asks for its keys until they arrive
    await connection.provide_credentials(seal(public_key, Credentials(venue.api_key, venue.secret)))
    assert await connection.credentials_wanted(0.01) is None  # and asks no more


@pytest.fixture
async def connection():
    async with start_local_venues(SimConfig.default(("alpha",), seed=3), run_market=False) as sim:
        sim.market.step(wall_clock_ms())  # quote once; from then on only our orders change the book
        venue = sim["alpha"]
        spec = VenueSpec(name="alpha", exchange_id="binance", url=venue.url, paper=False, simulator=True)
        connection = ExchangeConnection(spec, [SYMBOL], balance_refresh_s=3600)  # one refresh at start, then none
        await deliver_keys(connection, venue)
        await connection.start()
        await until(lambda: connection.balances_cache and SYMBOL in connection._books)
        try:
            yield connection, venue
        finally:
            await connection.stop()


def taker(side: Side, book, cid: str) -> SubmitOrder:
    price = book.best_ask * D("1.01") if side is Side.BUY else book.best_bid * D("0.99")
    return SubmitOrder(client_order_id=cid, exchange="alpha", symbol=SYMBOL, side=side, order_type=OrderType.LIMIT,
                       amount=D("0.0100"), price=price.quantize(D("0.01")), time_in_force=TimeInForce.IOC)


async def test_a_finished_orders_fills_move_the_cached_balances_exactly_without_asking_the_venue(connection):
    connection, venue = connection
    pushed = []
    connection._publish_balances = lambda: pushed.append(dict(connection.balances_cache))
    for i, side in enumerate((Side.BUY, Side.SELL, Side.BUY)):
        outcome = await connection.submit_order(taker(side, await connection.latest_book(SYMBOL), f"rx-bal-{i}"))
        assert outcome.snapshot.status is OrderStatus.FILLED and outcome.snapshot.fills
        actual = await venue_free(venue.url)
        assert {a: connection.balances_cache[a][0] for a in ("BTC", "USDT")} == {a: actual[a] for a in ("BTC", "USDT")}
    assert len(pushed) == 3  # published after each order
    assert connection._balance_task is None  # and the venue was never asked


async def test_a_fetch_that_may_predate_our_fills_does_not_undo_them(connection):
    connection, venue = connection
    fetched = asyncio.Event()
    release = asyncio.Event()
    real_fetch = connection._fetch_balances

    async def slow_fetch():  # the venue answers now, the answer arrives after our order's fills
        answer = await real_fetch()
        fetched.set()
        await release.wait()
        return answer

    connection._fetch_balances = slow_fetch
    refresh = asyncio.ensure_future(connection._refresh_balances())
    await fetched.wait()
    await connection.submit_order(taker(Side.BUY, await connection.latest_book(SYMBOL), "rx-race-1"))
    after_fill = dict(connection.balances_cache)
    release.set()
    await refresh
    assert connection.balances_cache == after_fill  # the stale answer was dropped
    actual = await venue_free(venue.url)
    assert connection.balances_cache["BTC"][0] == actual["BTC"]


async def test_an_orders_sent_time_is_when_its_signed_request_goes_out_not_when_placing_began(connection):
    connection, venue = connection
    building = 0.2
    original_sign = connection._rest.sign

    def sign_selling_slowly(path, api="public", method="GET", params={}, *args, **kwargs):
        if params.get("side") == "SELL":  # ccxt building and signing this request, made slow enough to see
            time.sleep(building)
        return original_sign(path, api, method, params, *args, **kwargs)

    connection._rest.sign = sign_selling_slowly
    book = await connection.latest_book(SYMBOL)
    began = time.time()
    bought, sold = await asyncio.gather(connection.submit_order(taker(Side.BUY, book, "rx-sent-1")),
                                        connection.submit_order(taker(Side.SELL, book, "rx-sent-2")))
    assert bought.snapshot.status is OrderStatus.FILLED and sold.snapshot.status is OrderStatus.FILLED
    assert began + building <= sold.sent_at <= sold.acked_at  # building the request comes before "sent"
    assert sold.acked_at - sold.sent_at < building  # and is not in the round trip
    assert bought.sent_at < began + building  # each order has its own request's time, not a neighbour's


async def test_orders_leave_through_the_order_entry_session_on_the_connection_opened_at_start(connection):
    connection, venue = connection
    session = connection._rest.session
    assert session.connections_opened == 1 and session.requests_sent == 0
    book = await connection.latest_book(SYMBOL)
    outcome = await connection.submit_order(taker(Side.BUY, book, "rx-entry-1"))
    assert outcome.snapshot.status is OrderStatus.FILLED
    assert session.requests_sent == 1 and session.connections_opened == 1
    assert outcome.started_at <= outcome.sent_at <= outcome.acked_at
    health = await connection.health()
    assert health["order_entry"] == {"requests_sent": 1, "connections_opened": 1, "idle_connections": 1}


async def test_an_order_as_the_channel_receives_it_is_on_the_wire_before_the_handler_returns(connection):
    connection, venue = connection
    session = connection._rest.session
    book = await connection.latest_book(SYMBOL)
    loop = asyncio.get_running_loop()
    received = loop.create_future()

    def data_received() -> None:  # as the channel calls it: a protocol callback, no task running
        pending = connection.submit_order_now(taker(Side.BUY, book, "rx-now-1"))
        received.set_result((pending, session.requests_sent))

    loop.call_soon(data_received)
    bought, sent_on_return = await received
    assert sent_on_return == 1  # built, signed and written before the callback returned: no loop turn first
    sold = connection.submit_order_now(taker(Side.SELL, book, "rx-now-2"))  # the ready connection is taken: it waits
    bought, sold = await asyncio.gather(bought, sold)                         # for one of its own
    assert session.requests_sent == 2
    assert bought.snapshot.status is OrderStatus.FILLED and sold.snapshot.status is OrderStatus.FILLED
    assert bought.sent_at < sold.sent_at  # each order kept its own request's time
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(f"{venue.url}/_sim/orders") as response:
            at_venue = [o["clientOrderId"] for o in await response.json()]
    assert sorted(at_venue) == ["rx-now-1", "rx-now-2"]  # each once


async def venue_order_ids(url: str) -> list[str]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(f"{url}/_sim/orders") as response:
            return [o["clientOrderId"] for o in await response.json()]


async def test_an_order_past_its_ttl_is_refused_and_never_sent(connection):
    """A leg a restart or a queue held past its TTL is stale: refused before anything is sent, as the channel hands
    it over and as the actor's method is called."""
    connection, venue = connection
    book = await connection.latest_book(SYMBOL)
    late = dataclasses.replace(taker(Side.BUY, book, "rx-late-1"), expires_at=time.time() - 0.5)
    for attempt in (connection.submit_order_now(late), connection.submit_order(late)):
        with pytest.raises(SendDeadlinePassed, match="not sent: its TTL ended") as refused:
            await attempt
        assert error_class(refused.value) is ErrorClass.DEFINITE_REJECTION
    assert connection._rest.session.requests_sent == 0 and await venue_order_ids(venue.url) == []


async def test_an_order_whose_ttl_ends_while_ccxt_builds_it_is_refused_before_the_wire(connection):
    connection, venue = connection
    original_sign = connection._rest.sign

    def sign_slowly(path, api="public", method="GET", params={}, *args, **kwargs):
        time.sleep(0.3)  # ccxt throttling, building and signing this request, made longer than the order's TTL
        return original_sign(path, api, method, params, *args, **kwargs)

    connection._rest.sign = sign_slowly
    book = await connection.latest_book(SYMBOL)
    order = dataclasses.replace(taker(Side.BUY, book, "rx-late-2"), expires_at=time.time() + 0.1)
    with pytest.raises(SendDeadlinePassed):
        await connection.submit_order(order)
    assert connection._rest.session.requests_sent == 0 and await venue_order_ids(venue.url) == []
    connection._rest.sign = original_sign
    in_time = dataclasses.replace(taker(Side.BUY, book, "rx-late-3"), expires_at=time.time() + 5)
    assert (await connection.submit_order(in_time)).snapshot.status is OrderStatus.FILLED  # the next one goes


async def test_a_timestamp_refused_by_the_venue_makes_the_actor_read_its_clock_again(connection):
    """The venue's clock runs 120 s ahead: the order is refused for its timestamp (-1021, not placed), the actor
    measures the venue's clock again, and the next order is stamped in the venue's time and fills."""
    connection, venue = connection
    await venue.set_faults({"clock_skew_ms": 120_000})
    book = await connection.latest_book(SYMBOL)
    with pytest.raises(TimestampOutsideWindow):
        await connection.submit_order(taker(Side.BUY, book, "rx-skew-1"))
    await until(lambda: abs(connection._rest.options["timeDifference"] + 120_000) < 1_000)
    assert (await connection.submit_order(taker(Side.BUY, book, "rx-skew-2"))).snapshot.status is OrderStatus.FILLED
    assert await venue_order_ids(venue.url) == ["rx-skew-2"]


async def test_the_book_stream_stops_when_a_book_arrives_in_the_turn_it_is_cancelled():
    spec = VenueSpec(name="alpha", exchange_id="binance", url=None, paper=True)
    connection = ExchangeConnection(spec, [SYMBOL], stream_timeout_s=30)
    pending: list[asyncio.Future] = []

    class Stream:
        def watch_order_book(self, symbol):
            pending.append(asyncio.get_running_loop().create_future())
            return pending[-1]

    connection._stream = Stream()
    task = asyncio.get_running_loop().create_task(connection._follow_book(SYMBOL))
    await until(lambda: pending)
    book = {"bids": [[100.0, 1.0]], "asks": [[101.0, 1.0]], "timestamp": int(time.time() * 1000), "nonce": 1}
    pending[0].set_result(book)
    task.cancel()  # same turn: Python 3.11's wait_for returned the book and dropped this cancel
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert len(pending) == 1
