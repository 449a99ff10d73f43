"""An honest single-process arbitrage bot: what a user would run instead of rayarb, for the side-by-side benchmark.

One asyncio process on uvloop. Per venue one ccxt.pro client streams the books (``watch_order_book``, one task per
symbol) and one ccxt async client places the orders, both with ccxt's rate limiter off for the local venues (as
rayarb's exchange actors). Each book is checked and turned into a ``FloatBook`` (``float_book_from_ccxt``) and screened
by the same ``execution.detector.ArbitrageDetector`` rayarb's detector holds, with the same thresholds from the same
config (min profit, book age, notional cap) and the same venue fee rates (``fetch_fee_table``); each detection passes
the same pre-trade checks (``execution.risk.RiskEngine.check``: cooldown, legs in flight, exposure) and goes out through
``execution.arbitrage.executor.start_arbitrage``: both legs as IOC limit orders at once (one task each, as
``asyncio.gather`` runs them), ambiguous outcomes looked up by client order id, residuals unwound. Orders go through
ccxt: ``create_spot_order`` (ccxt's ``create_order``, or its ``privatePostOrder`` with the same request when the
numbers are already on the grid, the shortcut rayarb's exchange actors take), over ccxt's aiohttp session. Free
balances are fetched every second (and after each opportunity) for sizing. No journal, no process hop.

Timing, at the same end points as rayarb's: a book is "received" when ``watch_order_book`` returns it (the exchange
actor's moment); a leg's request is "sent" when aiohttp hands its bytes to the transport (an aiohttp ``TraceConfig``:
the last ``on_request_headers_sent`` / ``on_request_chunk_sent`` of the order's own request; for rayarb's Binance-dialect
legs it is the order-entry session's write to the kernel, for its OKX-dialect legs ccxt's handoff to aiohttp).
The event-loop thread takes the hot-path scheduling rayarb's actors take under ``run.profile: latency``
(``actors.hot_path.prepare_hot_path_thread``), so neither side gets the CPU more readily than the other.

    python -m benchmarks.baseline  (reads one JSON object on stdin: config, keys, seconds; prints one JSON line)
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import socket
import time
from decimal import Decimal
from typing import Any

import aiohttp

from execution.api.binance_api import CcxtArbitrageIO, create_spot_order
from execution.api.dialects import answers_ids_only, settle_acknowledged_order
from execution.api.errors import ccxt_errors
from execution.api.market_data import checked_market_rules, fetch_fee_table, rules_with_fees
from execution.api.orders import order_snapshot_from_ccxt
from execution.api.other_exchange_api import float_book_from_ccxt
from execution.api.venue import make_exchange
from execution.arbitrage.executor import start_arbitrage
from execution.arbitrage.legs import make_client_order_id
from execution.arbitrage.unwind import UnwindPolicy
from execution.detector import ArbitrageDetector, Detection
from execution.messages import ArbitrageDetected
from execution.risk import RiskEngine, RiskLimits
from execution.types import MarketRules, OrderSnapshot, OrderType, Side, TimeInForce

logger = logging.getLogger(__name__)

BOOK_DEPTH = 20  # levels per side, as rayarb's exchange actors keep
LEG_TIMEOUT_S = 10.0
BALANCE_REFRESH_S = 1.0

# Inside a leg's task: the wall clock of each time aiohttp handed the request's bytes (headers, body) to the transport.
_written_at: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar("written_at", default=None)


async def _noted(*_args: Any) -> None:
    times = _written_at.get()
    if times is not None:
        times.append(time.time())


def request_trace() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(_noted)
    trace.on_request_chunk_sent.append(_noted)
    trace.freeze()
    return trace


class TimedIO(CcxtArbitrageIO):
    """``CcxtArbitrageIO`` placing each leg with ``create_spot_order`` and noting when its request was written."""

    def __init__(self, exchanges: dict[str, Any]) -> None:
        super().__init__(exchanges, timeout_s=LEG_TIMEOUT_S)
        self.sent_at: dict[str, float] = {}  # client order id -> its request written (epoch s)

    async def submit(self, venue: str, symbol: str, side: Side, amount: Decimal, price: Decimal,
                     time_in_force: TimeInForce, client_order_id: str) -> OrderSnapshot:
        self._asked[client_order_id] = dict(symbol=symbol, side=side, amount=amount, price=price)
        exchange = self._exchange(venue)
        written: list[float] = []
        token = _written_at.set(written)
        try:
            with ccxt_errors(venue, client_order_id=client_order_id, creating_order=True, client=exchange):
                async with asyncio.timeout(self.timeout_s):
                    raw = await create_spot_order(exchange, symbol, OrderType.LIMIT, side, amount, price,
                                                  time_in_force, client_order_id)
        finally:
            _written_at.reset(token)
            if written:
                self.sent_at[client_order_id] = written[-1]
        if answers_ids_only(raw):  # OKX: acknowledged with ids only, the outcome comes from a lookup
            return await settle_acknowledged_order(exchange, venue, symbol, client_order_id, timeout_s=self.timeout_s)
        return order_snapshot_from_ccxt(venue, raw, client_order_id=client_order_id)


class BaselineBot:
    """``venues``: name -> (ccxt id, url, api key, secret, passphrase or None); ``strategy`` / ``risk``: the run
    config's sections (``orchestration.config``)."""

    def __init__(self, venues: dict[str, tuple[str, str, str, str, str | None]], symbols: list[str],
                 strategy: Any, risk: Any) -> None:
        self.venue_specs = venues
        self.symbols = list(symbols)
        self.strategy = strategy
        self.limits = RiskLimits.of(strategy, risk)
        self.rest: dict[str, Any] = {}
        self.streams: dict[str, Any] = {}
        self.rules: dict[tuple[str, str], MarketRules] = {}
        self.detector: ArbitrageDetector | None = None
        self.risk = RiskEngine(self.limits, actor="baseline")
        self.io: TimedIO | None = None
        self.samples: list[dict[str, Any]] = []  # per opportunity taken: its first leg and the times
        self.books = 0
        self.detected = 0
        self.taken = 0
        self.outcomes: dict[str, int] = {}
        self.scheduling = "normal"
        self._sequence = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> None:
        trace = request_trace()
        for name, (exchange_id, url, key, secret, passphrase) in self.venue_specs.items():
            rest = make_exchange(exchange_id, url=url, flavour="async", rate_limit=False, api_key=key, secret=secret,
                                 password=passphrase)
            rest.open()  # ccxt's loop and TLS context; then its session again, with the request trace
            await rest.session.close()
            rest.tcp_connector = aiohttp.TCPConnector(ssl=rest.ssl_context, enable_cleanup_closed=True,
                                                      family=socket.AF_UNSPEC, happy_eyeballs_delay=0)
            rest.session = aiohttp.ClientSession(connector=rest.tcp_connector, trust_env=rest.aiohttp_trust_env,
                                                 trace_configs=[trace])
            self.rest[name] = rest
            self.streams[name] = make_exchange(exchange_id, url=url, flavour="pro", rate_limit=False)
        for name, rest in self.rest.items():
            markets = await asyncio.wait_for(rest.load_markets(), 60)
            rules = checked_market_rules(name, markets, self.symbols)
            fees = await fetch_fee_table(rest, name, symbols=list(rules))
            if fees is not None:
                rules = rules_with_fees(name, rules, fees)
            for symbol, r in rules.items():
                self.rules[(name, symbol)] = r
            self.streams[name].markets = rest.markets
            self.streams[name].markets_by_id = rest.markets_by_id
        self.detector = ArbitrageDetector(self.rules, min_profit_bps=Decimal(self.strategy.min_profit_bps),
                                          max_book_age_s=self.strategy.max_book_age_ms / 1000,
                                          max_notional=Decimal(self.strategy.max_notional_per_trade))
        self.io = TimedIO(self.rest)
        await asyncio.gather(*(self._refresh_balances(name) for name in self.rest))

    async def run(self, seconds: float, *, realtime_priority: int = 0, cpu_wake_latency_us: int | None = None) -> None:
        from actors.hot_path import prepare_hot_path_thread

        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(self._follow_book(v, s)) for v in self.streams for s in self.symbols]
        tasks += [loop.create_task(self._follow_balances(v)) for v in self.rest]
        self.scheduling = prepare_hot_path_thread(realtime_priority, cpu_wake_latency_us)
        try:
            await asyncio.sleep(seconds)
        finally:
            assert self.detector is not None
            self.detector.enabled = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._tasks:  # opportunities in flight finish (their legs are answered within LEG_TIMEOUT_S)
                await asyncio.wait(set(self._tasks), timeout=3 * LEG_TIMEOUT_S)

    async def close(self) -> None:
        for client in (*self.streams.values(), *self.rest.values()):
            try:
                await asyncio.wait_for(client.close(), 5)
            except Exception:  # closing at the end of a benchmark: nothing left to do about it
                pass

    async def _follow_book(self, venue: str, symbol: str) -> None:
        stream = self.streams[venue]
        while True:
            try:
                raw = await stream.watch_order_book(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("%s %s: depth stream failed (%s)", venue, symbol, type(exc).__name__)
                await asyncio.sleep(0.25)
                continue
            self._on_book(venue, symbol, raw)

    def _on_book(self, venue: str, symbol: str, raw: dict) -> None:
        received_at = time.time()
        try:
            book = float_book_from_ccxt(venue, raw, symbol=symbol, received_at=received_at, depth=BOOK_DEPTH)
        except ValueError as exc:
            logger.warning("%s %s: book rejected: %s", venue, symbol, exc)
            return
        self.books += 1
        assert self.detector is not None
        for detection in self.detector.on_book(book):
            self._take(detection)

    def _take(self, detection: Detection) -> None:
        opp = detection.opportunity
        self.detected += 1
        message = ArbitrageDetected(
            opportunity_id=f"base-{next(self._sequence)}", symbol=opp.symbol, buy_exchange=opp.buy_exchange,
            sell_exchange=opp.sell_exchange, amount=opp.amount, buy_price=opp.buy_limit, sell_price=opp.sell_limit,
            expected_profit=opp.expected_profit, detected_at=detection.detected_at,
            buy_book_received_at=detection.buy_book_received_at, sell_book_received_at=detection.sell_book_received_at)
        key = (opp.symbol, opp.buy_exchange, opp.sell_exchange)
        now = time.time()
        if self.risk.check(message, now) is not None:
            assert self.detector is not None
            self.detector.release(key)
            return
        self.risk.taking(message, now)
        self.taken += 1
        assert self.io is not None
        legs = (make_client_order_id("bx"), make_client_order_id("bx"))
        pending = start_arbitrage(
            opp.buy_exchange, opp.sell_exchange, opp.symbol, opp.amount, buy_price=opp.buy_limit,
            sell_price=opp.sell_limit, io=self.io,
            rules={v: self.rules[(v, opp.symbol)] for v in (opp.buy_exchange, opp.sell_exchange)},
            client_order_ids=legs, unwind=UnwindPolicy(max_slippage_bps=Decimal(self.strategy.unwind_max_slippage_bps)),
            leg_timeout_s=LEG_TIMEOUT_S)
        task = asyncio.get_running_loop().create_task(self._settle(message, key, legs, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, message: ArbitrageDetected, key: tuple[str, str, str], legs: tuple[str, str],
                      pending: Any) -> None:
        try:
            result = await pending
            self.outcomes[result.outcome.value] = self.outcomes.get(result.outcome.value, 0) + 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("opportunity %s: %s", message.opportunity_id, type(exc).__name__)
        finally:
            self.risk.done(message, time.time())
            assert self.detector is not None
            self.detector.release(key)
            assert self.io is not None
            sent = [(self.io.sent_at[cid], venue, cid) for venue, cid in
                    ((message.buy_exchange, legs[0]), (message.sell_exchange, legs[1])) if cid in self.io.sent_at]
            if sent:
                first_sent, venue, cid = min(sent)
                self.samples.append({"exchange": venue, "client_order_id": cid,
                                     "book_received_at": message.book_received_at,
                                     "detected_at": message.detected_at, "sent_at": first_sent})
            for venue in (message.buy_exchange, message.sell_exchange):
                self._refresh_soon(venue)

    def _refresh_soon(self, venue: str) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh_balances(venue))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow_balances(self, venue: str) -> None:
        while True:
            await asyncio.sleep(BALANCE_REFRESH_S)
            await self._refresh_balances(venue)

    async def _refresh_balances(self, venue: str) -> None:
        try:
            raw = await asyncio.wait_for(self.rest[venue].fetch_balance(), 5)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: balance refresh failed (%s)", venue, type(exc).__name__)
            return
        free = {asset: Decimal(str(v.get("free") or 0)) for asset, v in raw.items()
                if isinstance(v, dict) and "free" in v}
        assert self.detector is not None
        self.detector.set_inventory(venue, free)
