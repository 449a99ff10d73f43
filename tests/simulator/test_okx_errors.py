"""Every OKX error a trading client meets comes out of an OKX-dialect venue for the matching bad request, with OKX's
codes, envelope and HTTP status, and reaches an unmodified ccxt ``okx`` caller as the exception ccxt's own table gives.

Requests ccxt would refuse locally (a size below the lot, a price off the tick) go through ccxt's implicit API
(``private_post_trade_order``): ccxt still signs them, nothing checks them before the venue. The fault controls answer
in OKX's words on this venue.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from decimal import Decimal as D
from typing import Any, Awaitable, Callable

import ccxt
import pytest

SYMBOL = "BTC/USDT"
INST = "BTC-USDT"


async def _expect(call: Awaitable[Any], exc_type: type[BaseException], code: str) -> BaseException:
    """The call raises ``exc_type`` (exactly that class, not a subclass) and the venue's answer carried ``code``."""
    with pytest.raises(exc_type) as info:
        await call
    assert type(info.value) is exc_type, (type(info.value), str(info.value))
    text = str(info.value)
    assert f'"sCode":"{code}"' in text or f'"code":"{code}"' in text, text
    return info.value


async def _ask(ex: Any) -> D:
    return D(str((await ex.fetch_order_book(SYMBOL, 5))["asks"][0][0]))


def _raw_order(**fields: str) -> dict[str, str]:
    return {"instId": INST, "tdMode": "cash", "side": "buy", "ordType": "limit", "sz": "0.001", "px": "100", **fields}


def _signed_headers(venue: Any, method: str, path: str, body: str = "", *, secret: str | None = None,
                    timestamp: str | None = None) -> dict[str, str]:
    timestamp = timestamp or datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    mac = hmac.new((secret or venue.secret).encode(), (timestamp + method + path + body).encode(), hashlib.sha256)
    return {"OK-ACCESS-KEY": venue.api_key, "OK-ACCESS-PASSPHRASE": venue.passphrase, "OK-ACCESS-TIMESTAMP": timestamp,
            "OK-ACCESS-SIGN": base64.b64encode(mac.digest()).decode(), "Content-Type": "application/json"}


# --- authentication and signing ---------------------------------------------------------------------------------
async def test_unknown_key_wrong_secret_wrong_passphrase_are_authentication_errors(
        make_okx_client: Callable[..., Any]) -> None:
    cases = [({"api_key": "sim-beta-0000000000000000"}, "50111"), ({"secret": "0" * 48}, "50113"),
             ({"passphrase": "NotThePassphrase1"}, "50105")]
    for credentials, code in cases:
        ex = await make_okx_client(load=False, **credentials)
        ex.has["fetchCurrencies"] = False  # load_markets would already fail on the signed asset/currencies
        await ex.load_markets()
        await _expect(ex.fetch_balance(), ccxt.AuthenticationError, code)


async def test_a_clock_30_s_off_is_timestamp_expired(make_okx_client: Callable[..., Any]) -> None:
    ex = await make_okx_client()
    ex.nonce = lambda: ex.milliseconds() - 45_000
    await _expect(ex.fetch_balance(), ccxt.InvalidNonce, "50102")
    ex.nonce = lambda: ex.milliseconds() - 20_000  # within OKX's 30 s: accepted
    assert "BTC" in await ex.fetch_balance()


