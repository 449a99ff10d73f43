"""Every Binance error of the dialect notes comes out of the simulator for the matching bad request, with the right
code and HTTP status, and reaches a ccxt caller as the exception real Binance would give."""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

import ccxt
import pytest

SYMBOL = "BTC/USDT"


async def _best(ex: Any) -> tuple[float, float]:
    book = await ex.fetch_order_book(SYMBOL, 5)
    return book["bids"][0][0], book["asks"][0][0]


def _raw_order(**params: str) -> dict[str, str]:
    """Parameters for ccxt's implicit ``private_post_order`` (ccxt signs, adds timestamp; no local checks)."""
    return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **params}


async def _expect(call: Awaitable[Any], exc_type: type[BaseException] | tuple[type[BaseException], ...],
                  code: int | None) -> BaseException:
    with pytest.raises(exc_type) as info:
        await call
    if code is not None:
        assert f'"code":{code}' in str(info.value).replace(" ", ""), str(info.value)
    return info.value


# --- authentication and signing ---------------------------------------------------------------------------------
async def test_unknown_api_key_is_authentication_error(make_client: Callable[..., Any]) -> None:
    ex = await make_client(api_key="sim-alpha-0000000000000000")
    await _expect(ex.fetch_balance(), ccxt.AuthenticationError, -2015)


async def test_wrong_secret_is_authentication_error(make_client: Callable[..., Any]) -> None:
    ex = await make_client(secret="0" * 48)
    await _expect(ex.fetch_balance(), ccxt.AuthenticationError, -1022)
    await _expect(ex.create_order(SYMBOL, "market", "buy", 0.001), ccxt.AuthenticationError, -1022)


async def test_stale_timestamp_is_invalid_nonce(make_client: Callable[..., Any]) -> None:
    ex = await make_client()
    ex.options["timeDifference"] = 120_000  # ccxt stamps requests two minutes in the past
    await _expect(ex.fetch_balance(), ccxt.InvalidNonce, -1021)


async def test_future_timestamp_is_invalid_nonce(make_client: Callable[..., Any]) -> None:
    ex = await make_client()
    ex.options["timeDifference"] = -5_000
    await _expect(ex.fetch_open_orders(SYMBOL), ccxt.InvalidNonce, -1021)


async def test_recv_window_over_60000_is_bad_request(make_client: Callable[..., Any]) -> None:
    ex = await make_client()
    ex.options["recvWindow"] = 70_000
    await _expect(ex.fetch_balance(), ccxt.BadRequest, -1131)


