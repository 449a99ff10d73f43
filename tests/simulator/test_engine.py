"""Unit tests of the simulator's matching engine: every order type, every refusal and how ccxt reads the results.

Over 500 lines because it is one table of cases per order type against one engine fixture (sections below); each test
is a few lines and they read as the engine's specification."""
from __future__ import annotations

import json
from decimal import Decimal

import ccxt
import pytest

from execution.api.venue import make_exchange
from simulator.config import AccountConfig, SimConfig, VenueConfig
from simulator.engine import BinanceError, VenueEngine

D = Decimal
SYMBOL = "BTCUSDT"


class Clock:
    def __init__(self) -> None:
        self.ms = 1_700_000_000_000

    def __call__(self) -> int:
        return self.ms


def make_engine(*, maker_fee: str = "0.001", taker_fee: str = "0.002", balances: dict | None = None) -> tuple[VenueEngine, Clock]:
    cfg = SimConfig.default()
    start = balances or {"USDT": D("100000"), "BTC": D("2"), "ETH": D("40")}
    accounts = [AccountConfig(api_key=f"key-{n}", secret=f"secret-{n}", balances=dict(start), name=n) for n in ("taker", "maker", "other")]
    venue = VenueConfig(name="alpha", maker_fee=D(maker_fee), taker_fee=D(taker_fee), accounts=accounts)
    clock = Clock()
    return VenueEngine(venue, cfg.symbols, clock), clock


@pytest.fixture
def venue() -> VenueEngine:
    return make_engine()[0]


def acct(engine: VenueEngine, name: str):
    account = engine.account_by_name(name)
    assert account is not None
    return account


def limit(side: str, qty: str, price: str, tif: str = "GTC", **extra: str) -> dict[str, str]:
    return {"symbol": SYMBOL, "side": side, "type": "LIMIT", "timeInForce": tif, "quantity": qty, "price": price, **extra}


def market(side: str, **extra: str) -> dict[str, str]:
    return {"symbol": SYMBOL, "side": side, "type": "MARKET", **extra}


def bal(engine: VenueEngine, name: str, asset: str) -> tuple[Decimal, Decimal]:
    b = acct(engine, name).balance(asset)
    return b.free, b.locked


def state(engine: VenueEngine) -> tuple:
    """Everything an order could change."""
    balances = {a.name: {k: (v.free, v.locked) for k, v in a.balances.items()} for a in engine.accounts}
    return (balances, engine.depth({"symbol": SYMBOL, "limit": "5000"}), engine._next_order_id, len(engine.trades),
            dict(engine.collected_fees), {a.name: set(a.open_orders) for a in engine.accounts})


def asks_ladder(engine: VenueEngine) -> None:
    """The maker account rests asks 0.1 @ 60000, 0.2 @ 60010, 0.3 @ 60020 and bids 0.1 @ 59990, 0.2 @ 59980."""
    maker = acct(engine, "maker")
    for qty, price in (("0.1", "60000"), ("0.2", "60010"), ("0.3", "60020")):
        engine.new_order(maker, limit("SELL", qty, price))
    for qty, price in (("0.1", "59990"), ("0.2", "59980")):
        engine.new_order(maker, limit("BUY", qty, price))


def total_assets(engine: VenueEngine) -> dict[str, Decimal]:
    return engine.total_assets()


# ---------------------------------------------------------------- LIMIT GTC


