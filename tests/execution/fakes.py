"""A fake async exchange connection for unit tests: no network, no ccxt, fully scripted.

``FakeExchange`` fakes what rayarb awaits from a venue connection:
- the ``ExchangeAdapter`` the order manager uses — ``submit_order(SubmitOrder)``, ``query_order(QueryOrder)``,
  ``cancel_order(CancelOrder)`` — backed by a tiny in-memory venue (``venue_orders``, by client order id) that
  accepts orders (or fills them at their limit price when ``fill_on_submit``), answers lookups and cancels;
- any other async method a caller awaits (``create_order``, ``fetch_order_book``, ``fetch_balance``, ... as a
  ccxt-like client): those return what the test scripted and fail loudly when nothing was scripted.

Every call is recorded in ``calls`` (method, args, kwargs, monotonic time) before anything else happens. Per method the
test can queue outcomes, consumed one per call before the default behaviour: a value to return, an exception to raise,
``HANG`` (wait until cancelled, i.e. a timeout for the caller's ``wait_for``), ``AfterEffect(error)`` (the venue acts,
then the answer is lost: the order exists although the call raised), or a callable computing the answer.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import time
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable

from execution.error_handler import DuplicateClientOrderId, InvalidOrder, OrderNotFound
from execution.messages import CancelOrder, QueryOrder, SubmitOrder
from execution.types import Fill, OrderSnapshot, OrderStatus

HANG = object()  # outcome: never answer (until the caller cancels or times out)


@dataclass(frozen=True)
class AfterEffect:
    """Outcome: run the default behaviour (the venue got the request), then raise ``error`` (the answer was lost)."""

    error: BaseException


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


_OPEN = (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)


class FakeExchange:
    """A scripted, recording, in-memory stand-in for an async venue connection (see the module docstring)."""

    def __init__(self, name: str = "fake", *, fill_on_submit: bool = False, fee_rate: Decimal = Decimal("0.001"),
                 fee_asset: str = "USDT", clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self.fill_on_submit = fill_on_submit
        self.fee_rate = fee_rate
        self.fee_asset = fee_asset
        self.clock = clock
        self.calls: list[Call] = []
        self.venue_orders: dict[str, OrderSnapshot] = {}
        self._scripts: dict[str, deque[Any]] = {}
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(1)

    # --- scripting ------------------------------------------------------------------------------------------------

    def script(self, method: str, *outcomes: Any) -> "FakeExchange":
        """Queue outcomes for the next calls of ``method`` (values, exceptions, HANG, AfterEffect, callables)."""
        self._scripts.setdefault(method, deque()).extend(outcomes)
        return self

    def returns(self, method: str, *values: Any) -> "FakeExchange":
        return self.script(method, *[_Value(v) for v in values])

    def fail(self, method: str, error: BaseException, times: int = 1, *, after_effect: bool = False) -> "FakeExchange":
        outcome = AfterEffect(error) if after_effect else error
        return self.script(method, *([outcome] * times))

    def hang(self, method: str, times: int = 1) -> "FakeExchange":
        return self.script(method, *([HANG] * times))

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def sent_orders(self) -> list[SubmitOrder]:
        """Every order command that reached the fake venue (whatever happened to it afterwards)."""
        return [call.args[0] for call in self.calls_to("submit_order")]

    def put_order(self, snapshot: OrderSnapshot) -> None:
        """Make the venue know an order (e.g. one placed before a crash)."""
        self.venue_orders[snapshot.client_order_id] = snapshot

    # --- dispatch ---------------------------------------------------------------------------------------------------

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        async def unscripted(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"FakeExchange {self.name}: unscripted call {method}{args!r}")

        return self._recorded(method, unscripted)

    def _recorded(self, method: str, default: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(Call(method, args, dict(kwargs), time.monotonic()))
            queue = self._scripts.get(method)
            outcome = queue.popleft() if queue else None
            if outcome is None:
                return await default(*args, **kwargs)
            if outcome is HANG:
                await asyncio.Event().wait()
            if isinstance(outcome, AfterEffect):
                await default(*args, **kwargs)
                raise outcome.error
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, _Value):
                return outcome.value
            if callable(outcome):
                result = outcome(*args, **kwargs)
                return await result if inspect.isawaitable(result) else result
            return outcome

        call.__name__ = method
        return call

    # --- the ExchangeAdapter, over the in-memory venue --------------------------------------------------------------

    @property
    def submit_order(self) -> Callable[[SubmitOrder], Any]:
        return self._recorded("submit_order", self._venue_submit)

    @property
    def query_order(self) -> Callable[[QueryOrder], Any]:
        return self._recorded("query_order", self._venue_query)

    @property
    def cancel_order(self) -> Callable[[CancelOrder], Any]:
        return self._recorded("cancel_order", self._venue_cancel)

    async def _venue_submit(self, command: SubmitOrder) -> OrderSnapshot:
        known = self.venue_orders.get(command.client_order_id)
        if known is not None and known.status in _OPEN:
            raise DuplicateClientOrderId(f"{self.name}: Duplicate order sent.", exchange=self.name,
                                         client_order_id=command.client_order_id)
        ts_ms = int(self.clock() * 1000)
        exchange_order_id = str(next(self._ids))
        fills: tuple[Fill, ...] = ()
        status, filled, average = OrderStatus.ACCEPTED, Decimal(0), None
        if self.fill_on_submit and command.price is not None:
            fills = (Fill(exchange=command.exchange, symbol=command.symbol, side=command.side, price=command.price,
                          amount=command.amount, fee=command.amount * command.price * self.fee_rate,
                          fee_asset=self.fee_asset, trade_id=f"t{next(self._trade_ids)}",
                          client_order_id=command.client_order_id, exchange_order_id=exchange_order_id,
                          ts_ms=ts_ms),)
            status, filled, average = OrderStatus.FILLED, command.amount, command.price
        snapshot = OrderSnapshot(exchange=command.exchange, symbol=command.symbol, side=command.side,
                                 client_order_id=command.client_order_id, exchange_order_id=exchange_order_id,
                                 status=status, amount=command.amount, filled=filled, price=command.price,
                                 average=average, fills=fills, ts_ms=ts_ms)
        self.venue_orders[command.client_order_id] = snapshot
        return snapshot

    async def _venue_query(self, query: QueryOrder) -> OrderSnapshot | None:
        return self.venue_orders.get(query.client_order_id)

    async def _venue_cancel(self, command: CancelOrder) -> OrderSnapshot:
        known = self.venue_orders.get(command.client_order_id)
        if known is None:
            raise OrderNotFound(f"{self.name}: Unknown order sent.", exchange=self.name,
                                client_order_id=command.client_order_id)
        if known.status not in _OPEN:
            raise InvalidOrder(f"{self.name}: order is {known.status.value}, not open", exchange=self.name,
                               client_order_id=command.client_order_id)
        canceled = replace(known, status=OrderStatus.CANCELED, fills=(), ts_ms=int(self.clock() * 1000))
        self.venue_orders[command.client_order_id] = canceled
        return canceled


@dataclass(frozen=True)
class _Value:
    """A scripted return value (so exceptions and callables can also be returned as values)."""

    value: Any


def spot_rules(exchange: str = "fake", symbol: str = "BTC/USDT", *, tick: str = "0.01", step: str = "0.0001",
               min_amount: str = "0.0001", max_amount: str | None = "1000", min_notional: str = "5",
               taker_fee: str = "0.001") -> "MarketRules":
    """Binance-like spot rules for tests: BTC/USDT with tick 0.01, step 0.0001, min notional 5 USDT."""
    from execution.types import MarketRules

    base, quote = symbol.split("/")
    return MarketRules(exchange=exchange, symbol=symbol, base=base, quote=quote, price_tick=Decimal(tick),
                       amount_step=Decimal(step), min_amount=Decimal(min_amount),
                       max_amount=None if max_amount is None else Decimal(max_amount),
                       min_notional=Decimal(min_notional), min_price=Decimal("0.01"), max_price=Decimal("1000000"),
                       maker_fee=Decimal("0.001"), taker_fee=Decimal(taker_fee))