async def test_auth_errors_have_binance_status_and_body(venue: Any, http: Any) -> None:
    query = http.signed_query(venue.secret, {})
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/account?{query}")
    assert (status, body["code"]) == (401, -2014)
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/account?{query}",
                                         headers={"X-MBX-APIKEY": "nope"})
    assert (status, body) == (401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    key = {"X-MBX-APIKEY": venue.api_key}
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/account?timestamp=1", headers=key)
    assert (status, body["code"]) == (400, -1102) and "'signature'" in body["msg"]
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/account?{query}x", headers=key)
    assert (status, body) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/account?" + http.signed_query(
        venue.secret, {}, timestamp_ms=1), headers=key)
    assert (status, body) == (400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    no_timestamp = "recvWindow=5000"
    status, body, _ = await http.request(
        "GET", f"{venue.url}/api/v3/account?{no_timestamp}&signature={http.sign(venue.secret, no_timestamp)}",
        headers=key)
    assert (status, body["code"]) == (400, -1102) and "'timestamp'" in body["msg"]
    bad_timestamp = "timestamp=12a"
    status, body, _ = await http.request(
        "GET", f"{venue.url}/api/v3/account?{bad_timestamp}&signature={http.sign(venue.secret, bad_timestamp)}",
        headers=key)
    assert (status, body["code"]) == (400, -1100)


async def test_signature_is_checked_over_raw_query_plus_body(venue: Any, http: Any) -> None:
    """Binance signs query string + body concatenated; a re-encoded query (%20 vs +) must not verify."""
    key = {"X-MBX-APIKEY": venue.api_key, "Content-Type": "application/x-www-form-urlencoded"}
    query = "symbol=BTCUSDT&side=BUY&type=MARKET"
    body = http.signed_query(venue.secret, {"quantity": "0.001"})
    body_wo_sig, _, _ = body.partition("&signature=")
    signature = http.sign(venue.secret, query + body_wo_sig)
    status, answer, _ = await http.request("POST", f"{venue.url}/api/v3/order?{query}",
                                           data=f"{body_wo_sig}&signature={signature}", headers=key)
    assert status == 200 and answer["status"] == "FILLED", answer
    status, answer, _ = await http.request("POST", f"{venue.url}/api/v3/order?{query}",
                                           data=body, headers=key)  # signed over the body only
    assert (status, answer["code"]) == (400, -1022)


# --- order validation ---------------------------------------------------------------------------------------------
async def test_unknown_symbol_is_bad_symbol(client: Any) -> None:
    await _expect(client.public_get_depth({"symbol": "NOPEUSDT"}), ccxt.BadSymbol, -1121)
    await _expect(client.private_post_order(_raw_order(symbol="NOPEUSDT", quantity="1", price="1")),
                  ccxt.BadSymbol, -1121)


async def test_notional_filter_is_bad_request(client: Any) -> None:
    await _expect(client.create_order(SYMBOL, "limit", "buy", 0.0001, 1000), ccxt.BadRequest, -1013)


@pytest.mark.parametrize("params, code", [
    ({"quantity": "abc", "price": "100"}, -1100),
    ({"price": "100"}, -1102),
    ({"quantity": "1", "price": "100", "bogus": "1"}, -1104),
    ({"type": "MARKET", "timeInForce": "", "quantity": "0.001", "price": "100"}, -1106),
])
async def test_malformed_order_parameters_are_bad_request(client: Any, params: dict[str, str], code: int) -> None:
    await _expect(client.private_post_order(_raw_order(**params)), ccxt.BadRequest, code)


async def test_lot_size_and_price_filter_are_invalid_order(client: Any) -> None:
    error = await _expect(client.create_order(SYMBOL, "limit", "buy", 10_000, 1), ccxt.InvalidOrder, -1013)
    assert "LOT_SIZE" in str(error)
    error = await _expect(client.private_post_order(_raw_order(quantity="0.000015", price="100")),
                          ccxt.InvalidOrder, -1013)
    assert "LOT_SIZE" in str(error)
    error = await _expect(client.private_post_order(_raw_order(quantity="0.001", price="50000.001")),
                          ccxt.InvalidOrder, -1013)
    assert "PRICE_FILTER" in str(error)
    error = await _expect(client.create_order(SYMBOL, "limit", "sell", 0.001, 2_000_000), ccxt.InvalidOrder, -1013)
    assert "PRICE_FILTER" in str(error)


async def test_duplicate_client_order_id_is_invalid_order_not_duplicate_order_id(client: Any) -> None:
    bid, _ = await _best(client)
    price = float(client.price_to_precision(SYMBOL, bid * 0.9))
    await client.create_order(SYMBOL, "limit", "buy", 0.001, price, {"clientOrderId": "dup-1"})
    error = await _expect(client.create_order(SYMBOL, "limit", "buy", 0.001, price, {"clientOrderId": "dup-1"}),
                          ccxt.InvalidOrder, -2010)
    assert not isinstance(error, ccxt.DuplicateOrderId)


async def test_insufficient_balance_is_insufficient_funds(client: Any) -> None:
    bid, _ = await _best(client)
    price = float(client.price_to_precision(SYMBOL, bid * 0.9))
    # ccxt matches Binance's exact message here, so its exception text is the message (the code is -2010)
    for call in (client.create_order(SYMBOL, "limit", "buy", 3, price), client.create_order(SYMBOL, "market", "sell", 5)):
        error = await _expect(call, ccxt.InsufficientFunds, None)
        assert "Account has insufficient balance for requested action." in str(error)


async def test_unknown_order_is_order_not_found(client: Any) -> None:
    await _expect(client.fetch_order("987654", SYMBOL), ccxt.OrderNotFound, -2013)
    await _expect(client.fetch_order(None, SYMBOL, {"clientOrderId": "never-sent"}), ccxt.OrderNotFound, -2013)
    await _expect(client.cancel_order("987654", SYMBOL), ccxt.OrderNotFound, -2011)


async def test_post_only_that_would_take_is_order_immediately_fillable(client: Any) -> None:
    _, ask = await _best(client)
    price = float(client.price_to_precision(SYMBOL, ask * 1.01))
    error = await _expect(client.create_order(SYMBOL, "limit", "buy", 0.001, price, {"postOnly": True}),
                          ccxt.OrderImmediatelyFillable, None)
    assert "Order would immediately match and take." in str(error)


# --- transport-level failures (faults) -----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 418])
async def test_throttling_is_ddos_protection_with_retry_after(client: Any, venue: Any, http: Any, status: int) -> None:
    await venue.set_faults({"throttle_next": 2, "throttle_status": status, "retry_after_s": 3})
    await _expect(client.fetch_ticker(SYMBOL), (ccxt.DDoSProtection, ccxt.RateLimitExceeded), -1003)
    raw_status, body, headers = await http.request("GET", f"{venue.url}/api/v3/ping")
    assert raw_status == status and body["code"] == -1003 and headers["Retry-After"] == "3"
    assert (await client.fetch_ticker(SYMBOL))["symbol"] == SYMBOL


async def test_5xx_without_code_is_exchange_not_available(client: Any, venue: Any, http: Any) -> None:
    await venue.set_faults({"error_share": 1.0})
    await _expect(client.fetch_ticker(SYMBOL), ccxt.ExchangeNotAvailable, None)
    await _expect(client.create_order(SYMBOL, "market", "buy", 0.001), ccxt.ExchangeNotAvailable, None)
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/ping")
    assert status == 503 and "code" not in str(body)
    await venue.set_faults({"error_share": 0.0})
    assert await client.fetch_time() > 0


async def test_latency_beyond_client_timeout_is_request_timeout(make_client: Callable[..., Any], venue: Any) -> None:
    ex = await make_client(timeout_ms=200)
    await venue.set_faults({"latency_ms": 600})
    await _expect(ex.fetch_ticker(SYMBOL), ccxt.RequestTimeout, None)
    await venue.set_faults({"latency_ms": 0})
    assert (await ex.fetch_ticker(SYMBOL))["symbol"] == SYMBOL


async def test_simulated_rejection_is_invalid_order(client: Any, venue: Any) -> None:
    await venue.set_faults({"reject_next_orders": 1})
    error = await _expect(client.create_order(SYMBOL, "market", "buy", 0.001), ccxt.InvalidOrder, -2010)
    assert "Order rejected by venue (simulated)." in str(error)
    assert (await client.create_order(SYMBOL, "market", "buy", 0.001))["status"] == "closed"


# --- routing ---------------------------------------------------------------------------------------------------------
async def test_unknown_paths_and_methods_answer_binance_json(venue: Any, http: Any) -> None:
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/nothing")
    assert status == 404 and body == {"code": -1020, "msg": "This operation is not supported."}
    status, body, _ = await http.request("PUT", f"{venue.url}/api/v3/order")
    assert status == 405 and body["code"] == -1020
    status, body, _ = await http.request("GET", f"{venue.url}/api/v3/depth?symbol=BTCUSDT&symbol=ETHUSDT")
    assert status == 400 and body["code"] == -1101
    status, body, _ = await http.request("POST", f"{venue.url}/api/v3/order", data=b"x" * 70_000,
                                         headers={"X-MBX-APIKEY": venue.api_key})
    assert status == 413 and isinstance(body, dict) and "code" in body
    status, body, _ = await http.request("POST", f"{venue.url}/_sim/faults", data=json.dumps({"nope": 1}))
    assert status == 400 and "nope" in body["msg"]