def test_limit_buy_rests_and_locks_quote(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    result = venue.new_order(taker, limit("BUY", "0.5", "50000.00", newClientOrderId="my-1"))
    assert result["status"] == "NEW"
    assert result["clientOrderId"] == "my-1"
    assert result["executedQty"] == "0.00000000"
    assert result["fills"] == []
    assert bal(venue, "taker", "USDT") == (D("75000"), D("25000"))
    depth = venue.depth({"symbol": SYMBOL})
    assert depth["bids"] == [["50000.00000000", "0.50000000"]]
    assert depth["asks"] == []
    assert [o["orderId"] for o in venue.open_orders(taker, {"symbol": SYMBOL})] == [result["orderId"]]


def test_limit_sell_rests_and_locks_base(venue: VenueEngine) -> None:
    venue.new_order(acct(venue, "taker"), limit("SELL", "1.5", "70000"))
    assert bal(venue, "taker", "BTC") == (D("0.5"), D("1.5"))


def test_crossing_limit_fills_at_maker_prices_then_rests_partially(venue: VenueEngine) -> None:
    asks_ladder(venue)
    before = total_assets(venue)
    taker = acct(venue, "taker")
    result = venue.new_order(taker, limit("BUY", "0.5", "60010"))
    assert result["status"] == "PARTIALLY_FILLED"
    assert result["executedQty"] == "0.30000000"
    assert [(f["price"], f["qty"]) for f in result["fills"]] == [("60000.00000000", "0.10000000"), ("60010.00000000", "0.20000000")]
    # Taker (buyer) pays the 0.2% taker fee in BTC; maker (seller) pays 0.1% in USDT.
    assert [f["commission"] for f in result["fills"]] == ["0.00020000", "0.00040000"]
    assert {f["commissionAsset"] for f in result["fills"]} == {"BTC"}
    spent = D("60000") * D("0.1") + D("60010") * D("0.2")
    rest_lock = D("60010") * D("0.2")
    assert bal(venue, "taker", "USDT") == (D("100000") - spent - rest_lock, rest_lock)
    assert bal(venue, "taker", "BTC") == (D("2") + D("0.3") - D("0.0006"), D("0"))
    maker_fee = (spent * D("0.001")).quantize(D("0.00000001"))
    assert bal(venue, "maker", "USDT")[0] == D("100000") - D("59990") * D("0.1") - D("59980") * D("0.2") + spent - maker_fee
    assert venue.collected_fees == {"BTC": D("0.0006"), "USDT": maker_fee}
    assert total_assets(venue) == before
    depth = venue.depth({"symbol": SYMBOL})
    assert depth["asks"][0] == ["60020.00000000", "0.30000000"]
    assert depth["bids"][0] == ["60010.00000000", "0.20000000"]
    maker_orders = venue.all_orders(acct(venue, "maker"), {"symbol": SYMBOL})
    assert [o["status"] for o in maker_orders[:2]] == ["FILLED", "FILLED"]


def test_maker_partial_fill_keeps_rest_locked(venue: VenueEngine) -> None:
    asks_ladder(venue)
    venue.new_order(acct(venue, "taker"), limit("BUY", "0.05", "60000"))
    assert bal(venue, "maker", "BTC") == (D("2") - D("0.6"), D("0.55"))
    order = venue.all_orders(acct(venue, "maker"), {"symbol": SYMBOL})[0]
    assert order["status"] == "PARTIALLY_FILLED"
    assert order["executedQty"] == "0.05000000"


# ---------------------------------------------------------------- IOC / FOK


def test_ioc_fills_what_it_can_and_expires_the_rest(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), limit("BUY", "0.5", "60000", tif="IOC"))
    assert result["status"] == "EXPIRED"
    assert result["executedQty"] == "0.10000000"
    assert venue.open_orders(acct(venue, "taker"), {}) == []
    assert bal(venue, "taker", "USDT") == (D("100000") - D("6000"), D("0"))


def test_ioc_fully_filled_is_filled(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), limit("SELL", "0.3", "59980", tif="IOC"))
    assert result["status"] == "FILLED"
    assert [f["price"] for f in result["fills"]] == ["59990.00000000", "59980.00000000"]
    # Seller (taker) pays its commission in USDT.
    assert {f["commissionAsset"] for f in result["fills"]} == {"USDT"}


def test_fok_that_cannot_fill_fully_expires_untouched(venue: VenueEngine) -> None:
    asks_ladder(venue)
    before = state(venue)
    result = venue.new_order(acct(venue, "taker"), limit("BUY", "0.4", "60010", tif="FOK"))
    assert result["status"] == "EXPIRED"
    assert result["executedQty"] == "0.00000000"
    assert result["fills"] == []
    after = state(venue)
    assert after[0] == before[0] and after[1]["asks"] == before[1]["asks"] and after[3] == before[3]


def test_fok_that_can_fill_fills(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), limit("BUY", "0.3", "60010", tif="FOK"))
    assert result["status"] == "FILLED"
    assert result["cummulativeQuoteQty"] == "18002.00000000"


# ---------------------------------------------------------------- LIMIT_MAKER


