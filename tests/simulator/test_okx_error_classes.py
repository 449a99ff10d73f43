"""OKX's errors reach rayarb's six classes by OKX's own codes (``execution.api.errors.OKX_ERRORS``): every case a real
request through real ccxt ``okx`` (built by rayarb's ``make_exchange``) over a real socket to an in-process OKX-dialect
venue. A failed order arrives as top-level code "1" with the order's code in ``data[0].sCode``: that code decides.

- definite rejections: 51008 balance, 51020/51121/51005 size, 51006 price limit, 51000 parameter, 51001 instrument;
- duplicate client order id: 51016 (ccxt says InvalidOrder; rayarb looks the order up and adopts it);
- not found: 51603 (lookup), 51400 (cancel);
- retryable: 50011 (HTTP 429), 50102 (timestamp);
- authentication: 50111 key, 50105 passphrase, 50113 signature (and ccxt's own check of missing keys);
- unknown outcome: 50004 (a 5xx whose order was placed), 50026 (system error), a bare 5xx, a dropped connection.
"""
from __future__ import annotations

from decimal import Decimal as D
from typing import Any, Callable

import pytest

from execution.api.errors import OKX_ERRORS, VenueReply, translate_ccxt_error, venue_reply_of, venue_rule
from execution.api.precision import rules_from_market
from execution.api.venue import make_exchange
from execution.error_handler import ErrorClass, error_class

SYMBOL = "BTC/USDT"
INST = "BTC-USDT"
DEF, RET, UNK, DUP, NF, AUTH = (ErrorClass.DEFINITE_REJECTION, ErrorClass.RETRYABLE, ErrorClass.UNKNOWN_OUTCOME,
                                ErrorClass.DUPLICATE_ID, ErrorClass.NOT_FOUND, ErrorClass.AUTHENTICATION)


@pytest.fixture
async def rayarb_okx(okx_venue: Any) -> Any:
    """Factory of rayarb's own ccxt ``okx`` clients on the venue (``make_exchange``: the exchange actor's)."""
    clients: list[Any] = []

    async def factory(**overrides: Any) -> Any:
        keys = dict(api_key=okx_venue.api_key, secret=okx_venue.secret, password=okx_venue.passphrase)
        keys.update(overrides)
        exchange = make_exchange("okx", url=okx_venue.url, timeout_ms=5_000, **keys)
        clients.append(exchange)
        return exchange

    yield factory
    for exchange in clients:
        await exchange.close()


async def _failure(call: Any, *, creating_order: bool = False) -> tuple[ErrorClass, VenueReply | None]:
    try:
        await call
    except Exception as error:  # noqa: BLE001 - the point is to classify whatever ccxt raised
        reply = venue_reply_of(error)
        return error_class(translate_ccxt_error(error, exchange="beta", client_order_id="c",
                                                creating_order=creating_order)), reply
    raise AssertionError("the venue accepted the request")


async def _class_of(call: Any, code: int | None, *, creating_order: bool = False) -> ErrorClass:
    """The class, after checking that the code the table read is the venue's (the order's sCode when it has one)."""
    found, reply = await _failure(call, creating_order=creating_order)
    if code is not None:
        assert reply is not None and reply.code == code, reply
    return found


