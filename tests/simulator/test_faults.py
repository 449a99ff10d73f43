"""Every fault of simulator/faults.py, set at start or at run time, does what it says to a real ccxt client, and the
seeded decisions repeat."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import ccxt
import pytest

from execution.api.venue import make_exchange
from simulator.config import SimConfig
from simulator.faults import Action, FaultConfigError, FaultInjector, Faults
from simulator.launcher import VenueProcess, start_local_venues

SYMBOL = "BTC/USDT"
REPO = Path(__file__).resolve().parents[2]
NETWORK_ERRORS = (ccxt.NetworkError, ccxt.ExchangeNotAvailable)


# --- the settable dataclass and the seeded injector ----------------------------------------------------------------
def test_faults_refuse_unknown_keys_and_bad_values() -> None:
    with pytest.raises(FaultConfigError, match="unknown fault 'latency'"):
        Faults.from_dict({"latency": 5})
    for bad in ({"error_share": 1.5}, {"drop_next": -1}, {"throttle_status": 500}, {"down": "maybe"},
                {"partial_fills_only": 1}, {"drop_next": 1.5}, {"latency_ms": "5"}, {"reject_status": 200},
                {"reject_code": "x"}, {"reject_msg": 5}, {"accept_then_reject_next": -1}, {"lie": "everything"},
                {"lie_next_orders": -1}):
        with pytest.raises(FaultConfigError):
            Faults.from_dict(bad)
    assert Faults.from_dict({"latency_ms": 5, "drop_next": None}) == Faults(latency_ms=5.0)


def test_seeded_decisions_repeat_and_counted_faults_are_consumed_in_order() -> None:
    def run(seed: int) -> list[tuple[Action, float]]:
        injector = FaultInjector(Faults(error_share=0.3, drop_share=0.1, jitter_ms=10, latency_ms=1), seed=seed)
        return [(d.action, d.delay_s) for d in (injector.decide(i % 3 == 0) for i in range(200))]

    first, again, other = run(1), run(1), run(2)
    assert first == again and first != other
    actions = [a for a, _ in first]
    assert 30 < actions.count(Action.ERROR_5XX) < 90 and actions.count(Action.DROP) > 5
    assert all(0.001 <= d <= 0.011 for _, d in first)

    injector = FaultInjector(Faults(drop_next=1, throttle_next=1, reject_next_orders=1, accept_then_drop_next=1))
    sequence = [injector.decide(True).action for _ in range(5)]
    assert sequence == [Action.DROP, Action.THROTTLE, Action.REJECT_ORDER, Action.ACCEPT_THEN_DROP, Action.PASS]
    injector.update({"reject_next_orders": 2})
    assert injector.decide(False).action is Action.PASS  # only order POSTs consume order faults
    assert [injector.decide(True).action for _ in range(3)] == [Action.REJECT_ORDER] * 2 + [Action.PASS]


def test_timed_faults_expire_on_the_injected_clock() -> None:
    now = [100.0]
    injector = FaultInjector(Faults(), monotonic=lambda: now[0])
    injector.update({"throttle_for_s": 2.0, "down": "silent", "down_for_s": 5.0})
    assert injector.decide(False).action is Action.THROTTLE and injector.down_mode() == "silent"
    now[0] = 102.5
    assert injector.decide(False).action is Action.PASS and injector.down_mode() == "silent"
    now[0] = 105.1
    assert injector.down_mode() is None and injector.faults.down is None


# --- over real sockets ------------------------------------------------------------------------------------------------
async def test_latency_and_jitter_delay_every_answer(client: Any, venue: Any) -> None:
    async def fastest_of(n: int) -> float:
        timings = []
        for _ in range(n):
            started = time.perf_counter()
            await client.fetch_time()
            timings.append((time.perf_counter() - started) * 1000)
        return min(timings)

    await venue.set_faults({"latency_ms": 40, "jitter_ms": 20})
    assert 40 <= await fastest_of(5) < 40 + 20 + 500  # generous above: a loaded machine adds scheduling delay
    await venue.set_faults({}, clear=True)
    assert await fastest_of(3) < 40


async def test_share_of_5xx_is_seeded_and_repeats_across_venues() -> None:
    config = SimConfig.default(("alpha", "beta"), seed=3)
    async with start_local_venues(config, faults={"error_share": 0.5, "seed": 42}) as sim:
        patterns = []
        for venue in sim:
            ex = make_exchange(url=venue.url, flavour="async", api_key=venue.api_key, secret=venue.secret)
            outcome = []
            try:
                for _ in range(30):
                    try:
                        await ex.fetch_time()
                        outcome.append("ok")
                    except ccxt.ExchangeNotAvailable:
                        outcome.append("503")
            finally:
                await ex.close()
            patterns.append(outcome)
        assert patterns[0] == patterns[1]
        assert 5 < patterns[0].count("503") < 25


async def test_throttling_for_a_time_then_recovers(client: Any, venue: Any, http: Any) -> None:
    await http.post_faults(venue.url, {"throttle_for_s": 0.4, "throttle_status": 418, "retry_after_s": 7})
    with pytest.raises((ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        await client.fetch_ticker(SYMBOL)
    status, body, headers = await http.request("GET", venue.url + "/api/v3/time")
    assert status == 418 and body["code"] == -1003 and headers["Retry-After"] == "7"
    async with asyncio.timeout(5):  # the throttle ends by itself
        while (await http.get(venue.url, "/_sim/faults"))["throttle_remaining_s"] > 0:
            await asyncio.sleep(0.02)
    assert await client.fetch_time() > 0


async def test_dropped_connections_next_n_and_share(client: Any, venue: Any) -> None:
    # aiohttp retries an idempotent request once when its connection is cut: a dropped GET costs two drops
    await venue.set_faults({"drop_next": 3})
    with pytest.raises(NETWORK_ERRORS):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "dropped-1"})
    with pytest.raises(NETWORK_ERRORS):
        await client.fetch_ticker(SYMBOL)
    assert venue.server.injector.faults.drop_next == 0
    assert (await client.fetch_ticker(SYMBOL))["symbol"] == SYMBOL
    assert venue.engine.sim_orders() == []  # dropped before the engine saw it
    await venue.set_faults({"drop_share": 1.0})
    with pytest.raises(NETWORK_ERRORS):
        await client.fetch_balance()
    await venue.set_faults({"drop_share": 0.0})
    assert (await client.fetch_balance())["USDT"]["total"] > 0


async def test_an_orders_receipt_time_is_when_it_reached_the_venue_before_any_added_latency(
        client: Any, venue: Any, http: Any) -> None:
    await venue.set_faults({"latency_ms": 300})
    before = time.time()
    await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "timed-1"})
    answered = time.time()
    await venue.set_faults({"latency_ms": 0})
    (order,) = await http.get(venue.url, "/_sim/orders?clientOrderId=timed-1")
    received = order["receivedTimeUs"] / 1_000_000
    assert before <= received < before + 0.3  # on arrival, at microsecond resolution
    assert answered - received >= 0.3  # the injected latency came after it


async def test_accept_then_drop_places_the_order_but_the_client_gets_a_network_error(
        client: Any, venue: Any, http: Any) -> None:
    await venue.set_faults({"accept_then_drop_next": 1})
    with pytest.raises(NETWORK_ERRORS):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "lost-answer-1"})
    orders = await http.get(venue.url, "/_sim/orders?clientOrderId=lost-answer-1")
    assert len(orders) == 1 and orders[0]["status"] == "FILLED"
    found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "lost-answer-1"})
    assert found["id"] == str(orders[0]["orderId"]) and found["status"] == "closed"
    second = await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "answered-2"})
    assert second["clientOrderId"] == "answered-2"


async def test_reject_next_orders_places_nothing(client: Any, venue: Any, http: Any) -> None:
    await http.post_faults(venue.url, {"reject_next_orders": 2})
    for i in range(2):
        with pytest.raises(ccxt.InvalidOrder, match="simulated"):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": f"rejected-{i}"})
    assert await client.fetch_ticker(SYMBOL)  # reads are not orders: not rejected
    placed = await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "accepted-3"})
    assert placed["status"] == "closed"
    ids = [o["clientOrderId"] for o in await http.get(venue.url, "/_sim/orders")]
    assert ids == ["accepted-3"]


async def test_rejections_answer_the_configured_code_placing_the_order_or_not(client: Any, venue: Any,
                                                                              http: Any) -> None:
    await http.post_faults(venue.url, {"reject_next_orders": 1, "reject_status": 400, "reject_code": -1013,
                                       "reject_msg": "Filter failure: NOTIONAL"})
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "refused-1"})
    await http.post_faults(venue.url, {"accept_then_reject_next": 1, "reject_status": 500, "reject_code": -1007,
                                       "reject_msg": "Timeout waiting for response from backend server."})
    with pytest.raises(ccxt.RequestTimeout, match="-1007"):
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "placed-2"})
    ids = [o["clientOrderId"] for o in await http.get(venue.url, "/_sim/orders")]
    assert ids == ["placed-2"]  # the -1007 order was placed; the -1013 one was not


async def test_partial_fills_only(client: Any, venue: Any) -> None:
    await venue.set_faults({"partial_fills_only": True})
    assert venue.engine.partial_fills_only is True
    book = await client.fetch_order_book(SYMBOL, 5)
    price = float(client.price_to_precision(SYMBOL, book["asks"][0][0] * 1.01))
    order = await client.create_order(SYMBOL, "limit", "buy", 0.01, price, {"timeInForce": "IOC"})
    assert 0 < order["filled"] < order["amount"]
    assert order["status"] in ("expired", "canceled")
    await venue.set_faults({"partial_fills_only": False})
    order = await client.create_order(SYMBOL, "limit", "buy", 0.01, price, {"timeInForce": "IOC"})
    assert order["filled"] == order["amount"]


async def market_steps(sim: Any, count: int, timeout_s: float = 5.0) -> None:
    """Wait until the simulated market has stepped ``count`` more times."""
    steps = lambda: sim.market.snapshot()["symbols"][SYMBOL.replace("/", "")]["steps"]  # noqa: E731 (venue ids)
    target = steps() + count
    async with asyncio.timeout(timeout_s):
        while steps() < target:
            await asyncio.sleep(0.01)


async def test_freeze_book_stops_requoting(client: Any, venue: Any, sim: Any) -> None:
    await venue.set_faults({"freeze_book": True})
    assert sim.market.frozen is True
    await market_steps(sim, 1)  # a step that began before the freeze has ended
    first = await client.fetch_order_book(SYMBOL)
    await market_steps(sim, 5)  # the market walks on, its makers do not requote
    assert (await client.fetch_order_book(SYMBOL))["nonce"] == first["nonce"]
    await venue.set_faults({"freeze_book": False})
    async with asyncio.timeout(5):
        while (await client.fetch_order_book(SYMBOL))["nonce"] == first["nonce"]:
            await asyncio.sleep(0.02)


async def test_venue_down_refusing_then_back_on_the_same_port(make_client: Callable[..., Any], venue: Any,
                                                             http: Any) -> None:
    ex = await make_client()
    pro = await make_client("pro")
    await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5)
    url = venue.url
    went_down = time.monotonic()
    await http.post_faults(url, {"down": "refuse", "down_for_s": 2.0})
    with pytest.raises(NETWORK_ERRORS):
        await ex.fetch_ticker(SYMBOL)
    with pytest.raises(NETWORK_ERRORS):
        await ex.create_order(SYMBOL, "market", "buy", 0.001)
    with pytest.raises(NETWORK_ERRORS):  # the WebSocket was closed with the rest
        await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5)
    assert time.monotonic() - went_down < 2.0, "the checks above must run while the venue is down"
    for _ in range(100):  # back by itself after 2 s, on the same port
        try:
            ticker = await ex.fetch_ticker(SYMBOL)
            break
        except NETWORK_ERRORS:
            await asyncio.sleep(0.05)
    else:
        pytest.fail("the venue did not come back")
    assert time.monotonic() - went_down >= 1.9
    assert venue.url == url and ticker["symbol"] == SYMBOL
    assert (await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5))["bids"]
    # the in-process API can take it down without a timer and bring it back explicitly
    await venue.server.go_down("refuse")
    with pytest.raises(NETWORK_ERRORS):
        await ex.fetch_time()
    await venue.server.come_up()
    assert await ex.fetch_time() > 0


async def test_venue_down_answering_nothing(make_client: Callable[..., Any], venue: Any, http: Any) -> None:
    ex = await make_client(timeout_ms=300)
    await http.post_faults(venue.url, {"down": "silent"})
    with pytest.raises(ccxt.RequestTimeout):
        await ex.fetch_ticker(SYMBOL)
    assert (await http.get(venue.url, "/_sim/info"))["faults"]["down"] == "silent"  # controls still answer
    status, body, _ = await http.request("POST", venue.url + "/_sim/faults",
                                         data=json.dumps({"down": "refuse"}))  # untimed refuse over HTTP: no way back
    assert status == 400 and "down_for_s" in body["msg"]
    await http.post_faults(venue.url, {"down": None})
    assert await ex.fetch_time() > 0


async def test_faults_set_at_start_in_process() -> None:
    config = SimConfig.default(("alpha", "beta"), seed=5)
    async with start_local_venues(config, faults={"beta": {"reject_next_orders": 1}}) as sim:
        assert sim["alpha"].server.injector.faults == Faults()
        assert sim["beta"].server.injector.faults.reject_next_orders == 1


def test_faults_set_at_start_of_a_subprocess_and_bad_faults_exit_2() -> None:
    with VenueProcess(("alpha",), seed=5, faults=json.dumps({"error_share": 1.0})) as process:
        ex = make_exchange(url=process["alpha"].url, flavour="sync", timeout_ms=3000)
        with pytest.raises(ccxt.ExchangeNotAvailable):
            ex.load_markets()
        with __import__("urllib.request").request.urlopen(process["alpha"].url + "/_sim/faults", timeout=5) as r:
            assert json.loads(r.read())["error_share"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "simulator.cli", "--base-port", "0", "--faults", '{"nope": 1}'],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "nope" in bad.stderr and bad.stdout == ""