def test_limit_maker_that_would_cross_is_refused_and_nothing_changes(venue: VenueEngine) -> None:
    asks_ladder(venue)
    before = state(venue)
    with pytest.raises(BinanceError) as info:
        venue.new_order(acct(venue, "taker"), {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.1", "price": "60000"})
    assert (info.value.code, info.value.msg, info.value.http_status) == (-2010, "Order would immediately match and take.", 400)
    assert state(venue) == before


def test_limit_maker_that_does_not_cross_rests(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.1", "price": "59999.99"})
    assert result["status"] == "NEW"
    assert result["type"] == "LIMIT_MAKER"
    assert venue.depth({"symbol": SYMBOL})["bids"][0] == ["59999.99000000", "0.10000000"]


# ---------------------------------------------------------------- MARKET


def test_market_buy_by_quantity_walks_the_book(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.25"))
    assert result["status"] == "FILLED"
    assert result["price"] == "0.00000000"
    assert [(f["price"], f["qty"]) for f in result["fills"]] == [("60000.00000000", "0.10000000"), ("60010.00000000", "0.15000000")]
    assert result["cummulativeQuoteQty"] == "15001.50000000"


def test_market_order_expires_when_the_book_runs_out(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), market("BUY", quantity="1.0"))
    assert result["status"] == "EXPIRED"
    assert result["executedQty"] == "0.60000000"
    assert venue.depth({"symbol": SYMBOL})["asks"] == []
    assert bal(venue, "taker", "USDT")[1] == 0


def test_market_buy_by_quote_spends_at_most_the_quote(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), market("BUY", quoteOrderQty="10000"))
    assert result["status"] == "FILLED"
    assert result["origQuoteOrderQty"] == "10000.00000000"
    assert result["origQty"] == result["executedQty"]
    # 0.1 @ 60000 = 6000, then floor(4000 / 60010, step 0.00001) = 0.06665 @ 60010
    assert result["executedQty"] == "0.16665000"
    assert D(result["cummulativeQuoteQty"]) <= D("10000")
    assert bal(venue, "taker", "USDT")[0] == D("100000") - D(result["cummulativeQuoteQty"])


def test_market_sell_by_quote(venue: VenueEngine) -> None:
    asks_ladder(venue)
    result = venue.new_order(acct(venue, "taker"), market("SELL", quoteOrderQty="5998"))
    assert result["status"] == "FILLED"
    assert result["executedQty"] == "0.09998000"
    assert bal(venue, "taker", "BTC")[0] == D("2") - D("0.09998")


def test_market_on_empty_book_expires_with_nothing(venue: VenueEngine) -> None:
    result = venue.new_order(acct(venue, "taker"), market("SELL", quantity="0.1"))
    assert result["status"] == "EXPIRED"
    assert result["executedQty"] == "0.00000000"


def test_market_quantity_notional_uses_the_book_price(venue: VenueEngine) -> None:
    asks_ladder(venue)
    with pytest.raises(BinanceError) as info:
        venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.00005"))  # about 3 USDT
    assert (info.value.code, info.value.msg) == (-1013, "Filter failure: NOTIONAL")


# ---------------------------------------------------------------- response types


def test_response_types(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    ack = venue.new_order(taker, limit("BUY", "0.1", "50000", newOrderRespType="ACK"))
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = venue.new_order(taker, limit("BUY", "0.1", "50000", newOrderRespType="RESULT"))
    assert "fills" not in result and result["status"] == "NEW" and result["transactTime"] == venue.now_ms()
    full = venue.new_order(taker, limit("BUY", "0.1", "50000"))
    assert full["fills"] == []
    assert ack["orderId"] < result["orderId"] < full["orderId"]
    assert "code" not in full


# ---------------------------------------------------------------- query / cancel


def test_get_order_by_id_and_by_client_id(venue: VenueEngine) -> None:
    clock = venue._clock_ms
    taker = acct(venue, "taker")
    placed = venue.new_order(taker, limit("BUY", "0.1", "50000", newClientOrderId="abc.DEF:1/x_y-z"))
    by_id = venue.get_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    by_cid = venue.get_order(taker, {"symbol": SYMBOL, "origClientOrderId": "abc.DEF:1/x_y-z"})
    assert by_id == by_cid
    assert by_id["status"] == "NEW" and by_id["time"] == clock() and by_id["updateTime"] == clock()
    assert by_id["isWorking"] is True


def test_get_unknown_order_is_order_does_not_exist(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    for params in ({"symbol": SYMBOL, "orderId": "999"}, {"symbol": SYMBOL, "origClientOrderId": "nope"}):
        with pytest.raises(BinanceError) as info:
            venue.get_order(taker, params)
        assert (info.value.code, info.value.msg) == (-2013, "Order does not exist.")
    # Another account's order is not visible.
    placed = venue.new_order(acct(venue, "other"), limit("BUY", "0.1", "50000"))
    with pytest.raises(BinanceError):
        venue.get_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    # An order of another symbol is not found under this one.
    with pytest.raises(BinanceError):
        venue.get_order(acct(venue, "other"), {"symbol": "ETHUSDT", "orderId": str(placed["orderId"])})


def test_get_without_any_id_is_mandatory_parameter(venue: VenueEngine) -> None:
    with pytest.raises(BinanceError) as info:
        venue.get_order(acct(venue, "taker"), {"symbol": SYMBOL})
    assert info.value.code == -1102


def test_cancel_unlocks_and_reports(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    placed = venue.new_order(taker, limit("BUY", "0.5", "50000", newClientOrderId="c1"))
    venue._clock_ms.ms += 5  # type: ignore[attr-defined]
    cancelled = venue.cancel_order(taker, {"symbol": SYMBOL, "origClientOrderId": "c1", "newClientOrderId": "cancel-1"})
    assert cancelled["status"] == "CANCELED"
    assert cancelled["origClientOrderId"] == "c1"
    assert cancelled["clientOrderId"] == "cancel-1"
    assert cancelled["orderId"] == placed["orderId"]
    assert cancelled["transactTime"] == placed["transactTime"] + 5
    assert bal(venue, "taker", "USDT") == (D("100000"), D("0"))
    assert venue.depth({"symbol": SYMBOL})["bids"] == []
    got = venue.get_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    assert got["status"] == "CANCELED" and got["updateTime"] == placed["transactTime"] + 5
    with pytest.raises(BinanceError) as info:
        venue.cancel_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    assert (info.value.code, info.value.msg) == (-2011, "Unknown order sent.")


def test_cancel_of_filled_or_unknown_order_is_unknown_order(venue: VenueEngine) -> None:
    asks_ladder(venue)
    taker = acct(venue, "taker")
    filled = venue.new_order(taker, limit("BUY", "0.1", "60000"))
    assert filled["status"] == "FILLED"
    for params in ({"symbol": SYMBOL, "orderId": str(filled["orderId"])}, {"symbol": SYMBOL, "orderId": "424242"}):
        with pytest.raises(BinanceError) as info:
            venue.cancel_order(taker, params)
        assert info.value.code == -2011


def test_cancel_partially_filled_order_releases_only_the_rest(venue: VenueEngine) -> None:
    asks_ladder(venue)
    taker = acct(venue, "taker")
    placed = venue.new_order(taker, limit("BUY", "0.3", "60000"))
    assert placed["status"] == "PARTIALLY_FILLED"
    venue.cancel_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    assert bal(venue, "taker", "USDT") == (D("100000") - D("6000"), D("0"))
    assert venue.get_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})["executedQty"] == "0.10000000"


def test_duplicate_client_order_id_among_open_orders(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    venue.new_order(taker, limit("BUY", "0.1", "50000", newClientOrderId="dup"))
    before = state(venue)
    with pytest.raises(BinanceError) as info:
        venue.new_order(taker, limit("BUY", "0.1", "50000", newClientOrderId="dup"))
    assert (info.value.code, info.value.msg) == (-2010, "Duplicate order sent.")
    assert state(venue) == before
    # Another account may use the same id; after the cancel the id is free again.
    venue.new_order(acct(venue, "other"), limit("BUY", "0.1", "50000", newClientOrderId="dup"))
    venue.cancel_order(taker, {"symbol": SYMBOL, "origClientOrderId": "dup"})
    again = venue.new_order(taker, limit("BUY", "0.1", "50000", newClientOrderId="dup"))
    assert venue.get_order(taker, {"symbol": SYMBOL, "origClientOrderId": "dup"})["orderId"] == again["orderId"]


def test_insufficient_balance_changes_nothing(venue: VenueEngine) -> None:
    asks_ladder(venue)
    taker = acct(venue, "taker")
    venue.new_order(taker, limit("BUY", "1.5", "50000"))  # locks 75000
    before = state(venue)
    cases = [
        limit("BUY", "0.5", "60000"),  # needs 30000 > 25000 free
        limit("SELL", "2.00001", "70000"),
        market("BUY", quoteOrderQty="25000.01"),
        market("SELL", quantity="2.1"),
    ]
    for params in cases:
        with pytest.raises(BinanceError) as info:
            venue.new_order(taker, params)
        assert (info.value.code, info.value.msg) == (-2010, "Account has insufficient balance for requested action."), params
        assert state(venue) == before


def test_market_buy_by_quantity_checks_the_real_cost() -> None:
    venue, _ = make_engine(balances={"USDT": D("20000"), "BTC": D("1")})
    asks_ladder(venue)
    with pytest.raises(BinanceError) as info:
        venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.4"))  # 6000 + 12002 + 6002 > 20000
    assert info.value.msg == "Account has insufficient balance for requested action."
    result = venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.3"))  # 18002
    assert result["status"] == "FILLED"


# ---------------------------------------------------------------- validation

BAD_REQUESTS = [
    ({"side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1", "price": "50000"}, -1102,
     "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000") | {"symbol": "XYZUSDT"}, -1121, "Invalid symbol.", ccxt.BadSymbol),
    ({k: v for k, v in limit("BUY", "0.1", "50000").items() if k != "side"}, -1102,
     "Mandatory parameter 'side' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    ({k: v for k, v in limit("BUY", "0.1", "50000").items() if k != "type"}, -1102,
     "Mandatory parameter 'type' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    ({k: v for k, v in limit("BUY", "0.1", "50000").items() if k != "quantity"}, -1102,
     "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    (limit("BUY", "", "50000"), -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    ({k: v for k, v in limit("BUY", "0.1", "50000").items() if k != "price"}, -1102,
     "Mandatory parameter 'price' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    ({k: v for k, v in limit("BUY", "0.1", "50000").items() if k != "timeInForce"}, -1102,
     "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.", ccxt.BadRequest),
    (limit("HOLD", "0.1", "50000"), -1100, "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000") | {"type": "LIMITED"}, -1100, None, ccxt.BadRequest),
    (limit("BUY", "0.1", "50000") | {"type": "STOP_LOSS_LIMIT"}, -2010, "Order type not supported for this symbol.", ccxt.InvalidOrder),
    (limit("BUY", "0.1", "50000", tif="GTD"), -1115, "Invalid timeInForce.", ccxt.BadRequest),
    ({"symbol": SYMBOL, "side": "BUY", "type": "LIMIT_MAKER", "quantity": "0.1", "price": "50000", "timeInForce": "IOC"}, -1014,
     "Unsupported order combination.", ccxt.InvalidOrder),
    (market("BUY", quantity="0.1", price="50000"), -1106, "Parameter 'price' sent when not required.", ccxt.BadRequest),
    (market("BUY", quantity="0.1", timeInForce="GTC"), -1106, "Parameter 'timeInForce' sent when not required.", ccxt.BadRequest),
    (market("BUY"), -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!", ccxt.BadRequest),
    (market("BUY", quantity="0.1", quoteOrderQty="100"), -1106, "Parameter 'quoteOrderQty' sent when not required.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", quoteOrderQty="100"), -1106, "Parameter 'quoteOrderQty' sent when not required.", ccxt.BadRequest),
    (limit("BUY", "1e-1", "50000"), -1100,
     "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.", ccxt.BadRequest),
    (limit("BUY", "-0.1", "50000"), -1100, None, ccxt.BadRequest),
    (limit("BUY", "0.1", "50,000"), -1100, None, ccxt.BadRequest),
    (limit("BUY", "0.100000001", "50000"), -1111, "Precision is over the maximum defined for this asset.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000.001"), -1013, "Filter failure: PRICE_FILTER", ccxt.InvalidOrder),
    (limit("BUY", "0.1", "0"), -1013, "Filter failure: PRICE_FILTER", ccxt.InvalidOrder),
    (limit("BUY", "0.1", "2000000"), -1013, "Filter failure: PRICE_FILTER", ccxt.InvalidOrder),
    (limit("BUY", "0.000015", "50000"), -1013, "Filter failure: LOT_SIZE", ccxt.InvalidOrder),
    (limit("BUY", "0", "50000"), -1013, "Filter failure: LOT_SIZE", ccxt.InvalidOrder),
    (limit("BUY", "9001", "1"), -1013, "Filter failure: LOT_SIZE", ccxt.InvalidOrder),
    (limit("BUY", "0.00001", "50000"), -1013, "Filter failure: NOTIONAL", ccxt.BadRequest),
    (market("BUY", quoteOrderQty="4.99"), -1013, "Filter failure: NOTIONAL", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", newClientOrderId="has space"), -1100,
     "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", newClientOrderId="x" * 37), -1100, None, ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", newOrderRespType="ALL"), -1100, None, ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", stopPrice="49000"), -1106, "Parameter 'stopPrice' sent when not required.", ccxt.BadRequest),
    (limit("BUY", "0.1", "50000", colour="blue"), -1104, None, ccxt.BadRequest),
]