def _raw(**fields: str) -> dict[str, str]:
    return {"instId": INST, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.001", "px": "100", **fields}


async def test_each_okx_code_reaches_its_class_through_ccxt(okx_venue: Any, rayarb_okx: Callable[..., Any]) -> None:
    client = await rayarb_okx()
    await client.load_markets()
    book = await client.fetch_order_book(SYMBOL, 5)
    ask, bid = D(str(book["asks"][0][0])), D(str(book["bids"][0][0]))
    taker = float((ask * D("1.01")).quantize(D("0.1")))
    passive = float((bid * D("0.9")).quantize(D("0.1")))
    # duplicate client order id (51016): the order exists
    await client.create_order(SYMBOL, "limit", "buy", 0.001, passive, {"clientOrderId": "okxTaken1"})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, passive, {"clientOrderId": "okxTaken1"}),
                           51016, creating_order=True) is DUP
    # definite rejections, each by the order's sCode under top-level code "1"
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 10, taker, {"timeInForce": "IOC"}),
                           51008, creating_order=True) is DEF
    for fields, code in (({"sz": "0.000001"}, 51020), ({"sz": "0.000015"}, 51121), ({"sz": "100000"}, 51005),
                         ({"px": "2000000"}, 51006), ({"px": "60000.001"}, 51000), ({"clOrdId": "has-a-dash"}, 51000),
                         ({"instId": "DOGE-USDT"}, 51001)):
        assert await _class_of(client.private_post_trade_order(_raw(**fields)), code, creating_order=True) is DEF
    await okx_venue.set_faults({"reject_next_orders": 1})  # 51000 by default
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}),
                           51000, creating_order=True) is DEF
    # not found: a lookup (51603), a cancel (51400)
    assert await _class_of(client.fetch_order(None, SYMBOL, {"clientOrderId": "neverSent1"}), 51603) is NF
    assert await _class_of(client.cancel_order(None, SYMBOL, {"clientOrderId": "neverSent1"}), 51400) is NF
    # retryable: throttled (HTTP 429, 50011), a clock 45 s off (50102)
    await okx_venue.set_faults({"throttle_next": 1})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}),
                           50011, creating_order=True) is RET
    skewed = await rayarb_okx()
    await skewed.load_markets()
    skewed.nonce = lambda: skewed.milliseconds() - 45_000
    assert await _class_of(skewed.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}),
                           50102, creating_order=True) is RET
    # authentication: unknown key, wrong passphrase, wrong secret (signature), no key at all
    for overrides, code in (({"api_key": "sim-beta-0000000000000000"}, 50111), ({"password": "NotThePassphrase1"}, 50105),
                            ({"secret": "0" * 48}, 50113)):
        stranger = await rayarb_okx(**overrides)
        stranger.has["fetchCurrencies"] = False  # load_markets would already fail on the signed asset/currencies
        await stranger.load_markets()
        assert await _class_of(stranger.fetch_balance(), code) is AUTH
    keyless = await rayarb_okx(api_key=None, secret=None, password=None)
    await keyless.load_markets()
    assert await _class_of(keyless.fetch_balance(), None) is AUTH  # ccxt's own check: nothing was sent
    # unknown outcome: 50004 (a 5xx, the order placed), a bare 5xx (50026), a connection dropped after the order
    await okx_venue.set_faults({"accept_then_reject_next": 1, "reject_status": 500, "reject_code": -1007})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}),
                           50004, creating_order=True) is UNK
    await okx_venue.set_faults({"error_share": 1.0})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}),
                           None, creating_order=True) is UNK
    assert await _class_of(client.fetch_balance(), None) is UNK
    await okx_venue.set_faults({"error_share": 0.0, "accept_then_drop_next": 1})
    assert await _class_of(client.create_order(SYMBOL, "limit", "buy", 0.001, taker, {"timeInForce": "IOC"}), None,
                           creating_order=True) is UNK


def test_the_table_classifies_by_the_orders_scode_not_the_envelopes_code_1() -> None:
    from execution.api.errors import _reply_from_body
    body = ('{"code":"1","data":[{"clOrdId":"a1","ordId":"","sCode":"51016","sMsg":"Duplicated clOrdId","tag":""}],'
            '"msg":"All operations failed"}')
    reply = _reply_from_body(200, body)
    assert (reply.code, reply.message, reply.per_order) == (51016, "Duplicated clOrdId", True)
    assert venue_rule("okx", reply.code, reply.message).error_class is DUP
    # a batch partly failed: the failing order's code
    reply = _reply_from_body(200, '{"code":"2","data":[{"sCode":"0"},{"sCode":"51008","sMsg":"x"}],"msg":""}')
    assert reply.code == 51008 and venue_rule("okx", reply.code, None).error_class is DEF
    # a top-level code with empty data is the code itself
    reply = _reply_from_body(401, '{"code":"50113","msg":"Invalid Sign.","data":[]}')
    assert (reply.code, reply.per_order) == (50113, False)
    assert venue_rule("okx", 50113, None).error_class is AUTH
    # every rule's class is one of the six, and the codes the brief lists are all in the table
    listed = {51008: DEF, 51020: DEF, 51121: DEF, 51005: DEF, 51006: DEF, 51000: DEF, 51001: DEF, 51016: DUP,
              51603: NF, 51400: NF, 50011: RET, 50102: RET, 50004: UNK, 50026: UNK,
              **{code: AUTH for code in (*range(50103, 50108), *range(50111, 50114))}}
    for code, expected in listed.items():
        assert venue_rule("okx", code, None).error_class is expected, code
    assert all(rule.error_class in set(ErrorClass) for rule in OKX_ERRORS)


def test_an_unlisted_order_code_is_a_refusal_and_an_unlisted_top_level_code_is_unknown() -> None:
    import ccxt
    refused = ccxt.ExchangeError('okx {"code":"1","data":[{"sCode":"51999","sMsg":"new rule"}],"msg":""}')
    assert error_class(translate_ccxt_error(refused, exchange="beta", creating_order=True)) is DEF
    busy = ccxt.ExchangeNotAvailable('okx {"code":"50026","data":[],"msg":"System error, please try again later."}')
    assert error_class(translate_ccxt_error(busy, exchange="beta", creating_order=True)) is UNK
    odd = ccxt.ExchangeError('okx {"code":"59999","data":[],"msg":"something"}')
    assert error_class(translate_ccxt_error(odd, exchange="beta", creating_order=True)) is UNK