async def test_raw_envelope_and_status_of_auth_errors_and_a_good_request(okx_venue: Any, http: Any) -> None:
    path = "/api/v5/account/balance"
    status, body, _ = await http.request("GET", okx_venue.url + path, headers=_signed_headers(okx_venue, "GET", path))
    assert status == 200 and body["code"] == "0" and body["msg"] == "" and body["data"][0]["details"]
    bad = _signed_headers(okx_venue, "GET", path, secret="x" * 48)
    status, body, _ = await http.request("GET", okx_venue.url + path, headers=bad)
    assert (status, body) == (401, {"code": "50113", "msg": "Invalid Sign.", "data": []})
    old = datetime(2020, 1, 1, tzinfo=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status, body, _ = await http.request("GET", okx_venue.url + path,
                                         headers=_signed_headers(okx_venue, "GET", path, timestamp=old))
    assert (status, body["code"]) == (401, "50102")
    no_key = {k: v for k, v in _signed_headers(okx_venue, "GET", path).items() if k != "OK-ACCESS-KEY"}
    status, body, _ = await http.request("GET", okx_venue.url + path, headers=no_key)
    assert (status, body["code"]) == (401, "50103")
    # the signature covers the body: a body changed after signing is refused, and nothing is placed
    order = json.dumps(_raw_order())
    headers = _signed_headers(okx_venue, "POST", "/api/v5/trade/order", order)
    status, body, _ = await http.request("POST", okx_venue.url + "/api/v5/trade/order",
                                         data=order.replace('"100"', '"101"'), headers=headers)
    assert (status, body["code"]) == (401, "50113")
    assert okx_venue.engine.sim_orders() == []


# --- orders -------------------------------------------------------------------------------------------------------
async def test_insufficient_balance(okx_client: Any, okx_venue: Any) -> None:
    ask = await _ask(okx_client)
    await _expect(okx_client.create_order(SYMBOL, "limit", "buy", 10, float(ask), {"timeInForce": "IOC"}),
                  ccxt.InsufficientFunds, "51008")
    await _expect(okx_client.create_order(SYMBOL, "limit", "sell", 3, float(ask), {"timeInForce": "IOC"}),
                  ccxt.InsufficientFunds, "51008")
    assert okx_venue.engine.sim_orders() == []


async def test_order_not_found_on_lookup_and_on_cancel(okx_client: Any) -> None:
    await _expect(okx_client.fetch_order("999999", SYMBOL), ccxt.OrderNotFound, "51603")
    await _expect(okx_client.fetch_order(None, SYMBOL, {"clientOrderId": "neverSent1"}), ccxt.OrderNotFound, "51603")
    await _expect(okx_client.cancel_order("999999", SYMBOL), ccxt.OrderNotFound, "51400")
    ask = await _ask(okx_client)
    filled = await okx_client.create_order(SYMBOL, "limit", "buy", 0.001, float(ask * D("1.001")),
                                           {"timeInForce": "IOC"})
    await _expect(okx_client.cancel_order(filled["id"], SYMBOL), ccxt.OrderNotFound, "51400")  # already filled


async def test_duplicate_client_order_id_is_refused_and_not_placed(okx_client: Any, okx_venue: Any) -> None:
    ask = await _ask(okx_client)
    params = {"timeInForce": "IOC", "clientOrderId": "okxDup1"}
    first = await okx_client.create_order(SYMBOL, "limit", "buy", 0.001, float(ask * D("1.001")), params)
    # ccxt's table maps 51016 to InvalidOrder (ccxt has DuplicateOrderId, but not for this code)
    await _expect(okx_client.create_order(SYMBOL, "limit", "buy", 0.001, float(ask * D("1.001")), params),
                  ccxt.InvalidOrder, "51016")
    assert [str(o["orderId"]) for o in okx_venue.engine.sim_orders()] == [first["id"]]


@pytest.mark.parametrize("fields, exc_type, code", [
    ({"sz": "0.000001"}, ccxt.InvalidOrder, "51020"),  # below minSz
    ({"sz": "0.000015"}, ccxt.InvalidOrder, "51121"),  # not a multiple of lotSz
    ({"sz": "100000"}, ccxt.InvalidOrder, "51005"),  # above maxLmtSz
    ({"px": "60000.001"}, ccxt.BadRequest, "51000"),  # not on tickSz
    ({"px": "2000000"}, ccxt.InvalidOrder, "51006"),  # outside the price limit
    ({"clOrdId": "has-a-dash"}, ccxt.BadRequest, "51000"),  # clOrdId: letters and digits only
    ({"clOrdId": "a" * 33}, ccxt.BadRequest, "51000"),  # at most 32
    ({"tdMode": "cross"}, ccxt.BadRequest, "51000"),  # spot trades in cash mode
    ({"ordType": "twap"}, ccxt.BadRequest, "51000"),
    ({"instId": "DOGE-USDT"}, ccxt.BadSymbol, "51001"),
])
async def test_instrument_rules_as_okx_states_them(okx_client: Any, okx_venue: Any, fields: dict[str, str],
                                                   exc_type: type[BaseException], code: str) -> None:
    await _expect(okx_client.private_post_trade_order(_raw_order(**fields)), exc_type, code)
    assert okx_venue.engine.sim_orders() == []


async def test_a_32_character_mixed_case_client_order_id_is_accepted(okx_client: Any) -> None:
    client_id = "Ab3" * 10 + "Z9"
    answer = await okx_client.private_post_trade_order(_raw_order(clOrdId=client_id, ordType="ioc"))
    assert answer["code"] == "0" and answer["data"][0]["clOrdId"] == client_id
    assert set(answer["data"][0]) == {"ordId", "clOrdId", "tag", "ts", "sCode", "sMsg"}  # ids only


async def test_unknown_instrument_on_market_data_is_bad_symbol(okx_client: Any) -> None:
    await _expect(okx_client.public_get_market_books({"instId": "DOGE-USDT"}), ccxt.BadSymbol, "51001")


async def test_a_batch_with_one_bad_order_is_code_2_and_places_the_good_one(okx_client: Any, okx_venue: Any) -> None:
    answer = await okx_client.private_post_trade_batch_orders([_raw_order(clOrdId="okxGood1"),
                                                              _raw_order(clOrdId="okxBad1", sz="0.000001")])
    assert answer["code"] == "2" and [e["sCode"] for e in answer["data"]] == ["0", "51020"]
    assert [o["clientOrderId"] for o in okx_venue.engine.sim_orders()] == ["okxGood1"]


# --- faults, in OKX's words ---------------------------------------------------------------------------------------
async def test_throttle_is_http_429_code_50011_and_rate_limit_exceeded(okx_client: Any, okx_venue: Any,
                                                                       http: Any) -> None:
    await okx_venue.set_faults({"throttle_next": 2})
    await _expect(okx_client.fetch_balance(), ccxt.RateLimitExceeded, "50011")
    status, body, headers = await http.request("GET", okx_venue.url + "/api/v5/public/time")
    assert (status, body) == (429, {"code": "50011", "msg": "Too Many Requests", "data": []})
    assert headers["Retry-After"] == "1"
    assert "BTC" in await okx_client.fetch_balance()


async def test_configured_rejections_answer_per_order_scode_and_place_nothing(okx_client: Any,
                                                                             okx_venue: Any) -> None:
    ask = float(await _ask(okx_client) * D("1.001"))
    await okx_venue.set_faults({"reject_next_orders": 1})
    await _expect(okx_client.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"timeInForce": "IOC"}),
                  ccxt.BadRequest, "51000")
    await okx_venue.set_faults({"reject_next_orders": 1, "reject_code": 51008})  # an OKX code is used as it is
    await _expect(okx_client.create_order(SYMBOL, "limit", "buy", 0.001, ask, {"timeInForce": "IOC"}),
                  ccxt.InsufficientFunds, "51008")
    assert okx_venue.engine.sim_orders() == []
    # 5xx: OKX's "endpoint request timeout", which does not tell whether the order was placed (here it was)
    await okx_venue.set_faults({"accept_then_reject_next": 1, "reject_status": 500, "reject_code": -1007})
    await _expect(okx_client.create_order(SYMBOL, "limit", "buy", 0.001, ask,
                                          {"timeInForce": "IOC", "clientOrderId": "okxUnknown1"}),
                  ccxt.RequestTimeout, "50004")
    placed = await okx_client.fetch_order(None, SYMBOL, {"clientOrderId": "okxUnknown1"})
    assert placed["status"] == "closed"


