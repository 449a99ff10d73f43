"""execution.api's exchange functions on bad input: each case gives its own, specific error, and nothing is sent.

No network: the only socket is a connection attempt to a closed port on 127.0.0.1.
"""
import asyncio
import math
import socket
import time
from decimal import Decimal as D

import ccxt
import pytest
from hypothesis import example, given, settings, strategies as st

from execution.api.binance_api import (
    CcxtArbitrageIO,
    fetch_order_by_client_id,
    initialize_binance_api,
    place_order,
)
from execution.api.orders import MalformedOrderError, order_snapshot_from_ccxt
from execution.api.other_exchange_api import (
    MissingCredentialsError,
    UnknownExchangeError,
    fetch_order_book,
    initialize_exchange_api,
    float_book_from_ccxt,
    order_book_from_ccxt,
)
from execution.api.venue import VenueConfigError
from execution.error_handler import (
    AmbiguousOrderError,
    BadSymbol,
    FatalError,
    InsufficientFunds,
    InvalidOrder,
    RequestTimedOut,
    RetryableError,
)
from execution.types import BookError, FloatBook, OrderStatus, Side

KEY = "test-key-7f3a9c1d2e"
SECRET = "test-secret-0b1c2d3e4f5a6b7c"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- connecting ----------------------------------------------------------------------------------------------

async def test_unknown_exchange_name_is_named_in_the_error():
    with pytest.raises(UnknownExchangeError, match="'nosuchexchange'"):
        await initialize_exchange_api("nosuchexchange", KEY, SECRET)
    with pytest.raises(UnknownExchangeError):
        await initialize_exchange_api(None, KEY, SECRET)


@pytest.mark.parametrize(
    "api_key, secret, named",
    [(None, SECRET, "api_key"), ("", SECRET, "api_key"), (KEY, None, "secret_key"), (KEY, "  ", "secret_key"),
     (None, None, "api_key, secret_key")],
)
async def test_missing_keys_are_named_and_never_shown(api_key, secret, named):
    with pytest.raises(MissingCredentialsError, match=f"missing {named}$") as caught:
        await initialize_binance_api(api_key, secret)
    assert KEY not in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(MissingCredentialsError, match=named):
        await initialize_exchange_api("kraken", api_key, secret)


async def test_public_only_connection_may_skip_keys_but_a_bad_url_is_refused():
    with pytest.raises(VenueConfigError, match="venue url"):
        await initialize_exchange_api("binance", None, None, require_keys=False, url="not-a-url")
    with pytest.raises(VenueConfigError, match="either url"):
        await initialize_binance_api(KEY, SECRET, url="http://127.0.0.1:1", testnet=True)
    with pytest.raises(VenueConfigError, match="dialect"):
        await initialize_exchange_api("kraken", KEY, SECRET, url="http://127.0.0.1:1")


async def test_unreachable_venue_is_a_translated_retryable_error_without_secrets():
    started = time.monotonic()
    with pytest.raises(RetryableError) as caught:
        await initialize_binance_api(KEY, SECRET, url=f"http://127.0.0.1:{free_port()}", timeout_s=3)
    assert time.monotonic() - started < 3
    error = caught.value
    texts = [str(error), repr(error), str(error.__cause__), *(getattr(error, "__notes__", []) or [])]
    assert all(KEY not in text and SECRET not in text for text in texts)
    assert error.exchange == "binance"


# ---- order books ---------------------------------------------------------------------------------------------

def raw_book(bids, asks, **more):
    return {"symbol": "BTC/USDT", "bids": bids, "asks": asks, "timestamp": None, "nonce": 7, **more}


def test_good_book_becomes_decimal_with_times_and_nonce():
    now = time.time()
    book = order_book_from_ccxt("alpha", raw_book([[100.1, 0.5], [100.0, 1.0, 3]], [[100.2, 0.25]],
                                                  timestamp=int(now * 1000)), received_at=now, max_age_s=1, now=now)
    assert book.bids == ((D("100.1"), D("0.5")), (D("100.0"), D("1.0")))
    assert book.asks == ((D("100.2"), D("0.25")),)
    assert (book.exchange, book.nonce, book.received_at) == ("alpha", 7, now)
    assert book.exchange_ts_ms == int(now * 1000)