async def test_okx_market_rules_have_no_minimum_notional_and_take_tick_lot_and_min_size(
        rayarb_okx: Callable[..., Any]) -> None:
    client = await rayarb_okx()
    markets = await client.load_markets()
    market = markets[SYMBOL]
    assert market["limits"]["cost"]["min"] is None  # OKX states no minimum notional
    rules = rules_from_market("beta", market)
    assert rules.min_notional == 0
    info = market["info"]
    assert rules.price_tick == D(info["tickSz"]) and rules.amount_step == D(info["lotSz"])
    assert rules.min_amount == D(info["minSz"]) and rules.max_amount == D(info["maxLmtSz"])
    assert (rules.base, rules.quote) == ("BTC", "USDT")


# --- what the order manager does with each class, on an OKX venue (acknowledgements carry ids only) ------------------

@pytest.fixture
def journal(tmp_path):
    from execution.journal import Journal
    with Journal(tmp_path / "journal.sqlite") as journal:
        yield journal


@pytest.fixture
async def okx_desk(okx_venue: Any, rayarb_okx: Callable[..., Any], journal: Any, http: Any) -> Any:
    from tests.simulator.test_error_classes import Desk
    client = await rayarb_okx()
    await client.load_markets()
    return Desk(okx_venue, client, journal, http)


async def test_an_ioc_through_the_order_manager_is_settled_from_the_lookup_with_its_fills(okx_desk: Any,
                                                                                          journal: Any) -> None:
    from execution.types import OrderStatus, Side, TimeInForce
    order = await okx_desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await okx_desk.taker_buy_price(),
                                                time_in_force=TimeInForce.IOC)
    assert order.status is OrderStatus.FILLED and order.filled == D("0.001")
    assert okx_desk.adapter.submits == [order.client_order_id] and okx_desk.adapter.queries == []
    [placed] = await okx_desk.venue_orders(order.client_order_id)
    assert order.exchange_order_id == str(placed["orderId"])
    fills = journal.fills(client_order_id=order.client_order_id)  # journaled once each, by trade id
    assert fills and sum(f.amount for f in fills) == order.filled
    assert len({f.trade_id for f in fills}) == len(fills) and all(f.fee > 0 and f.fee_asset == "BTC" for f in fills)


async def test_okx_refusals_are_rejected_at_once_and_never_looked_up(okx_desk: Any, okx_venue: Any) -> None:
    from execution.types import OrderStatus, Side, TimeInForce
    price = await okx_desk.taker_buy_price()
    broke = await okx_desk.manager.create_order(SYMBOL, Side.BUY, D(10), price, time_in_force=TimeInForce.IOC)
    assert broke.status is OrderStatus.REJECTED and broke.reason.startswith("definite_rejection")
    await okx_venue.set_faults({"throttle_next": 1})
    throttled = await okx_desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price,
                                                    time_in_force=TimeInForce.IOC)
    assert throttled.status is OrderStatus.REJECTED and throttled.reason.startswith("retryable")
    assert okx_desk.adapter.queries == []
    assert await okx_desk.venue_orders(broke.client_order_id) == []
    assert await okx_desk.venue_orders(throttled.client_order_id) == []


async def test_an_okx_duplicate_client_order_id_is_looked_up_and_adopted_never_resent(okx_desk: Any) -> None:
    from execution.types import OrderStatus, Side, TimeInForce
    price = await okx_desk.taker_buy_price()
    taken = "okxTakenByHand1"
    await okx_desk.client.create_order(SYMBOL, "limit", "buy", 0.001, float(price),
                                       {"clientOrderId": taken, "timeInForce": "IOC"})
    order = await okx_desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), price, client_order_id=taken,
                                                time_in_force=TimeInForce.IOC)
    assert order.status is OrderStatus.UNKNOWN and "already has this client order id" in order.reason
    await okx_desk.manager.refresh(taken)
    assert order.status is OrderStatus.FILLED and order.exchange_order_id is not None
    assert okx_desk.adapter.submits == [taken] and okx_desk.adapter.queries == [taken]
    assert len(await okx_desk.venue_orders(taken)) == 1


async def test_an_okx_50004_is_unknown_and_found_by_lookup(okx_desk: Any, okx_venue: Any) -> None:
    from execution.types import OrderStatus, Side, TimeInForce
    await okx_venue.set_faults({"accept_then_reject_next": 1, "reject_status": 500})
    order = await okx_desk.manager.create_order(SYMBOL, Side.BUY, D("0.001"), await okx_desk.taker_buy_price(),
                                                time_in_force=TimeInForce.IOC)
    assert order.status is OrderStatus.UNKNOWN and okx_desk.adapter.queries == []
    await okx_desk.manager.refresh(order.client_order_id)
    assert order.status is OrderStatus.FILLED and order.filled == D("0.001")
    assert okx_desk.adapter.submits == [order.client_order_id]
    assert len(await okx_desk.venue_orders(order.client_order_id)) == 1
