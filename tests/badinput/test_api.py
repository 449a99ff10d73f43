"""The seed's API functions on bad arguments, with real ccxt clients on two real simulator venues (alpha speaks
Binance's dialect, beta OKX's): each raises its own error class with a message naming what is wrong, before anything
is sent (``/_sim/orders`` stays empty at both venues), and nothing is journaled."""
from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from execution.api.binance_api import CcxtArbitrageIO, CcxtOrderAdapter, initialize_binance_api, place_order
from execution.api.other_exchange_api import close_exchange, fetch_order_book, initialize_exchange_api
from execution.api.precision import rules_from_market
from execution.arbitrage_executor import calculate_profit, execute_arbitrage
from execution.error_handler import RetryableError, log_and_retry
from execution.journal import Journal
from execution.order_manager import OrderManager
from execution.position_tracker import track_position
from tests.badinput.cases import Case
from tests.badinput.conftest import orders_everywhere

AREA = "The seed's API functions (real ccxt on a simulator venue of each dialect)"
SYMBOL = "BTC/USDT"


class World:
    """ccxt clients on both venues, an order manager on alpha (journal in the test's directory), their rules."""

    def __init__(self, venues, journal_path) -> None:
        self.venues = venues
        self.journal_path = journal_path

    async def __aenter__(self) -> "World":
        alpha, beta = self.venues["alpha"], self.venues["beta"]
        self.alpha = await initialize_binance_api(alpha.api_key, alpha.secret, url=alpha.url, timeout_s=5)
        self.beta = await initialize_exchange_api("okx", beta.api_key, beta.secret, password=beta.passphrase,
                                                  url=beta.url, timeout_s=5)
        self.rules = {"alpha": rules_from_market("alpha", self.alpha.market(SYMBOL)),
                      "beta": rules_from_market("beta", self.beta.market(SYMBOL))}
        self.journal = Journal(self.journal_path)
        self.manager = OrderManager("alpha", CcxtOrderAdapter("alpha", self.alpha, timeout_s=5),
                                    {SYMBOL: self.rules["alpha"]}, balances={"USDT": D("100000"), "BTC": D("2")},
                                    journal=self.journal)
        self.io = CcxtArbitrageIO({"alpha": self.alpha, "beta": self.beta}, timeout_s=5)
        return self

    async def __aexit__(self, *_: Any) -> None:
        self.journal.close()
        await close_exchange(self.alpha)
        await close_exchange(self.beta)

    def arbitrage(self, **changes: Any):
        arguments = dict(buy_exchange="alpha", sell_exchange="beta", symbol=SYMBOL, amount=D("0.01"),
                         buy_price=D("50000"), sell_price=D("50100"), io=self.io, rules=self.rules, leg_timeout_s=5)
        return execute_arbitrage(**(arguments | changes))


def failing_call() -> None:
    raise RetryableError("venue busy")


