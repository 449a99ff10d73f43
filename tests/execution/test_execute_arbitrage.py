"""execute_arbitrage against an in-memory pair of venues that fill IOC orders by walking their books.

Covers: concurrent legs, ids made and journaled before sending, the four outcomes plus UNRESOLVED, realised profit
equal to the sized expectation, residuals, unwind planning (venue choice, slippage bound, dust) and execution, and
ambiguous errors settled by lookup without resending.
"""
import asyncio
import time
from collections import deque
from dataclasses import replace
from decimal import Decimal as D

import pytest

from execution.arbitrage_executor import (
    ArbitrageInputError,
    LegPurpose,
    Outcome,
    UnwindPolicy,
    execute_arbitrage,
    execute_opportunity,
    plan_unwind,
    size_arbitrage,
    start_arbitrage,
)
from execution.error_handler import (
    AmbiguousOrderError,
    DuplicateClientOrderId,
    ExchangeUnavailable,
    InvalidOrder,
)
from execution.types import Fill, MarketRules, OrderBook, OrderSnapshot, OrderStatus, Side

SYMBOL = "BTC/USDT"


def rules(exchange, fee="0.001", step="0.0001", min_amount="0.0001", min_notional="5"):
    return MarketRules(exchange, SYMBOL, "BTC", "USDT", D("0.01"), D(step), D(min_amount), None, D(min_notional),
                       None, None, D(fee), D(fee))


def book(exchange, bids, asks):
    levels = lambda rows: tuple((D(p), D(q)) for p, q in rows)  # noqa: E731
    return OrderBook(exchange, SYMBOL, levels(bids), levels(asks))


RULES = {"cheap": rules("cheap"), "rich": rules("rich")}


def crossing_books():
    return {
        "cheap": book("cheap", [("99.90", "5")], [("100.00", "0.5"), ("100.10", "1"), ("100.50", "2")]),
        "rich": book("rich", [("101.00", "0.3"), ("100.80", "1"), ("100.40", "5")], [("101.50", "5")]),
    }


class FakeVenues:
    """Two (or more) venues in memory. IOC orders walk the book up to the limit and consume it; the buyer pays its fee
    in base, the seller in quote. ``script(venue, *actions)`` queues what the next submits do:
    "reject", "duplicate", "lost" (error, nothing placed), "accepted_then_lost" (placed, answer lost), "hang",
    "open" (placed, answered as still open)."""

    def __init__(self, books, venue_rules=RULES):
        self.books = dict(books)
        self.rules = venue_rules
        self.orders: dict[tuple[str, str], OrderSnapshot] = {}
        self.submits: list[tuple[str, str, Side, D, D]] = []
        self.lookups: list[tuple[str, str]] = []
        self.actions: dict[str, deque] = {}
        self.lookup_misses: dict[str, int] = {}
        self.broken_books: set[str] = set()
        self.started = asyncio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.trade_ids = 0

    def script(self, venue, *actions):
        self.actions.setdefault(venue, deque()).extend(actions)
        return self

    async def submit(self, venue, symbol, side, amount, price, time_in_force, client_order_id):
        self.submits.append((venue, client_order_id, side, amount, price))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)  # let the other leg start: measures concurrency
            action = self.actions.get(venue, deque()).popleft() if self.actions.get(venue) else None
            if action == "reject":
                raise InvalidOrder("-2010 Order rejected", exchange=venue, client_order_id=client_order_id)
            if action == "duplicate":
                raise DuplicateClientOrderId("-2010 Duplicate order sent.", exchange=venue)
            if action == "lost":
                raise AmbiguousOrderError("connection reset", cause_type="NetworkFailure", exchange=venue)
            if action == "hang":
                await asyncio.sleep(3600)
            snapshot = self._fill(venue, symbol, side, amount, price, client_order_id)
            if action == "accepted_then_lost":
                raise AmbiguousOrderError("timed out", cause_type="RequestTimedOut", exchange=venue)
            if action == "open":
                return replace(snapshot, status=OrderStatus.ACCEPTED, filled=D(0), fills=())
            return snapshot
        finally:
            self.in_flight -= 1

    def _fill(self, venue, symbol, side, amount, limit, client_order_id):
        venue_rules = self.rules[venue]
        current = self.books[venue]
        levels = list(current.asks if side is Side.BUY else current.bids)
        fills, left, kept = [], amount, []
        for price, size in levels:
            crosses = price <= limit if side is Side.BUY else price >= limit
            if left > 0 and crosses:
                take = min(left, size)
                self.trade_ids += 1
                fee, asset = ((take * venue_rules.taker_fee, "BTC") if side is Side.BUY
                              else (take * price * venue_rules.taker_fee, "USDT"))
                fills.append(Fill(venue, symbol, side, price, take, fee, asset, str(self.trade_ids), client_order_id,
                                  f"{venue}-{len(self.orders) + 1}", 0))
                left -= take
                if size > take:
                    kept.append((price, size - take))
            else:
                kept.append((price, size))
        kept = tuple(kept)
        self.books[venue] = replace(current, asks=kept) if side is Side.BUY else replace(current, bids=kept)
        filled = amount - left
        snapshot = OrderSnapshot(venue, symbol, side, client_order_id, f"{venue}-{len(self.orders) + 1}",
                                 OrderStatus.FILLED if left == 0 else OrderStatus.EXPIRED, amount, filled, limit,
                                 None, tuple(fills))
        self.orders[(venue, client_order_id)] = snapshot
        return snapshot

    async def lookup(self, venue, symbol, client_order_id):
        self.lookups.append((venue, client_order_id))
        if self.lookup_misses.get(venue, 0) > 0:
            self.lookup_misses[venue] -= 1
            return None
        return self.orders.get((venue, client_order_id))

    async def order_book(self, venue, symbol):
        if venue in self.broken_books:
            raise ExchangeUnavailable("503", exchange=venue)
        return replace(self.books[venue], received_at=time.time())

    def submits_of(self, client_order_id):
        return [s for s in self.submits if s[1] == client_order_id]


