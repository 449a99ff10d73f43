"""OKX's private WebSocket on an OKX-dialect venue through unmodified ccxt.pro ``okx``: ``login`` (ccxt's own
signature), then ``watch_orders`` and ``watch_my_trades`` on the ``orders`` channel, which pushes every change of the
account's orders as it happened -- the private order stream a client can learn fills from instead of polling."""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from typing import Any, Callable

import aiohttp
import ccxt
import pytest

SYMBOL = "BTC/USDT"
WAIT_S = 5.0


def d(value: Any) -> D:
    return D(str(value))


class Pushes:
    """Records every ``orders`` push and subscription event ccxt receives (wrapping its message handler)."""

    def __init__(self, ex: Any) -> None:
        self.orders: list[dict[str, Any]] = []
        self.subscribed = asyncio.Event()
        self.changed = asyncio.Event()
        original = ex.handle_message

        def handle(client: Any, message: Any) -> Any:
            if isinstance(message, dict):
                if message.get("event") == "subscribe" and message.get("arg", {}).get("channel") == "orders":
                    self.subscribed.set()
                elif message.get("arg", {}).get("channel") == "orders":
                    self.orders.extend(message["data"])
                    self.changed.set()
            return original(client, message)

        ex.handle_message = handle

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not condition():
                self.changed.clear()
                await self.changed.wait()

    def states(self, order_id: str) -> list[str]:
        return [p["state"] for p in self.orders if p["ordId"] == order_id]


async def _subscribed_pro(make_okx_client: Callable[..., Any]) -> tuple[Any, Pushes, asyncio.Task[Any]]:
    pro = await make_okx_client("pro", load=False)
    pushes = Pushes(pro)
    await pro.load_markets()
    watching = asyncio.ensure_future(pro.watch_my_trades(SYMBOL))
    await asyncio.wait_for(pushes.subscribed.wait(), WAIT_S)
    return pro, pushes, watching


async def test_orders_channel_pushes_every_change_and_watch_my_trades_equals_the_fills(
        make_okx_client: Callable[..., Any], okx_venue: Any) -> None:
    rest = await make_okx_client()
    pro, pushes, watching = await _subscribed_pro(make_okx_client)
    book = await rest.fetch_order_book(SYMBOL, 5)
    bid, ask = d(book["bids"][0][0]), d(book["asks"][0][0])

    filled = await rest.create_order(SYMBOL, "limit", "buy", 0.002, float(ask * D("1.001")), {"timeInForce": "IOC"})
    await pushes.until(lambda: "filled" in pushes.states(filled["id"]))
    first_trades = await asyncio.wait_for(watching, WAIT_S)
    assert {t["order"] for t in first_trades} == {filled["id"]}
    assert pushes.states(filled["id"])[-1] == "filled"

    resting = await rest.create_order(SYMBOL, "limit", "buy", 0.001, float(bid * D("0.9")))
    await pushes.until(lambda: pushes.states(resting["id"]) == ["live"])
    await rest.cancel_order(resting["id"], SYMBOL)
    await pushes.until(lambda: pushes.states(resting["id"]) == ["live", "canceled"])

    await okx_venue.set_faults({"partial_fills_only": True})
    partial = await rest.create_order(SYMBOL, "limit", "sell", 0.004, float(bid * D("0.999")), {"timeInForce": "IOC"})
    await okx_venue.set_faults({"partial_fills_only": False})
    await pushes.until(lambda: (pushes.states(partial["id"]) or [""])[-1] == "canceled")
    states = pushes.states(partial["id"])
    assert states[-1] == "canceled" and set(states[:-1]) == {"partially_filled"}
    last = [p for p in pushes.orders if p["ordId"] == partial["id"]][-1]
    assert d(last["accFillSz"]) == D("0.002")

    # every fill pushed once, with the fill's own size, price and fee; the same fills as REST
    fill_pushes = [p for p in pushes.orders if p["tradeId"]]
    rest_fills = (await rest.private_get_trade_fills_history({"instType": "SPOT", "instId": "BTC-USDT"}))["data"]
    assert sorted(p["tradeId"] for p in fill_pushes) == sorted(f["tradeId"] for f in rest_fills)
    by_trade = {f["tradeId"]: f for f in rest_fills}
    for push in fill_pushes:
        fill = by_trade[push["tradeId"]]
        assert (push["fillSz"], push["fillPx"], push["fillFee"], push["fillFeeCcy"]) == (
            fill["fillSz"], fill["fillPx"], fill["fee"], fill["feeCcy"])
        assert d(push["fillFee"]) < 0  # OKX: a charge is negative
    ids = {t["id"] for t in pro.myTrades}  # ccxt's cache of what watch_my_trades parsed
    assert ids == {p["tradeId"] for p in fill_pushes}
    for trade in pro.myTrades:
        fill = by_trade[trade["id"]]
        assert d(trade["amount"]) == d(fill["fillSz"]) and d(trade["price"]) == d(fill["fillPx"])
        # ccxt's watch_my_trades passes OKX's fillFee through without negating it (its REST parser negates fee)
        assert d(trade["fee"]["cost"]) == d(fill["fee"]) < 0
    final = {o["id"]: o["status"] for o in pro.orders}  # ccxt's cache of the parsed pushes, newest per order
    assert (final[filled["id"]], final[resting["id"]], final[partial["id"]]) == ("closed", "canceled", "canceled")


@pytest.mark.parametrize("credentials, exc_type", [
    ({"passphrase": "NotThePassphrase1"}, ccxt.AuthenticationError),
    ({"secret": "0" * 48}, ccxt.AuthenticationError),
])
async def test_login_failures_are_ccxt_errors(make_okx_client: Callable[..., Any], credentials: dict[str, str],
                                              exc_type: type[BaseException]) -> None:
    pro = await make_okx_client("pro", load=False, **credentials)
    pro.has["fetchCurrencies"] = False
    await pro.load_markets()
    with pytest.raises(exc_type):
        await asyncio.wait_for(pro.watch_orders(SYMBOL), WAIT_S)


async def test_a_clock_30_s_off_cannot_log_in(make_okx_client: Callable[..., Any]) -> None:
    pro = await make_okx_client("pro")
    pro.seconds = lambda: pro.milliseconds() // 1000 - 45
    with pytest.raises(ccxt.InvalidNonce):
        await asyncio.wait_for(pro.watch_orders(SYMBOL), WAIT_S)


async def test_raw_private_protocol(okx_venue: Any) -> None:
    async def events(ws: Any, *frames: Any) -> list[dict[str, Any]]:
        out = []
        for frame in frames:
            await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
            out.append(json.loads((await ws.receive(timeout=WAIT_S)).data))
        return out

    orders = {"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}
    async with aiohttp.ClientSession() as session:
        timeout = aiohttp.ClientWSTimeout(ws_close=WAIT_S)
        async with session.ws_connect(okx_venue.ws_url + "/public", timeout=timeout) as public:
            [login] = await events(public, {"op": "login", "args": [{}]})
            assert (login["event"], login["code"]) == ("error", "60008")
        async with session.ws_connect(okx_venue.ws_url + "/private", timeout=timeout) as private:
            before, bad, books = await events(
                private, orders, {"op": "login", "args": [{"apiKey": okx_venue.api_key, "passphrase": "x",
                                                           "timestamp": "1", "sign": "x"}]},
                {"op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]})
            assert (before["code"], bad["code"], books["code"]) == ("60011", "60024", "60018")
