"""One retry path: the exchange actor's book snapshots, balances, order lookups and cancels go through the seed's
``call_with_retry`` with its ``retry_policy``; order creation is never retried. In-process against a simulator venue
whose faults throttle (429, -1003) or drop requests, through real ccxt; the venue's fault counters say how many
requests reached it."""
from __future__ import annotations

import functools
from decimal import Decimal as D

import aiohttp
import pytest

from actors.exchange import ExchangeConnection, VenueSpec
from execution.error_handler import ErrorClass, error_class
from execution.messages import SubmitOrder
from execution.types import OrderStatus, OrderType, Side, TimeInForce
from orchestration.config import RetryConfig
from tests.actors.test_exchange_connection import connection  # noqa: F401 - the fixture

SYMBOL = "BTC/USDT"
ATTEMPTS = RetryConfig().max_attempts  # an exchange actor made without a retry policy retries as the config's default


async def sim_orders(url: str, client_order_id: str) -> list:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{url}/_sim/orders", params={"clientOrderId": client_order_id}) as response:
            return await response.json()


def throttles_left(venue) -> int:
    return venue.server.injector.faults.throttle_next


async def resting_buy(connection, cid: str) -> SubmitOrder:
    book = await connection.latest_book(SYMBOL)
    command = SubmitOrder(client_order_id=cid, exchange="alpha", symbol=SYMBOL, side=Side.BUY,
                          order_type=OrderType.LIMIT, amount=D("0.0100"),
                          price=(book.best_bid * D("0.9")).quantize(D("0.01")), time_in_force=TimeInForce.GTC)
    outcome = await connection.submit_order(command)
    assert outcome.snapshot.status is OrderStatus.ACCEPTED
    return command


async def test_a_throttled_lookup_is_retried_until_it_answers(connection):  # noqa: F811
    connection, venue = connection
    await resting_buy(connection, "rx-retry-1")
    await venue.set_faults({"throttle_next": ATTEMPTS - 1})
    found = await connection.lookup_order(SYMBOL, "rx-retry-1")
    assert found is not None and found.status is OrderStatus.ACCEPTED
    assert throttles_left(venue) == 0  # every throttled request was repeated, the last one answered


async def test_a_lookup_gives_up_after_the_policys_attempts(connection):  # noqa: F811
    connection, venue = connection
    await venue.set_faults({"throttle_next": 10})
    with pytest.raises(Exception) as raised:
        await connection.lookup_order(SYMBOL, "rx-anything")
    assert error_class(raised.value) is ErrorClass.RETRYABLE
    assert throttles_left(venue) == 10 - ATTEMPTS


async def test_not_found_is_an_answer_asked_once(connection):  # noqa: F811
    connection, venue = connection
    calls = []
    fetch_order = connection._rest.fetch_order

    async def counting(*args, **kwargs):
        calls.append(args)
        return await fetch_order(*args, **kwargs)

    connection._rest.fetch_order = counting
    assert await connection.lookup_order(SYMBOL, "rx-never-sent") is None
    assert len(calls) == 1


async def test_a_throttled_cancel_is_repeated(connection):  # noqa: F811
    connection, venue = connection
    await resting_buy(connection, "rx-retry-2")
    await venue.set_faults({"throttle_next": ATTEMPTS - 1})
    canceled = await connection.cancel_order(SYMBOL, "rx-retry-2")
    assert canceled.status is OrderStatus.CANCELED
    assert throttles_left(venue) == 0


async def test_balances_and_book_snapshots_are_retried(connection):  # noqa: F811
    connection, venue = connection
    await venue.set_faults({"throttle_next": ATTEMPTS - 1})
    balances = await connection.balances()
    assert balances["USDT"][0] > 0 and throttles_left(venue) == 0
    await venue.set_faults({"throttle_next": ATTEMPTS - 1})
    book = await connection._retried(functools.partial(connection._rest.fetch_order_book, SYMBOL, 100))
    assert book["bids"] and throttles_left(venue) == 0


async def test_order_creation_is_never_retried(connection):  # noqa: F811
    connection, venue = connection
    book = await connection.latest_book(SYMBOL)
    await venue.set_faults({"throttle_next": 2})
    command = SubmitOrder(client_order_id="rx-once", exchange="alpha", symbol=SYMBOL, side=Side.BUY,
                          order_type=OrderType.LIMIT, amount=D("0.0100"),
                          price=(book.best_bid * D("0.9")).quantize(D("0.01")), time_in_force=TimeInForce.GTC)
    with pytest.raises(Exception) as raised:
        await connection.submit_order(command)
    assert error_class(raised.value) is ErrorClass.RETRYABLE  # not processed: the order manager rejects it
    assert throttles_left(venue) == 1  # one request, not repeated
    assert await sim_orders(venue.url, "rx-once") == []


async def test_an_order_sent_to_an_exchange_actor_not_yet_started_is_refused_as_not_processed():
    """A restarted exchange actor answers before the supervisor has started it again: nothing was sent, so the order
    does not exist (rejected at once by the order manager, never looked up)."""
    spec = VenueSpec(name="alpha", exchange_id="binance", url="http://127.0.0.1:9", paper=False, simulator=True)
    idle = ExchangeConnection(spec, [SYMBOL])
    command = SubmitOrder(client_order_id="rx-early", exchange="alpha", symbol=SYMBOL, side=Side.BUY,
                          order_type=OrderType.LIMIT, amount=D("0.0100"), price=D("100"),
                          time_in_force=TimeInForce.GTC)
    with pytest.raises(Exception, match="connection not started") as raised:
        await idle.submit_order(command)
    assert error_class(raised.value) is ErrorClass.RETRYABLE