async def no_sleep(_seconds):
    await asyncio.sleep(0)


FAST = dict(leg_timeout_s=0.5, lookup_attempts=3, lookup_interval_s=0.0, sleep=no_sleep)


def sized(books):
    return size_arbitrage(books["cheap"], books["rich"], RULES["cheap"], RULES["rich"], quote_free=D("100000"),
                          base_free=D("100"))


async def test_both_filled_realises_exactly_the_sized_profit_and_leaves_the_fee_as_dust():
    books = crossing_books()
    opportunity = sized(books)
    venues = FakeVenues(books)
    result = await execute_opportunity(opportunity, io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.BOTH_FILLED
    assert result.realised_profit == opportunity.expected_profit
    assert result.exact
    quote = result.flows[("cheap", "USDT")] + result.flows[("rich", "USDT")]
    assert quote == opportunity.expected_quote_delta
    assert result.flows[("cheap", "BTC")] + result.flows[("rich", "BTC")] == opportunity.expected_base_delta
    # Bought and sold the same amount: no residual; the buyer's base fee is the carried, reported exposure.
    assert result.residual == 0
    assert result.residual_by_venue == {"cheap": opportunity.amount, "rich": -opportunity.amount}
    assert result.base_fees == result.fees[("cheap", "BTC")] == opportunity.base_fee_exposure == D("0.0015")
    assert result.unwind_plan is None and result.unwind is None
    assert len(venues.submits) == 2


async def test_legs_are_sent_concurrently():
    venues = FakeVenues(crossing_books())
    await execute_arbitrage("cheap", "rich", SYMBOL, D("0.1"), buy_price=D("100.00"), sell_price=D("101.00"),
                            io=venues, rules=RULES, **FAST)
    assert venues.max_in_flight == 2


class EagerVenues(FakeVenues):
    """Venues whose I/O can begin a submit synchronously (``start_submit``), as the order manager actor's can."""

    def __init__(self, books, refuse_at_start=()):
        super().__init__(books)
        self.started_legs: list[str] = []
        self.refuse_at_start = set(refuse_at_start)

    def start_submit(self, venue, symbol, side, amount, price, time_in_force, client_order_id):
        self.started_legs.append(client_order_id)  # "written": the request has left when this returns
        if venue in self.refuse_at_start:
            raise InvalidOrder("-1013 Filter failure: LOT_SIZE", exchange=venue, client_order_id=client_order_id)
        return self.submit(venue, symbol, side, amount, price, time_in_force, client_order_id)


async def test_with_start_submit_both_legs_leave_before_anything_is_awaited():
    venues = EagerVenues(crossing_books())
    run = asyncio.ensure_future(execute_arbitrage(
        "cheap", "rich", SYMBOL, D("0.1"), buy_price=D("100.00"), sell_price=D("101.00"), io=venues, rules=RULES,
        client_order_ids=("buy-1", "sell-1"), **FAST))
    await asyncio.sleep(0)  # execute_arbitrage has run up to its first wait, and nothing else has run yet
    assert venues.started_legs == ["buy-1", "sell-1"]
    result = await run
    assert result.outcome is Outcome.BOTH_FILLED and venues.max_in_flight == 2


async def test_start_arbitrage_has_both_legs_on_the_wire_when_it_returns():
    venues = EagerVenues(crossing_books())
    pending = start_arbitrage("cheap", "rich", SYMBOL, D("0.1"), buy_price=D("100.00"), sell_price=D("101.00"),
                              io=venues, rules=RULES, client_order_ids=("buy-2", "sell-2"), **FAST)
    assert venues.started_legs == ["buy-2", "sell-2"]  # before any await: no loop turn between them and the caller
    result = await pending
    assert result.outcome is Outcome.BOTH_FILLED and result.buy.intent.client_order_id == "buy-2"
    with pytest.raises(ArbitrageInputError, match="same"):  # bad input: refused at once, nothing sent
        start_arbitrage("cheap", "cheap", SYMBOL, D("0.1"), buy_price=D("100.00"), sell_price=D("101.00"),
                        io=venues, rules=RULES, **FAST)
    assert venues.started_legs == ["buy-2", "sell-2"]


async def test_an_error_raised_while_starting_a_leg_is_classified_like_a_submit_error():
    venues = EagerVenues(crossing_books(), refuse_at_start={"rich"})
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.1"), buy_price=D("100.00"),
                                     sell_price=D("101.00"), io=venues, rules=RULES,
                                     unwind=UnwindPolicy(execute=False), **FAST)
    assert result.outcome is Outcome.ONE_LEGGED
    assert result.sell.snapshot.status is OrderStatus.REJECTED and "LOT_SIZE" in result.sell.error


