"""The channel's wire format: every hot-path message round-trips exactly (Decimal digits and exponent, float bits,
enums, None, nested tuples), the actors' handlers declare the types the interface decodes, and exceptions travel as
data rebuilt only from an allow-list."""
from __future__ import annotations

import dataclasses
import enum
import math
import struct
import typing
from decimal import Decimal

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.transport import HOT_PATH, RemoteError
from actors.transport.wire import (
    REFUSAL_REASONS,
    ErrorData,
    decode_reply_header,
    decode_request,
    encode_error,
    encode_reply,
    encode_request,
    error_decoder,
    error_from_data,
    error_to_data,
    reply_payload,
)
from execution import error_handler, messages
from execution.types import (
    Fill,
    FloatBook,
    MarketRules,
    OrderBook,
    OrderSnapshot,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from metrics.definitions import CHANNEL_REFUSALS


def identical(a, b) -> bool:
    """Equal and indistinguishable: same types all the way down, Decimals with the same digits and exponent, floats
    with the same bits (so 1.0 vs 1.00, or 0.0 vs -0.0, differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Decimal):
        return a.as_tuple() == b.as_tuple()
    if isinstance(a, float):
        return struct.pack("!d", a) == struct.pack("!d", b)
    if isinstance(a, enum.Enum):
        return a is b
    if dataclasses.is_dataclass(a):
        return all(identical(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
    return a == b


# ----- strategies -----------------------------------------------------------------------------------------------------

texts = st.text(max_size=20)
ids = st.text(min_size=1, max_size=12)
optional_ids = st.none() | ids
floats = st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308])
times = st.floats(min_value=0, max_value=4e9) | st.sampled_from([0.1, 1.7e9 + 0.123456])
timestamps_ms = st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1)
special_decimals = st.sampled_from([Decimal("1.000"), Decimal("1E+3"), Decimal("0.00000001"), Decimal("123.4500"),
                                   Decimal("98765.43210000000000000001"), Decimal("1E-30")])
positive = (st.decimals(min_value=Decimal("1e-18"), max_value=Decimal("1e15"), allow_nan=False, allow_infinity=False)
            | special_decimals)
non_negative = positive | st.sampled_from([Decimal(0), Decimal("0.000"), Decimal("0E+5")])
signed = non_negative | positive.map(lambda d: -d)
optional_positive = st.none() | positive
sides, statuses = st.sampled_from(Side), st.sampled_from(OrderStatus)
order_types, tifs = st.sampled_from(OrderType), st.sampled_from(TimeInForce)


@st.composite
def sorted_levels(draw, prices, amounts):
    """(bids, asks): unique prices, bids descending below the asks ascending."""
    values = sorted(set(draw(st.lists(prices, max_size=8))))
    cut = draw(st.integers(0, len(values)))
    bids = tuple((p, draw(amounts)) for p in reversed(values[:cut]))
    asks = tuple((p, draw(amounts)) for p in values[cut:])
    return bids, asks


positive_floats = st.floats(min_value=1e-9, max_value=1e9, allow_nan=False, allow_infinity=False)


@st.composite
def order_books(draw):
    bids, asks = draw(sorted_levels(positive, positive))
    return OrderBook(draw(ids), draw(ids), bids, asks, draw(st.none() | timestamps_ms), draw(times),
                     draw(st.none() | timestamps_ms))


@st.composite
def float_books(draw):
    bids, asks = draw(sorted_levels(positive_floats, positive_floats))
    return FloatBook(draw(ids), draw(ids), bids, asks, draw(st.none() | timestamps_ms), draw(times),
                     draw(st.none() | timestamps_ms))


fills = st.builds(Fill, exchange=ids, symbol=ids, side=sides, price=positive, amount=positive, fee=non_negative,
                  fee_asset=ids, trade_id=ids, client_order_id=ids, exchange_order_id=optional_ids, ts_ms=timestamps_ms)
snapshots = st.builds(OrderSnapshot, exchange=ids, symbol=ids, side=sides, client_order_id=ids,
                      exchange_order_id=optional_ids, status=statuses, amount=positive, filled=non_negative,
                      price=optional_positive, average=optional_positive,
                      fills=st.lists(fills, max_size=3).map(tuple), ts_ms=st.none() | timestamps_ms)
rules = st.builds(MarketRules, exchange=ids, symbol=ids, base=ids, quote=ids, price_tick=positive, amount_step=positive,
                  min_amount=non_negative, max_amount=optional_positive, min_notional=non_negative,
                  min_price=optional_positive, max_price=optional_positive, maker_fee=signed, taker_fee=signed)
event_ids = dict(client_order_id=ids, exchange=ids, symbol=ids, exchange_order_id=optional_ids,
                 opportunity_id=optional_ids, ts_event=floats, ts_init=floats)
settable_statuses = st.sampled_from([s for s in OrderStatus if s not in (
    OrderStatus.INITIALIZED, OrderStatus.DENIED, OrderStatus.SUBMITTED, OrderStatus.UNKNOWN)])
order_events = st.one_of(
    st.builds(messages.OrderInitialized, side=sides, order_type=order_types, amount=positive, price=optional_positive,
              time_in_force=tifs, **event_ids),
    st.builds(messages.OrderDenied, reason=texts, field=st.none() | texts, **event_ids),
    st.builds(messages.OrderSubmitted, **event_ids),
    st.builds(messages.OrderAccepted, **event_ids),
    st.builds(messages.OrderRejected, reason=texts, **event_ids),
    st.builds(messages.OrderFilled, fill=fills, **event_ids),
    st.builds(messages.OrderPendingCancel, **event_ids),
    st.builds(messages.OrderCancelRejected, reason=texts, **event_ids),
    st.builds(messages.OrderCanceled, **event_ids),
    st.builds(messages.OrderExpired, reason=texts, **event_ids),
    st.builds(messages.OrderUpdated, status=settable_statuses, filled=st.none() | non_negative, **event_ids),
    st.builds(messages.OrderStatusUnknown, reason=texts, not_found=st.booleans(), **event_ids),
)
commands = st.one_of(
    st.builds(messages.SubmitOrder, client_order_id=ids, exchange=ids, symbol=ids, side=sides, order_type=order_types,
              amount=positive, price=optional_positive, time_in_force=tifs, opportunity_id=optional_ids,
              ts_init=floats),
    st.builds(messages.CancelOrder, client_order_id=ids, exchange=ids, symbol=ids, exchange_order_id=optional_ids,
              opportunity_id=optional_ids, ts_init=floats),
    st.builds(messages.QueryOrder, client_order_id=ids, exchange=ids, symbol=ids, exchange_order_id=optional_ids,
              ts_init=floats),
)


@st.composite
def opportunities(draw):
    buy, sell = draw(st.lists(ids, min_size=2, max_size=2, unique=True))
    return messages.ArbitrageDetected(
        opportunity_id=draw(ids), symbol=draw(ids), buy_exchange=buy, sell_exchange=sell, amount=draw(positive),
        buy_price=draw(positive), sell_price=draw(positive), expected_profit=draw(signed), detected_at=draw(floats),
        buy_book_received_at=draw(floats), sell_book_received_at=draw(floats), ts_event=draw(floats),
        ts_init=draw(floats))


balances = st.tuples(st.just("balances"), ids, st.dictionaries(ids, signed, max_size=4))
outcomes = st.builds(messages.SubmitOutcome, snapshot=snapshots, sent_at=floats, acked_at=floats, started_at=floats)
others = st.one_of(
    st.builds(messages.FillApplied, fill=fills, order_status=statuses, opportunity_id=optional_ids, ts_event=floats,
              ts_init=floats),
    st.builds(messages.BookUpdated, book=order_books(), ts_event=floats, ts_init=floats),
    rules, snapshots,
)


# ----- round trips ----------------------------------------------------------------------------------------------------

def through_a_request(method: str, args: tuple) -> tuple:
    frame = encode_request(41, method.encode(), args)
    assert struct.unpack_from("!I", frame)[0] == len(frame) - 4
    table = {method.encode(): (HOT_PATH.args_decoder(method.encode()),)}
    request_id, name, _, decoded = decode_request(bytes(frame[4:]), table)
    assert (request_id, name) == (41, method.encode())
    return decoded


def through_a_reply(method: str, value):
    frame = bytes(encode_reply(42, value))[4:]
    assert decode_reply_header(frame) == (42, 0)
    return HOT_PATH.result_decoder(method).decode(reply_payload(frame))


ROUND_TRIP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(st.one_of(float_books(), balances))
def test_on_book_arguments_round_trip_exactly(item):
    assert identical(through_a_request("on_book", (item,)), (item,))


@ROUND_TRIP
@given(opportunities())
def test_opportunities_round_trip_exactly(message):
    assert identical(through_a_request("on_opportunity", (message,)), (message,))
    assert identical(through_a_reply("on_opportunity", "denied:cooldown"), "denied:cooldown")


@ROUND_TRIP
@given(commands.filter(lambda c: isinstance(c, messages.SubmitOrder)), outcomes)
def test_order_legs_and_their_outcomes_round_trip_exactly(command, outcome):
    assert identical(through_a_request("submit_order", (command,)), (command,))
    assert identical(through_a_reply("submit_order", outcome), outcome)


@ROUND_TRIP
@given(texts, st.none() | order_books())
def test_book_lookups_round_trip_exactly(symbol, book):
    assert identical(through_a_request("latest_book", (symbol,)), (symbol,))
    assert identical(through_a_reply("latest_book", book), book)


@ROUND_TRIP
@given(st.lists(fills, max_size=5), st.integers(0, 2 ** 40))
def test_fills_round_trip_exactly(batch, applied):
    assert identical(through_a_request("apply_fills", (batch,)), (batch,))
    assert identical(through_a_reply("apply_fills", applied), applied)


@ROUND_TRIP
@given(st.one_of(commands, order_events, others, outcomes, float_books(), order_books()))
def test_every_other_message_round_trips_exactly_through_the_same_codec(message):
    encoded = bytes(encode_reply(1, message))[4:]
    assert identical(msgspec.msgpack.Decoder(type(message)).decode(reply_payload(encoded)), message)


def test_identical_tells_apart_what_equality_does_not():
    assert Decimal("1.0") == Decimal("1.00") and not identical(Decimal("1.0"), Decimal("1.00"))
    assert 0.0 == -0.0 and not identical(0.0, -0.0)
    assert not identical((1,), [1]) and identical((Decimal("2E+1"),), (Decimal("2E+1"),))


def test_a_float_book_decodes_only_if_it_passes_its_own_checks():
    decoder = HOT_PATH.args_decoder(b"on_book")
    crossed = {"exchange": "a", "symbol": "X/Y", "bids": [[101.0, 1.0]], "asks": [[100.0, 1.0]]}
    with pytest.raises(msgspec.ValidationError, match="crossed"):
        decoder.decode(msgspec.msgpack.encode((crossed,)))
    with pytest.raises(msgspec.ValidationError):  # another tuple than ("balances", venue, free)
        decoder.decode(msgspec.msgpack.encode((("orders", "a", {}),)))


# ----- the declared types are the handlers' own --------------------------------------------------------------------

def served_methods():
    from actors.detector import DetectorActor
    from actors.exchange import ExchangeConnection
    from actors.order_manager import OrderManagerActor
    from actors.position_tracker import PositionTrackerActor

    return [(cls, name) for cls in (DetectorActor, OrderManagerActor, ExchangeConnection, PositionTrackerActor)
            for name in cls.channel_methods]


def test_every_served_method_is_declared_with_its_handlers_types():
    served = served_methods()
    assert {name for _, name in served} == set(HOT_PATH.methods)  # nothing declared that nobody serves
    for cls, name in served:
        hints = typing.get_type_hints(getattr(cls, name))
        result = hints.pop("return")
        declared = HOT_PATH.methods[name]
        assert tuple(hints.values()) == declared.args, (cls.__name__, name)
        assert result == (type(None) if declared.result is None else declared.result), (cls.__name__, name)


def test_every_channel_call_in_the_actors_names_a_declared_method():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[2] / "actors"
    called = set()
    for path in root.glob("*.py"):
        called |= set(re.findall(r"channels\.(?:call|request)\(\s*[^,]+,\s*\"(\w+)\"", path.read_text()))
    assert called and called <= set(HOT_PATH.methods), called - set(HOT_PATH.methods)


def test_the_refusal_reasons_are_the_metrics_label_set():
    assert REFUSAL_REASONS == CHANNEL_REFUSALS


# ----- exceptions as data ------------------------------------------------------------------------------------------

def rayarb_errors() -> list[type]:
    found, todo = [], [error_handler.RayarbError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", rayarb_errors(), ids=lambda cls: cls.__qualname__)
def test_rayarb_errors_cross_as_themselves(cls):
    error = cls.__new__(cls)
    error_handler.RayarbError.__init__(error, "what went wrong", exchange="alpha", client_order_id="rx-1",
                                       exchange_order_id="9", source="ccxt.RequestTimeout")
    error.retry_after, error.cause_type = 0.5, "RequestTimedOut"
    frame = bytes(encode_error(3, error))[4:]
    assert decode_reply_header(frame) == (3, 1)
    rebuilt = error_from_data(error_decoder.decode(reply_payload(frame)))
    assert type(rebuilt) is cls and str(rebuilt) == "what went wrong"
    assert (rebuilt.exchange, rebuilt.client_order_id, rebuilt.exchange_order_id, rebuilt.source) == \
        ("alpha", "rx-1", "9", "ccxt.RequestTimeout")


@pytest.mark.parametrize("name", ["builtins.eval", "os.system", "subprocess.Popen", "builtins.open",
                                  "execution.types.FloatBook", "execution.error_handler.RetryPolicy",
                                  "execution.error_handler.classify", "__main__.Anything"])
def test_a_name_off_the_allow_list_builds_nothing_but_a_remote_error(name):
    rebuilt = error_from_data(ErrorData(name, "payload"))
    assert type(rebuilt) is RemoteError and str(rebuilt) == f"{name.rsplit('.', 1)[-1]}: payload"


def test_error_messages_are_redacted_before_they_travel():
    from execution.log import forget_secrets, register_secret

    register_secret("s3cr3t-api-key-123456")
    try:
        data = error_to_data(ValueError("signature for s3cr3t-api-key-123456 refused"))
    finally:
        forget_secrets()
    assert "s3cr3t-api-key-123456" not in data.message and data.name == "builtins.ValueError"