@pytest.fixture(scope="module")
def ccxt_binance():
    exchange = make_exchange("binance", url="http://127.0.0.1:9", flavour="sync")
    yield exchange


def raise_through_ccxt(exchange, error: BinanceError, path: str = "/api/v3/order") -> None:
    body = json.dumps(error.body())
    exchange.handle_errors(error.http_status, "Bad Request", "http://127.0.0.1:9" + path, "POST", {}, body, json.loads(body), None, None)


@pytest.mark.parametrize("params,code,msg,ccxt_error", BAD_REQUESTS)
def test_refusals_have_binance_codes_and_reach_ccxt_as_binance_would(venue, ccxt_binance, params, code, msg, ccxt_error) -> None:
    asks_ladder(venue)
    before = state(venue)
    with pytest.raises(BinanceError) as info:
        venue.new_order(acct(venue, "taker"), params)
    assert info.value.code == code
    assert info.value.http_status == 400
    if msg is not None:
        assert info.value.msg == msg
    assert state(venue) == before
    with pytest.raises(ccxt_error):
        raise_through_ccxt(ccxt_binance, info.value)


@pytest.mark.parametrize("error,ccxt_error", [
    (BinanceError(-2010, "Account has insufficient balance for requested action."), ccxt.InsufficientFunds),
    (BinanceError(-2010, "Order would immediately match and take."), ccxt.OrderImmediatelyFillable),
    (BinanceError(-2010, "Duplicate order sent."), ccxt.InvalidOrder),
    (BinanceError(-2013, "Order does not exist."), ccxt.OrderNotFound),
    (BinanceError(-2011, "Unknown order sent."), ccxt.OrderNotFound),
])
def test_order_errors_map_to_the_ccxt_exceptions_of_real_binance(ccxt_binance, error, ccxt_error) -> None:
    with pytest.raises(ccxt_error):
        raise_through_ccxt(ccxt_binance, error)
    if ccxt_error is ccxt.InvalidOrder:
        with pytest.raises(ccxt.InvalidOrder) as info:
            raise_through_ccxt(ccxt_binance, error)
        assert not isinstance(info.value, ccxt.DuplicateOrderId)