async def test_client_order_ids_are_made_and_journaled_before_anything_is_sent():
    venues = FakeVenues(crossing_books())
    journaled = []

    async def journal(intent):
        assert not venues.submits, "journal must happen before any submit"
        journaled.append(intent)

    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.1"), buy_price=D("100.00"),
                                     sell_price=D("101.00"), io=venues, rules=RULES, before_submit=journal,
                                     client_order_ids=("buy-1", "sell-1"), **FAST)
    assert [(i.client_order_id, i.purpose) for i in journaled] == [("buy-1", LegPurpose.BUY_LEG),
                                                                   ("sell-1", LegPurpose.SELL_LEG)]
    assert sorted(s[1] for s in venues.submits) == ["buy-1", "sell-1"]
    assert result.buy.snapshot.client_order_id == "buy-1"


async def test_both_missed_when_both_books_moved_away():
    books = crossing_books()
    venues = FakeVenues(books)
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.5"), buy_price=D("99.00"),
                                     sell_price=D("102.00"), io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.BOTH_MISSED
    assert result.buy.snapshot.status is OrderStatus.EXPIRED
    assert result.realised_profit == 0 and result.residual == 0
    assert result.unwind_plan is None


async def test_one_legged_sell_rejected_is_unwound_on_the_venue_that_pays_most():
    books = crossing_books()
    opportunity = sized(books)
    venues = FakeVenues(books).script("rich", "reject")
    result = await execute_opportunity(opportunity, io=venues, rules=RULES, unwind=UnwindPolicy(max_slippage_bps=D(100)),
                                       **FAST)
    assert result.outcome is Outcome.ONE_LEGGED
    assert result.sell.snapshot.status is OrderStatus.REJECTED and "InvalidOrder" in result.sell.error
    assert result.residual == D("1.5") and result.base_fees == D("0.0015")
    plan = result.unwind_plan
    # rich's bids (101.00, 100.80, 100.40 within 100 bps) pay more than cheap's 99.90: sell the 1.5 BTC there.
    assert (plan.venue, plan.side, plan.amount) == ("rich", Side.SELL, D("1.5"))
    assert plan.limit_price == D("99.99")  # 101.00 less 100 bps, rounded up to the tick
    assert plan.dust == 0
    assert result.unwind.snapshot.status is OrderStatus.FILLED
    assert result.unwind.intent.purpose is LegPurpose.UNWIND
    assert result.residual_after_unwind == 0
    assert result.flows_after_unwind[("rich", "BTC")] == -D("1.5")
    # Net across venues: only the carried buy fee.
    assert result.flows_after_unwind[("cheap", "BTC")] + result.flows_after_unwind[("rich", "BTC")] == -D("0.0015")