# data: a function of the World giving the call (a value or an awaitable) that must raise
CASES = [
    Case("execute_arbitrage_nan_amount", "`execute_arbitrage(amount=Decimal('NaN'))`",
         "InvalidAmountError: amount=Decimal('NaN'): must be a positive finite number",
         lambda w: w.arbitrage(amount=D("NaN"))),
    Case("execute_arbitrage_float_price", "`execute_arbitrage(buy_price=50000.5)`",
         "InvalidPriceError: buy price=50000.5: must be a Decimal, int or str, not float: money is never float",
         lambda w: w.arbitrage(buy_price=50000.5)),
    Case("execute_arbitrage_same_venue", "`execute_arbitrage(buy_exchange='alpha', sell_exchange='alpha')`",
         "InvalidInputError: sell_exchange='alpha': buy and sell venue are the same",
         lambda w: w.arbitrage(sell_exchange="alpha")),
    Case("execute_arbitrage_unknown_venue", "`execute_arbitrage(sell_exchange='gamma')` (no rules for it)",
         "InvalidInputError: rules='gamma': no market rules for this venue",
         lambda w: w.arbitrage(sell_exchange="gamma")),
    Case("calculate_profit_negative_price", "`calculate_profit('100', '-1', '0.001')`",
         "InvalidPriceError: sell price='-1': must be a positive finite number",
         lambda w: calculate_profit("100", "-1", "0.001")),
    Case("calculate_profit_fee_not_a_number", "`calculate_profit('100', '101', 'ten')`",
         "InvalidFeeError: fee='ten': is not a number", lambda w: calculate_profit("100", "101", "ten")),
    Case("calculate_profit_fee_above_one", "`calculate_profit('100', '101', '1.5')`",
         "InvalidFeeError: fee='1.5': must be a rate in [0, 1)", lambda w: calculate_profit("100", "101", "1.5")),
    Case("create_order_nan_amount", "`OrderManager.create_order(amount=float('nan'))`",
         "InvalidAmountError: amount=nan: must be a positive finite number",
         lambda w: w.manager.create_order(SYMBOL, "buy", float("nan"), "50000")),
    Case("create_order_unknown_symbol", "`OrderManager.create_order('DOGE/USDT', ...)`",
         "UnknownSymbolError: symbol='DOGE/USDT': no market rules for it at alpha",
         lambda w: w.manager.create_order("DOGE/USDT", "buy", "1", "0.1")),
    Case("create_order_amount_list", "`OrderManager.create_order(amount=[1])`",
         "InvalidAmountError: amount=[1]: must be a Decimal, int or numeric str, not list",
         lambda w: w.manager.create_order(SYMBOL, "buy", [1], "50000")),
    Case("check_order_status_unknown_id", "`OrderManager.check_order_status('nosuchorder')`",
         "OrderNotTracked: no order 'nosuchorder' at alpha", lambda w: w.manager.check_order_status("nosuchorder")),
    Case("place_order_negative_amount", "`place_order(binance, amount='-0.01')`",
         "InvalidOrder: amount must be a positive finite number",
         lambda w: place_order(w.alpha, SYMBOL, "buy", "-0.01", "50000")),
    Case("place_order_nan_price_okx", "`place_order(okx, price='NaN')`", "InvalidOrder: price must be a positive finite "
         "number", lambda w: place_order(w.beta, SYMBOL, "buy", "0.01", "NaN")),
    Case("place_order_float_amount", "`place_order(binance, amount=0.01)`",
         "InvalidOrder: amount must be a Decimal, int or str, not float: money is never float",
         lambda w: place_order(w.alpha, SYMBOL, "buy", 0.01, "50000")),
    Case("place_order_unknown_symbol_okx", "`place_order(okx, 'DOGE/USDT', ...)`",
         "BadSymbol: okx does not list 'DOGE/USDT' (markets loaded: 2)",
         lambda w: place_order(w.beta, "DOGE/USDT", "buy", "1", "0.1")),
    Case("place_order_okx_refuses_the_id", "`place_order(okx, client_order_id='has-dash')`",
         "InvalidOrder: client order id 'has-dash' is not what okx accepts ([A-Za-z0-9]{1,32})",
         lambda w: place_order(w.beta, SYMBOL, "buy", "0.01", "50000", client_order_id="has-dash")),
    Case("fetch_order_book_unknown_symbol", "`fetch_order_book(binance, 'DOGE/USDT')`",
         "BadSymbol: BadSymbol: binance does not have market symbol DOGE/USDT",
         lambda w: fetch_order_book(w.alpha, "DOGE/USDT")),
    Case("fetch_order_book_negative_limit", "`fetch_order_book(binance, limit=-5)`",
         "ValueError: binance BTC/USDT: limit must be a positive number of levels or None, got -5",
         lambda w: fetch_order_book(w.alpha, SYMBOL, limit=-5)),
    Case("track_position_nan_amount", "`track_position('BTC/USDT', Decimal('NaN'), '100', '101')`",
         "PositionInputError: amount=Decimal('NaN'): is not finite",
         lambda w: track_position(SYMBOL, D("NaN"), "100", "101")),
    Case("track_position_zero_mark", "`track_position('BTC/USDT', '1', '100', '0')`",
         "PositionInputError: current_price must be positive, got 0", lambda w: track_position(SYMBOL, "1", "100", "0")),
    Case("log_and_retry_not_callable", "`log_and_retry(RetryableError(...), None)`",
         "TypeError: log_and_retry: function must be the callable to retry, got NoneType",
         lambda w: log_and_retry(RetryableError("venue busy"), None)),
    Case("log_and_retry_not_an_exception", "`log_and_retry('oops', f)`",
         "TypeError: log_and_retry: exception must be the exception the first call raised, got str",
         lambda w: log_and_retry("oops", failing_call)),
    Case("initialize_binance_api_no_key", "`initialize_binance_api(None, secret, url=...)`",
         "MissingCredentialsError: binance: missing api_key",
         lambda w: initialize_binance_api(None, w.venues["alpha"].secret, url=w.venues["alpha"].url)),
    Case("initialize_binance_api_wrong_keys", "`initialize_binance_api('wrong', 'keys', verify_keys=True)`",
         "AuthenticationFailed: AuthenticationError: binance {\"code\":-2015,\"msg\":\"Invalid API-key, IP, or "
         "permissions for action.\"}",
         lambda w: initialize_binance_api("wrong", "keys", url=w.venues["alpha"].url, verify_keys=True, timeout_s=5)),
    Case("initialize_exchange_api_unknown_name", "`initialize_exchange_api('binanse', ...)`",
         "UnknownExchangeError: unknown exchange 'binanse': not a ccxt exchange id",
         lambda w: initialize_exchange_api("binanse", "k", "s")),
    Case("initialize_exchange_api_okx_without_passphrase", "`initialize_exchange_api('okx', key, secret)`",
         "MissingCredentialsError: okx: missing password",
         lambda w: initialize_exchange_api("okx", w.venues["beta"].api_key, w.venues["beta"].secret,
                                           url=w.venues["beta"].url, timeout_s=5)),
]


def test_the_cases_are_distinct():
    assert len({case.id for case in CASES}) == len(CASES)


async def test_bad_arguments_raise_their_error_and_send_nothing(venues, tmp_path):
    """Every case on one pair of connected clients (connecting costs ~0.3 s a case): each must raise exactly its
    error; the venues and the journal are checked after all of them."""
    wrong = []
    async with World(venues, tmp_path / "journal.sqlite") as world:
        for case in CASES:
            try:
                result = case.data(world)
                if asyncio.iscoroutine(result):
                    await asyncio.wait_for(result, 20)
            except Exception as exc:  # noqa: BLE001 - what each case raises is compared below
                got = f"{type(exc).__name__}: {exc}"
            else:
                got = f"nothing raised, returned {result!r}"
            if got != case.expected():
                wrong.append(f"{case.id}: expected {case.expected()!r}, got {got!r}")
        assert world.journal.orders() == [] and world.journal.fills() == []  # nothing journaled
    assert not wrong, "\n".join(wrong)
    assert await orders_everywhere(venues) == {"alpha": [], "beta": []}