@pytest.mark.parametrize(
    "bids, asks, match",
    [
        ([[100.3, 1]], [[100.2, 1]], "crossed"),
        ([[100.2, 1]], [[100.2, 1]], "crossed"),
        ([[100.0, 1], [100.1, 1]], [[100.2, 1]], "bids are not sorted"),
        ([[100.0, 1]], [[100.3, 1], [100.2, 1]], "asks are not sorted"),
        ([[-100.0, 1]], [[100.2, 1]], "not positive"),
        ([[100.0, -1]], [[100.2, 1]], "not positive"),
        ([[100.0, 0]], [[100.2, 1]], "not positive"),
        ([[math.nan, 1]], [[100.2, 1]], "not positive"),
        ([["NaN", 1]], [[100.2, 1]], "not positive"),
        ([[100.0, math.inf]], [[100.2, 1]], "not positive"),
        ([["abc", 1]], [[100.2, 1]], "not numeric"),
        ([[100.0]], [[100.2, 1]], "not \\[price, amount\\]"),
        ("100", [[100.2, 1]], "not a list"),
        ([], [], "bids and asks empty"),
        ([[100.0, 1]], [], "asks empty"),
    ],
)
@pytest.mark.parametrize("parse", [order_book_from_ccxt, float_book_from_ccxt])
def test_malformed_books_raise_book_error(bids, asks, match, parse):
    with pytest.raises(BookError, match=match):
        parse("alpha", raw_book(bids, asks))


def test_a_streamed_book_keeps_the_top_levels_as_floats_and_converts_exactly():
    book = float_book_from_ccxt("alpha", raw_book([[100.1, 0.5], [100.0, 1.0, 3], [99.9, 2.0]],
                                                  [[100.2, 0.25], [100.3, 0.1]], timestamp=1_700_000_000_000),
                                received_at=12.5, depth=2)
    assert (book.bids, book.asks) == (((100.1, 0.5), (100.0, 1.0)), ((100.2, 0.25), (100.3, 0.1)))
    assert (book.exchange, book.symbol, book.nonce, book.received_at) == ("alpha", "BTC/USDT", 7, 12.5)
    exact = book.exact()
    assert exact == order_book_from_ccxt("alpha", raw_book([[100.1, 0.5], [100.0, 1.0]], [[100.2, 0.25], [100.3, 0.1]],
                                                           timestamp=1_700_000_000_000), received_at=12.5)
    assert exact.bids[0] == (D("100.1"), D("0.5"))  # the venue's decimal string, not the float's binary expansion
    # only the levels that can trade against a price on the other side
    assert book.exact(bids_above=100.05).bids == ((D("100.1"), D("0.5")),)
    assert book.exact(asks_below=100.3).asks == ((D("100.2"), D("0.25")),)


def test_one_sided_book_allowed_when_asked():
    assert order_book_from_ccxt("alpha", raw_book([[1, 1]], []), require_both_sides=False).asks == ()


def test_stale_books_raise_book_error():
    now = time.time()
    old_venue_stamp = raw_book([[100, 1]], [[101, 1]], timestamp=int((now - 10) * 1000))
    with pytest.raises(BookError, match="venue timestamp is stale"):
        order_book_from_ccxt("alpha", old_venue_stamp, max_age_s=2, now=now)
    with pytest.raises(BookError, match="stale"):
        order_book_from_ccxt("alpha", raw_book([[100, 1]], [[101, 1]]), received_at=now - 10, max_age_s=2, now=now)
    with pytest.raises(BookError, match="not a dict"):
        order_book_from_ccxt("alpha", [[100, 1]])
    with pytest.raises(BookError, match="no symbol"):
        order_book_from_ccxt("alpha", {"bids": [], "asks": []})


class FakeClient:
    """A duck-typed ccxt async client: records calls, answers what the test gives."""

    id = "binance"

    def __init__(self, book=None, error=None, hang=False, order=None):
        self.book, self.error, self.hang, self.order = book, error, hang, order
        self.created = []
        self.markets = {"BTC/USDT": {
            "symbol": "BTC/USDT", "base": "BTC", "quote": "USDT", "precision": {"amount": 0.0001, "price": 0.01},
            "limits": {"amount": {"min": 0.0001}, "cost": {"min": 5}}, "maker": 0.001, "taker": 0.001,
        }}

    async def _answer(self, value):
        if self.hang:
            await asyncio.sleep(3600)
        if self.error is not None:
            raise self.error
        return value

    async def fetch_order_book(self, symbol, limit=None):
        return await self._answer(self.book)

    async def create_order(self, symbol, type, side, amount, price=None, params=None):
        self.created.append((symbol, type, side, amount, price, params))
        return await self._answer(self.order)

    async def fetch_order(self, id, symbol=None, params=None):
        return await self._answer(self.order)