async def test_unwind_prefers_the_venue_that_can_flatten_everything_inside_the_slippage_bound():
    books = crossing_books()
    venues = FakeVenues(books).script("rich", "reject")
    result = await execute_opportunity(sized(books), io=venues, rules=RULES, **FAST)  # default 50 bps
    # Within 50 bps rich holds only 1.3 (101.00, 100.80); cheap takes all 1.5 at 99.90.
    assert result.unwind_plan.venue == "cheap"
    assert result.unwind_plan.limit_price == D("99.41")  # 99.90 less 50 bps = 99.4005, up to the tick
    assert result.residual_after_unwind == 0


async def test_unwind_respects_inventory_when_balances_are_given():
    books = crossing_books()
    venues = FakeVenues(books).script("rich", "reject")
    balances = {"cheap": {"BTC": D("10"), "USDT": D("1000")}, "rich": {"BTC": D("0"), "USDT": D("1000")}}
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("1"), buy_price=D("100.10"),
                                     sell_price=D("100.40"), io=venues, rules=RULES, balances=balances, **FAST)
    assert result.unwind_plan.venue == "cheap"
    assert result.unwind_plan.limit_price == D("99.41")  # 99.90 less 50 bps = 99.4005, up to the tick
    assert result.unwind.snapshot.filled == D("1")


async def test_partial_buy_leaves_a_short_that_is_bought_back():
    books = crossing_books()
    venues = FakeVenues(books)
    # Limit 100.00 reaches only the 0.5 BTC level: the buy expires partly filled, the sell fills 1.
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("1"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.PARTIAL
    assert result.buy.filled == D("0.5") and result.sell.filled == D("1")
    assert result.residual == D("-0.5")
    plan = result.unwind_plan
    assert plan.side is Side.BUY and plan.amount == D("0.5")
    assert plan.venue == "cheap"  # cheap's ask 100.10 beats rich's 101.50
    # realised profit on the matched 0.5: sold at 101.00 (first 0.3) and 100.80, bought at 100.00, all fees paid.
    sold = D("0.3") * D("101.00") + D("0.2") * D("100.80")
    fees = D("0.5") * D("0.001") * D("100.00") + (D("0.3") * D("101.00") + D("0.7") * D("100.80")) * D("0.001")
    assert result.realised_profit == sold - D("50.000") - fees


async def test_accepted_then_lost_answer_is_found_by_client_order_id_and_not_resent():
    venues = FakeVenues(crossing_books()).script("cheap", "accepted_then_lost")
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.BOTH_FILLED
    assert result.buy.resolved_by_lookup and "AmbiguousOrderError" in result.buy.error
    assert len(venues.submits_of(result.buy.intent.client_order_id)) == 1
    sold = D("0.3") * D("101.00") + D("0.1") * D("100.80")
    assert result.realised_profit == sold * D("0.999") - D("0.4") * D("100.00") * D("1.001")


async def test_not_found_is_counted_not_believed_at_once():
    venues = FakeVenues(crossing_books()).script("cheap", "accepted_then_lost")
    venues.lookup_misses["cheap"] = 2
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.BOTH_FILLED
    assert len([l for l in venues.lookups if l[0] == "cheap"]) == 3


async def test_timeout_with_nothing_placed_is_unresolved_and_never_unwound_blindly():
    venues = FakeVenues(crossing_books()).script("cheap", "hang")
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES,
                                     **{**FAST, "leg_timeout_s": 0.05})
    assert result.outcome is Outcome.UNRESOLVED
    assert result.buy.snapshot is None and "TimeoutError" in result.buy.error
    assert result.sell.filled == D("0.4")
    assert result.residual == -D("0.4")
    assert result.unwind_plan is not None and result.unwind is None  # planned, not sent: reconcile first
    assert len(venues.submits_of(result.buy.intent.client_order_id)) == 1
    assert len(venues.lookups) == 3


async def test_lost_request_not_found_stays_unresolved():
    venues = FakeVenues(crossing_books()).script("rich", "lost")
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.outcome is Outcome.UNRESOLVED
    assert not result.sell.resolved