def test_public_endpoint_refusals(venue: VenueEngine) -> None:
    with pytest.raises(BinanceError) as info:
        venue.depth({})
    assert info.value.code == -1102
    with pytest.raises(BinanceError) as info:
        venue.depth({"symbol": "NOPE"})
    assert info.value.code == -1121
    with pytest.raises(BinanceError) as info:
        venue.depth({"symbol": SYMBOL, "limit": "ten"})
    assert info.value.code == -1100
    with pytest.raises(BinanceError) as info:
        venue.ticker_24hr({"symbols": '["BTCUSDT","NOPE"]'})
    assert info.value.code == -1121
    with pytest.raises(BinanceError) as info:
        venue.book_ticker({"symbols": "BTCUSDT"})
    assert info.value.code == -1100
    with pytest.raises(BinanceError) as info:
        venue.my_trades(acct(venue, "taker"), {})
    assert info.value.code == -1102


# ---------------------------------------------------------------- priority, listings, stats


def test_price_time_priority(venue: VenueEngine) -> None:
    a, b, c = acct(venue, "maker"), acct(venue, "other"), acct(venue, "maker")
    first = venue.new_order(a, limit("SELL", "0.1", "60000"))
    second = venue.new_order(b, limit("SELL", "0.1", "60000"))
    better = venue.new_order(c, limit("SELL", "0.1", "59999"))
    result = venue.new_order(acct(venue, "taker"), limit("BUY", "0.25", "60000"))
    trades = venue.my_trades(acct(venue, "taker"), {"symbol": SYMBOL})
    assert [t["price"] for t in trades] == ["59999.00000000", "60000.00000000", "60000.00000000"]
    maker_order_ids = [t.sell_order.order_id for t in venue.trades]
    assert maker_order_ids == [better["orderId"], first["orderId"], second["orderId"]]
    assert result["status"] == "FILLED"
    assert venue.get_order(b, {"symbol": SYMBOL, "orderId": str(second["orderId"])})["executedQty"] == "0.05000000"