async def test_fetch_order_book_checks_what_the_venue_sent():
    with pytest.raises(BookError, match="crossed"):
        await fetch_order_book(FakeClient(book=raw_book([[101, 1]], [[100, 1]])), "BTC/USDT")
    book = await fetch_order_book(FakeClient(book=raw_book([[100, 1]], [[101, 1]])), "BTC/USDT", venue="alpha")
    assert book.exchange == "alpha" and book.best_ask == D("101")


async def test_fetch_order_book_translates_ccxt_errors_and_times_out():
    with pytest.raises(RequestTimedOut):
        await fetch_order_book(FakeClient(error=ccxt.RequestTimeout("binance GET https://x?signature=abc")),
                               "BTC/USDT")
    with pytest.raises(FatalError):
        await fetch_order_book(FakeClient(error=ccxt.BadSymbol("binance does not have market symbol X")), "X")
    started = time.monotonic()
    with pytest.raises(RequestTimedOut):
        await fetch_order_book(FakeClient(hang=True), "BTC/USDT", timeout_s=0.05)
    assert time.monotonic() - started < 1


# ---- placing orders ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(amount=0.5), InvalidOrder, "amount must be a Decimal"),
        (dict(amount=D("-1")), InvalidOrder, "positive"),
        (dict(amount=D("NaN")), InvalidOrder, "positive finite"),
        (dict(amount=D("0.00005")), InvalidOrder, "not on BTC/USDT's step"),
        (dict(price=D("100.005")), InvalidOrder, "not on BTC/USDT's tick"),
        (dict(price=None), InvalidOrder, "needs a price"),
        (dict(price="x"), InvalidOrder, "not a number"),
        (dict(side="hold"), InvalidOrder, "buy or sell"),
        (dict(order_type="stop"), InvalidOrder, "limit or market"),
        (dict(time_in_force="DAY"), InvalidOrder, "GTC, IOC or FOK"),
        (dict(client_order_id="has space"), InvalidOrder, "client order id"),
        (dict(client_order_id="x" * 37), InvalidOrder, "client order id"),
        (dict(symbol="DOGE/USDT"), BadSymbol, "does not list"),
    ],
)
async def test_place_order_refuses_bad_orders_before_sending(overrides, error, match):
    client = FakeClient()
    arguments = dict(symbol="BTC/USDT", side="buy", amount=D("0.01"), price=D("100.01"), client_order_id="cid-1",
                     time_in_force="IOC", order_type="limit")
    arguments.update(overrides)
    with pytest.raises(error, match=match):
        await place_order(client, **arguments)
    assert client.created == []


async def test_place_order_sends_strings_and_the_client_order_id():
    order = {"id": "9", "clientOrderId": "cid-1", "symbol": "BTC/USDT", "side": "buy", "amount": 0.01, "filled": 0.01,
             "status": "closed", "price": 100.01, "average": 100.0, "trades": []}
    client = FakeClient(order=order)
    result = await place_order(client, "BTC/USDT", Side.BUY, D("0.0100"), D("100.01"), time_in_force="ioc",
                               client_order_id="cid-1")
    assert result is order
    assert client.created == [("BTC/USDT", "limit", "buy", "0.0100", "100.01",
                               {"clientOrderId": "cid-1", "timeInForce": "IOC"})]


@pytest.mark.parametrize(
    "raised, expected",
    [(ccxt.RequestTimeout("timeout"), AmbiguousOrderError), (ccxt.NetworkError("reset"), AmbiguousOrderError),
     (ccxt.InsufficientFunds("binance Account has insufficient balance for requested action."), InsufficientFunds)],
)
async def test_place_order_failures_are_ambiguous_unless_definitely_refused(raised, expected):
    with pytest.raises(expected) as caught:
        await place_order(FakeClient(error=raised), "BTC/USDT", "sell", D("0.01"), D("100"), client_order_id="c-9")
    assert caught.value.client_order_id == "c-9" or expected is InsufficientFunds