async def test_accept_then_drop_and_bare_errors_are_network_failures_the_order_found_by_lookup(
        okx_client: Any, okx_venue: Any) -> None:
    ask = float(await _ask(okx_client) * D("1.001"))
    await okx_venue.set_faults({"accept_then_drop_next": 1})
    with pytest.raises(ccxt.NetworkError):
        await okx_client.create_order(SYMBOL, "limit", "buy", 0.001, ask,
                                      {"timeInForce": "IOC", "clientOrderId": "okxDropped1"})
    found = await okx_client.fetch_order(None, SYMBOL, {"clientOrderId": "okxDropped1"})
    assert found["status"] == "closed" and D(str(found["filled"])) == D("0.001")
    await okx_venue.set_faults({"error_share": 1.0})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await okx_client.fetch_balance()
    # aiohttp retries an idempotent request once when its connection is cut: a dropped GET costs two drops
    await okx_venue.set_faults({"error_share": 0.0, "drop_next": 2})
    with pytest.raises(ccxt.NetworkError):
        await okx_client.fetch_balance()
    assert "BTC" in await okx_client.fetch_balance()


async def test_a_lying_answer_names_another_client_order_id(okx_client: Any, okx_venue: Any) -> None:
    await okx_venue.set_faults({"lie_next_orders": 1, "lie": "client_order_id"})
    ask = float(await _ask(okx_client) * D("1.001"))
    ack = await okx_client.create_order(SYMBOL, "limit", "buy", 0.001, ask,
                                        {"timeInForce": "IOC", "clientOrderId": "okxTruth1"})
    assert ack["clientOrderId"] != "okxTruth1"
    assert (await okx_client.fetch_order(ack["id"], SYMBOL))["clientOrderId"] == "okxTruth1"


async def test_latency_and_a_venue_down_then_back(make_okx_client: Callable[..., Any], okx_venue: Any) -> None:
    ex = await make_okx_client()
    pro = await make_okx_client("pro")
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5)
    await okx_venue.set_faults({"latency_ms": 150})
    started = time.monotonic()
    await ex.fetch_time()
    assert time.monotonic() - started >= 0.15
    await okx_venue.set_faults({"latency_ms": 0})
    await okx_venue.server.go_down("refuse")
    with pytest.raises(ccxt.NetworkError):
        await ex.fetch_balance()
    with pytest.raises(ccxt.NetworkError):  # the WebSocket was closed with the rest
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5)
    await okx_venue.server.come_up()
    assert "BTC" in await ex.fetch_balance()
    assert (await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5))["bids"]