def test_trade_and_order_ids_increase_and_are_unique(venue: VenueEngine) -> None:
    asks_ladder(venue)
    taker = acct(venue, "taker")
    ids = [venue.new_order(taker, market("BUY", quantity="0.05"))["orderId"] for _ in range(6)]
    assert ids == sorted(ids) and len(set(ids)) == 6
    trade_ids = [t.trade_id for t in venue.trades]
    assert trade_ids == sorted(set(trade_ids))


def test_my_trades_all_orders_and_open_orders_filters(venue: VenueEngine) -> None:
    asks_ladder(venue)
    taker = acct(venue, "taker")
    first = venue.new_order(taker, limit("BUY", "0.15", "60010"))
    second = venue.new_order(taker, limit("BUY", "0.1", "50000"))
    eth = venue.new_order(taker, {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", "price": "2000"})
    trades = venue.my_trades(taker, {"symbol": SYMBOL})
    assert len(trades) == 2 and all(t["isBuyer"] and not t["isMaker"] for t in trades)
    assert trades[0]["orderId"] == first["orderId"]
    assert venue.my_trades(taker, {"symbol": SYMBOL, "orderId": str(second["orderId"])}) == []
    assert len(venue.my_trades(taker, {"symbol": SYMBOL, "fromId": str(trades[1]["id"])})) == 1
    assert len(venue.my_trades(taker, {"symbol": SYMBOL, "limit": "1"})) == 1
    maker_trades = venue.my_trades(acct(venue, "maker"), {"symbol": SYMBOL})
    assert all(t["isMaker"] and not t["isBuyer"] and t["commissionAsset"] == "USDT" for t in maker_trades)
    assert [o["orderId"] for o in venue.all_orders(taker, {"symbol": SYMBOL})] == [first["orderId"], second["orderId"]]
    assert [o["orderId"] for o in venue.all_orders(taker, {"symbol": SYMBOL, "orderId": str(second["orderId"])})] == [second["orderId"]]
    assert {o["orderId"] for o in venue.open_orders(taker, {})} == {second["orderId"], eth["orderId"]}
    assert [o["orderId"] for o in venue.open_orders(taker, {"symbol": "ETHUSDT"})] == [eth["orderId"]]


def test_tickers_follow_trades_and_book(venue: VenueEngine) -> None:
    before = venue.ticker_price({"symbol": SYMBOL})
    assert before == {"symbol": SYMBOL, "price": "60000.00000000"}  # fair price before any book or trade
    asks_ladder(venue)
    venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.15"))
    ticker = venue.ticker_24hr({"symbol": SYMBOL})
    assert ticker["lastPrice"] == "60010.00000000"
    assert ticker["highPrice"] == "60010.00000000" and ticker["lowPrice"] == "60000.00000000"
    assert ticker["volume"] == "0.15000000" and ticker["count"] == 2
    assert ticker["bidPrice"] == "59990.00000000" and ticker["askPrice"] == "60010.00000000"
    assert isinstance(venue.ticker_24hr({}), list)
    both = venue.book_ticker({"symbols": '["BTCUSDT","ETHUSDT"]'})
    assert [t["symbol"] for t in both] == ["BTCUSDT", "ETHUSDT"]
    assert both[0]["askQty"] == "0.15000000"


def test_account_info(venue: VenueEngine) -> None:
    info = venue.account_info(acct(venue, "taker"), {})
    assert info["canTrade"] is True
    assert info["commissionRates"]["taker"] == "0.00200000"
    assert info["makerCommission"] == 10 and info["takerCommission"] == 20
    assert info["balances"] == [
        {"asset": "BTC", "free": "2.00000000", "locked": "0.00000000"},
        {"asset": "ETH", "free": "40.00000000", "locked": "0.00000000"},
        {"asset": "USDT", "free": "100000.00000000", "locked": "0.00000000"},
    ]
    assert "secret" not in json.dumps(info)


def test_exchange_info_lists_only_spot_fields(venue: VenueEngine) -> None:
    info = venue.exchange_info({})
    btc = info["symbols"][0]
    assert btc["orderTypes"] == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    for forbidden in ("contractType", "underlying", "deliveryDate", "expiryDate", "tradability"):
        assert forbidden not in btc
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert [s["symbol"] for s in venue.exchange_info({"symbol": "ETHUSDT"})["symbols"]] == ["ETHUSDT"]


# ---------------------------------------------------------------- depth stream


def test_depth_events_are_consecutive_and_match_depth(venue: VenueEngine) -> None:
    venue.drain_depth_events()
    asks_ladder(venue)
    first = venue.drain_depth_events()
    assert len(first) == 1 and first[0]["e"] == "depthUpdate" and first[0]["s"] == SYMBOL
    snapshot = venue.depth({"symbol": SYMBOL})
    assert first[0]["u"] == snapshot["lastUpdateId"]
    assert first[0]["u"] - first[0]["U"] + 1 == 5  # five levels created
    venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.1"))
    second = venue.drain_depth_events()
    assert second[0]["U"] == first[0]["u"] + 1
    assert second[0]["a"] == [["60000.00000000", "0.00000000"]]
    assert venue.drain_depth_events() == []


# ---------------------------------------------------------------- market maker and faults


def test_set_quotes_changes_only_levels_that_moved_and_replenishes(venue: VenueEngine) -> None:
    venue.set_quotes(SYMBOL, [(D("59990"), D("0.5")), (D("59980"), D("0.5"))], [(D("60010"), D("0.5")), (D("60020"), D("0.5"))])
    venue.drain_depth_events()
    first_ids = {o.order_id for o in venue.market_maker.open_orders.values()}
    venue.set_quotes(SYMBOL, [(D("59990"), D("0.5")), (D("59970"), D("0.5"))], [(D("60010"), D("0.5")), (D("60020"), D("0.5"))])
    event = venue.drain_depth_events()[0]
    assert event["b"] == [["59980.00000000", "0.00000000"], ["59970.00000000", "0.50000000"]]
    assert event["a"] == []
    assert len(first_ids & {o.order_id for o in venue.market_maker.open_orders.values()}) == 3
    venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.2"))
    assert venue.market_maker_quotes(SYMBOL)[1][D("60010")] == D("0.3")
    venue.set_quotes(SYMBOL, [(D("59990"), D("0.5")), (D("59970"), D("0.5"))], [(D("60010"), D("0.5")), (D("60020"), D("0.5"))])
    assert venue.market_maker_quotes(SYMBOL)[1][D("60010")] == D("0.5")
    # The market maker pays no fee; the client's fee is collected.
    assert venue.collected_fees == {"BTC": D("0.0004")}


def test_market_maker_quote_crossing_a_client_order_trades_with_it(venue: VenueEngine) -> None:
    taker = acct(venue, "taker")
    placed = venue.new_order(taker, limit("BUY", "0.1", "60000"))
    before = total_assets(venue)
    venue.set_quotes(SYMBOL, [(D("59900"), D("0.5"))], [(D("59950"), D("0.5"))])
    got = venue.get_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])})
    assert got["status"] == "FILLED"
    assert got["cummulativeQuoteQty"] == "6000.00000000"  # the resting client order sets the price
    assert venue.depth({"symbol": SYMBOL})["asks"] == [["59950.00000000", "0.40000000"]]
    assert total_assets(venue) == before