async def test_duplicate_reply_for_an_unknown_id_is_a_rejection():
    # Binance answers every -2010 alike; rayarb's translation calls them duplicates. Unknown to the venue -> rejected.
    venues = FakeVenues(crossing_books()).script("rich", "duplicate")
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.sell.snapshot.status is OrderStatus.REJECTED
    assert result.outcome is Outcome.ONE_LEGGED


async def test_open_answer_is_followed_until_terminal():
    venues = FakeVenues(crossing_books()).script("cheap", "open")
    result = await execute_arbitrage("cheap", "rich", SYMBOL, D("0.4"), buy_price=D("100.00"),
                                     sell_price=D("100.80"), io=venues, rules=RULES, **FAST)
    assert result.buy.snapshot.status is OrderStatus.FILLED and result.buy.resolved_by_lookup
    assert result.outcome is Outcome.BOTH_FILLED


async def test_unwind_only_planned_when_execution_is_off_and_no_book_means_no_unwind():
    venues = FakeVenues(crossing_books()).script("rich", "reject")
    planned = await execute_arbitrage("cheap", "rich", SYMBOL, D("1"), buy_price=D("100.10"),
                                      sell_price=D("100.40"), io=venues, rules=RULES,
                                      unwind=UnwindPolicy(execute=False), **FAST)
    assert planned.unwind_plan.executable and planned.unwind is None
    assert len(venues.submits) == 2

    venues = FakeVenues(crossing_books()).script("rich", "reject")
    venues.broken_books = {"cheap", "rich"}
    blind = await execute_arbitrage("cheap", "rich", SYMBOL, D("1"), buy_price=D("100.10"),
                                    sell_price=D("100.40"), io=venues, rules=RULES, **FAST)
    assert blind.unwind_plan.reason == "no_book" and blind.unwind is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(amount=D("0")), "amount"),
        (dict(amount=1.0), "amount"),
        (dict(buy_price=D("NaN")), "buy price"),
        (dict(sell_exchange="cheap"), "same"),
        (dict(sell_exchange="nowhere"), "no market rules"),
    ],
)
async def test_bad_arguments_are_refused_before_any_io(kwargs, match):
    venues = FakeVenues(crossing_books())
    arguments = dict(buy_exchange="cheap", sell_exchange="rich", symbol=SYMBOL, amount=D("1"),
                     buy_price=D("100"), sell_price=D("101"))
    arguments.update(kwargs)
    with pytest.raises(ArbitrageInputError, match=match):
        await execute_arbitrage(**arguments, io=venues, rules=RULES, **FAST)
    assert venues.submits == []


# ---- plan_unwind directly -------------------------------------------------------------------------------------

def test_flat_residual_needs_no_unwind():
    plan = plan_unwind(D("0"), SYMBOL, crossing_books(), RULES)
    assert plan.reason == "flat" and not plan.executable


def test_residual_below_every_minimum_is_dust():
    plan = plan_unwind(D("0.00004"), SYMBOL, crossing_books(), RULES)
    assert plan.reason == "below_minimum" and plan.dust == D("0.00004") and not plan.executable
    notional = plan_unwind(D("0.04"), SYMBOL, crossing_books(), RULES)  # 0.04 * ~100 < 5 USDT
    assert notional.reason == "below_minimum"


def test_unwind_fills_what_the_slippage_bound_allows_and_prefers_the_fuller_venue():
    books = {
        "cheap": book("cheap", [("100.00", "0.1"), ("90.00", "10")], [("100.10", "1")]),
        "rich": book("rich", [("99.90", "5")], [("101.00", "1")]),
    }
    plan = plan_unwind(D("2"), SYMBOL, books, RULES, max_slippage_bps=D("20"))
    # cheap has the best bid but only 0.1 inside 20 bps; rich fills all 2 at 99.90.
    assert plan.venue == "rich" and plan.expected_fill == D("2")
    assert plan.limit_price == D("99.71")  # 99.90 * 0.998 = 99.7002 -> up to the tick
    # cost: 0.10 below the best bid across venues plus the fee, per unit.
    assert plan.expected_cost == D("2") * D("0.10") + D("2") * D("99.90") * D("0.001")


def test_short_residual_is_bought_where_the_ask_is_cheapest():
    plan = plan_unwind(D("-0.5"), SYMBOL, crossing_books(), RULES)
    assert (plan.venue, plan.side, plan.amount) == ("cheap", Side.BUY, D("0.5"))
    assert plan.limit_price == D("100.50")  # 100.00 plus 50 bps