async def test_lookup_by_client_order_id_treats_not_found_as_none():
    assert await fetch_order_by_client_id(FakeClient(error=ccxt.OrderNotFound("-2013")), "BTC/USDT", "c") is None
    io = CcxtArbitrageIO({"alpha": FakeClient(error=ccxt.OrderNotFound("-2013"))})
    assert await io.lookup("alpha", "BTC/USDT", "c") is None
    with pytest.raises(VenueConfigError, match="'beta'"):
        await io.lookup("beta", "BTC/USDT", "c")


# ---- ccxt order dicts ----------------------------------------------------------------------------------------

def unified_order(**overrides):
    order = {
        "id": "12", "clientOrderId": "cid-7", "symbol": "BTC/USDT", "side": "buy", "amount": 0.5, "filled": 0.3,
        "status": "expired", "price": 100.1, "average": 100.05, "timestamp": 1700000000000,
        "trades": [
            {"id": "t1", "price": 100.0, "amount": 0.1, "fee": {"cost": 0.0001, "currency": "BTC"}},
            {"id": "t2", "price": 100.1, "amount": 0.2, "fee": {"cost": 0.0002, "currency": "BTC"}, "order": "12"},
        ],
    }
    order.update(overrides)
    return order


def test_unified_order_becomes_an_exact_snapshot_with_fills():
    snapshot = order_snapshot_from_ccxt("alpha", unified_order())
    assert snapshot.status is OrderStatus.EXPIRED and snapshot.filled == D("0.3") and snapshot.amount == D("0.5")
    assert [(f.trade_id, f.price, f.amount, f.fee, f.fee_asset, f.side) for f in snapshot.fills] == [
        ("t1", D("100.0"), D("0.1"), D("0.0001"), "BTC", Side.BUY), ("t2", D("100.1"), D("0.2"), D("0.0002"), "BTC",
                                                                     Side.BUY)]
    assert all(f.exchange == "alpha" and f.client_order_id == "cid-7" and f.exchange_order_id == "12"
               for f in snapshot.fills)
    assert order_snapshot_from_ccxt("alpha", unified_order(status="open", filled=0, trades=[])).status \
        is OrderStatus.ACCEPTED
    assert order_snapshot_from_ccxt("alpha", unified_order(status="open")).status is OrderStatus.PARTIALLY_FILLED
    assert order_snapshot_from_ccxt("alpha", unified_order(status="closed")).status is OrderStatus.FILLED
    assert order_snapshot_from_ccxt("alpha", unified_order(status=None)).status is OrderStatus.UNKNOWN


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(clientOrderId=None), "no client order id"),
        (dict(side="long"), "neither buy nor sell"),
        (dict(amount=math.nan), "not finite"),
        (dict(amount=None), "no amount"),
        (dict(filled="x"), "not a number"),
        (dict(symbol=None), "no symbol"),
        (dict(trades=[{"price": 1, "amount": 1}]), "has no id"),
        (dict(trades=[{"id": "t", "price": None, "amount": 1}]), "no price or amount"),
    ],
)
def test_malformed_unified_orders_raise_malformed_order_error(overrides, match):
    with pytest.raises(MalformedOrderError, match=match):
        order_snapshot_from_ccxt("alpha", unified_order(**overrides))


_prices = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([100.0, 100.1, 100.2, 100.3]))
_amounts = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1.0]))
_float_levels = st.lists(st.tuples(_prices, _amounts), max_size=4).map(tuple)


@settings(max_examples=500, deadline=None)
@given(_float_levels, _float_levels)
@example(((100.1, 1.0), (100.0, 1.0)), ((100.2, 1.0), (100.3, 1.0)))
def test_a_float_book_accepts_exactly_what_its_detailed_check_accepts(bids, asks):
    """FloatBook's one-pass check (every stream update's) and the check that names each fault agree on every book."""
    from execution import types

    class Unchecked:  # the fields only: the detailed check alone, as it ran before the one-pass check
        exchange, symbol = "alpha", "BTC/USDT"

    Unchecked.bids, Unchecked.asks = bids, asks
    try:
        types._check_levels(Unchecked, types._float_level_problem)
        detailed = None
    except BookError as exc:
        detailed = str(exc)
    if detailed is None:
        assert FloatBook("alpha", "BTC/USDT", bids, asks).bids == bids
    else:
        with pytest.raises(BookError) as raised:
            FloatBook("alpha", "BTC/USDT", bids, asks)
        assert str(raised.value) == detailed