def test_partial_fills_only_fault(venue: VenueEngine) -> None:
    asks_ladder(venue)
    venue.partial_fills_only = True
    taker = acct(venue, "taker")
    ioc = venue.new_order(taker, limit("BUY", "0.2", "60010", tif="IOC"))
    assert ioc["status"] == "EXPIRED" and ioc["executedQty"] == "0.10000000"
    gtc = venue.new_order(taker, limit("BUY", "0.2", "60010"))
    assert gtc["status"] == "PARTIALLY_FILLED" and gtc["executedQty"] == "0.10000000"
    fok = venue.new_order(taker, limit("BUY", "0.02", "60020", tif="FOK"))
    assert fok["status"] == "EXPIRED" and fok["executedQty"] == "0.00000000"
    venue.partial_fills_only = False
    assert venue.new_order(taker, limit("BUY", "0.02", "60020", tif="FOK"))["status"] == "FILLED"


# ---------------------------------------------------------------- inspection


def test_sim_views_never_show_secrets_and_separate_the_market_maker(venue: VenueEngine) -> None:
    venue.set_quotes(SYMBOL, [(D("59990"), D("0.5"))], [(D("60010"), D("0.5"))])
    placed = venue.new_order(acct(venue, "taker"), market("BUY", quantity="0.1", newClientOrderId="sim-1"))
    orders = venue.sim_orders()
    assert [o["clientOrderId"] for o in orders] == ["sim-1"]
    assert orders[0]["account"] == "taker" and orders[0]["marketMaker"] is False
    assert orders[0]["fills"][0]["qty"] == "0.10000000" and orders[0]["orderId"] == placed["orderId"]
    with_mm = venue.sim_orders(include_market_maker=True)
    assert {o["account"] for o in with_mm} == {"taker", "market-maker"}
    assert all(o["marketMaker"] for o in with_mm if o["account"] == "market-maker")
    trades = venue.sim_trades()
    assert trades[0]["buyer"] == "taker" and trades[0]["seller"] == "market-maker"
    balances = venue.sim_balances()
    assert set(balances) == {"taker", "maker", "other", "market-maker"}
    assert set(venue.sim_balances(include_market_maker=False)) == {"taker", "maker", "other"}
    assert venue.sim_fees() == {"BTC": "0.00020000"}
    dumped = json.dumps([orders, with_mm, trades, balances])
    assert "secret-" not in dumped and "key-taker" not in dumped


def test_account_for_key(venue: VenueEngine) -> None:
    account = venue.account_for_key("key-taker")
    assert account is not None and account.name == "taker" and account.secret == "secret-taker"
    assert venue.account_for_key("nope") is None
    assert "secret" not in repr(account)


# ---------------------------------------------------------------- ccxt reads the answers


@pytest.fixture
def ccxt_with_markets(venue: VenueEngine):
    exchange = make_exchange("binance", url="http://127.0.0.1:9", flavour="sync")
    exchange.options.setdefault("crossMarginPairsData", [])
    exchange.options.setdefault("isolatedMarginPairsData", [])
    exchange.set_markets([exchange.parse_market(s) for s in venue.exchange_info({})["symbols"]])
    return exchange


def test_ccxt_parses_markets_orders_books_balances_and_trades(venue: VenueEngine, ccxt_with_markets) -> None:
    ex = ccxt_with_markets
    m = ex.market("BTC/USDT")
    assert m["spot"] and m["active"] and m["precision"]["price"] == 0.01 and m["limits"]["cost"]["min"] == 5
    assert ex.market("BTC/USDT")["id"] == SYMBOL
    asks_ladder(venue)
    taker = acct(venue, "taker")
    placed = venue.new_order(taker, limit("BUY", "0.5", "60010", newClientOrderId="cc-1"))
    order = ex.parse_order(placed, m)
    assert order["status"] == "open" and order["filled"] == 0.3 and order["remaining"] == pytest.approx(0.2)
    assert order["clientOrderId"] == "cc-1" and order["id"] == str(placed["orderId"])
    assert len(order["trades"]) == 2 and order["fee"]["currency"] == "BTC"
    assert order["fee"]["cost"] == pytest.approx(0.0006)
    cancelled = ex.parse_order(venue.cancel_order(taker, {"symbol": SYMBOL, "orderId": str(placed["orderId"])}), m)
    assert cancelled["status"] == "canceled"
    expired = ex.parse_order(venue.new_order(taker, limit("BUY", "1", "60020", tif="FOK")), m)
    assert expired["status"] == "expired"
    book = ex.parse_order_book(venue.depth({"symbol": SYMBOL}), "BTC/USDT")
    assert book["asks"][0] == [60020.0, 0.3] and book["bids"][0] == [59990.0, 0.1]
    balance = ex.parse_balance_custom(venue.account_info(taker, {}), "spot")
    assert balance["USDT"]["free"] == pytest.approx(100000 - 18002) and balance["BTC"]["total"] == pytest.approx(2.2994)
    trades = ex.parse_trades(venue.my_trades(taker, {"symbol": SYMBOL}), m)
    assert [t["side"] for t in trades] == ["buy", "buy"] and trades[0]["takerOrMaker"] == "taker"
    ticker = ex.parse_ticker(venue.ticker_24hr({"symbol": SYMBOL}), m)
    assert ticker["last"] == 60010.0 and ticker["bid"] == 59990.0
