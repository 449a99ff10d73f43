"""Depth-aware sizing: hand-checked cases, caps, minimums, direction choice, and properties over random books."""
import time
from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from execution.arbitrage.sizing import misses_min_profit
from execution.arbitrage_executor import find_opportunity, size_arbitrage
from execution.types import BookError, MarketRules, OrderBook

SYMBOL = "BTC/USDT"


def rules(exchange, *, fee="0.001", step="0.0001", tick="0.01", min_amount="0.0001", min_notional="5",
          max_amount=None):
    return MarketRules(exchange, SYMBOL, "BTC", "USDT", D(tick), D(step), D(min_amount),
                       None if max_amount is None else D(max_amount), D(min_notional), None, None, D(fee), D(fee))


def book(exchange, bids, asks, received_at=None):
    levels = lambda rows: tuple((D(p), D(q)) for p, q in rows)  # noqa: E731
    return OrderBook(exchange, SYMBOL, levels(bids), levels(asks),
                     received_at=time.time() if received_at is None else received_at)


CHEAP = book("a", [("99.00", "1")], [("100.00", "0.5"), ("100.10", "1"), ("100.50", "2")])
RICH = book("b", [("101.00", "0.3"), ("100.80", "1"), ("100.40", "5")], [("102.00", "1")])
PLENTY = dict(quote_free=D("100000"), base_free=D("100"))


def test_walks_both_books_until_the_marginal_unit_loses():
    opportunity = size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), **PLENTY)
    # 0.5@100 + 1@100.10 bought, 0.3@101 + 1@100.80 + 0.2@100.40 sold; the next ask (100.50) beats the bid.
    assert opportunity.amount == D("1.5")
    assert (opportunity.buy_limit, opportunity.sell_limit) == (D("100.10"), D("100.40"))
    assert opportunity.buy_notional == D("150.10")
    assert opportunity.sell_notional == D("151.18")
    assert opportunity.expected_profit == D("151.18") * D("0.999") - D("150.10") * D("1.001")
    assert opportunity.expected_quote_delta == D("151.18") * D("0.999") - D("150.10")
    assert opportunity.expected_base_delta == D("-0.0015")
    assert opportunity.base_fee_exposure == D("0.0015")
    assert opportunity.quote_required == D("1.5") * D("100.10")
    assert (opportunity.buy_exchange, opportunity.sell_exchange) == ("a", "b")


def test_threshold_stops_inside_a_segment_at_the_exact_boundary():
    cheap = book("a", [("99", "1")], [("100.00", "1"), ("100.60", "10")])
    rich = book("b", [("101.00", "1"), ("100.70", "10")], [("102", "1")])
    threshold = D("20")  # bps of buy notional
    opportunity = size_arbitrage(cheap, rich, rules("a", fee="0"), rules("b", fee="0"), **PLENTY,
                                 min_profit_bps=threshold)
    # The first unit earns 1.00 on 100 (100 bps); each later one 0.10 on 100.60 (~9.9 bps), so the average falls to
    # 20 bps at (1 + 0.1x) = 0.002 (100 + 100.6x), x = 0.8 / 0.1012 = 7.9051...
    x = D("7.9051")
    amount = D("1") + x
    assert opportunity.amount == amount
    profit = opportunity.expected_profit
    assert profit == D("1") + D("0.10") * x
    assert profit >= threshold / 10000 * opportunity.buy_notional
    one_more = amount + D("0.0001")
    notional = D("100") + D("100.60") * (one_more - 1)
    assert D("1") + D("0.10") * (one_more - 1) < threshold / 10000 * notional


def test_sell_inventory_caps_the_amount():
    opportunity = size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), quote_free=D("100000"), base_free=D("0.42"))
    assert opportunity.amount == D("0.42")
    assert opportunity.sell_limit == D("100.80")


def test_quote_inventory_caps_the_amount_at_the_limit_price():
    # 60 USDT at a limit of 100.00 buys 0.6 ... but 0.5 is all that level holds, beyond it the limit is 100.10.
    opportunity = size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), quote_free=D("60"), base_free=D("100"))
    assert opportunity.amount == D("0.5994")  # floor(60 / 100.10, 0.0001)
    assert opportunity.quote_required <= D("60")
    assert opportunity.buy_limit == D("100.10")


def test_quote_fee_is_reserved_when_the_buy_fee_is_charged_in_quote():
    opportunity = size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), quote_free=D("50"), base_free=D("100"),
                                 buy_fee_in_base=False)
    assert opportunity.amount == D("0.4995")  # floor(50 / (100 * 1.001), 0.0001)
    assert opportunity.quote_required == D("0.4995") * D("100.00") * D("1.001")
    assert opportunity.expected_base_delta == 0
    assert opportunity.expected_quote_delta == opportunity.expected_profit


def test_amount_is_on_the_step_of_both_venues():
    opportunity = size_arbitrage(CHEAP, RICH, rules("a", step="0.001"), rules("b", step="0.0004"),
                                 quote_free=D("100000"), base_free=D("0.6999"))
    assert opportunity.amount == D("0.698")  # multiples of 0.002


def test_max_amount_and_market_max_cap_the_amount():
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), **PLENTY, max_amount=D("0.25")).amount == D("0.25")
    capped = size_arbitrage(CHEAP, RICH, rules("a", max_amount="0.2"), rules("b"), **PLENTY)
    assert capped.amount == D("0.2")


def test_below_minimum_amount_or_notional_is_no_opportunity():
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b", min_amount="2"), **PLENTY) is None
    tiny = dict(quote_free=D("100000"), base_free=D("0.04"))  # 0.04 * 100 = 4 < 5 USDT
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), **tiny) is None
    assert size_arbitrage(CHEAP, RICH, rules("a", min_notional="4"), rules("b", min_notional="4"), **tiny) is not None


def test_no_crossing_or_fees_eating_it_is_no_opportunity():
    flat = book("b", [("99.99", "5")], [("102", "1")])
    assert size_arbitrage(CHEAP, flat, rules("a"), rules("b"), **PLENTY) is None
    thin = book("b", [("100.15", "5")], [("102", "1")])  # 0.15 spread < 0.2 of fees
    assert size_arbitrage(CHEAP, thin, rules("a"), rules("b"), **PLENTY) is None
    assert size_arbitrage(CHEAP, thin, rules("a", fee="0"), rules("b", fee="0"), **PLENTY) is not None


def test_threshold_above_best_margin_is_no_opportunity():
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), **PLENTY, min_profit_bps=D("81")) is None


def test_no_inventory_is_no_opportunity():
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), quote_free=D("0"), base_free=D("5")) is None
    assert size_arbitrage(CHEAP, RICH, rules("a"), rules("b"), quote_free=D("500"), base_free=D("0")) is None


def test_off_tick_levels_get_limits_on_the_tick_grid_that_still_reach_them():
    cheap = book("a", [("99", "1")], [("100.004", "1")])
    rich = book("b", [("101.006", "1")], [("102", "1")])
    opportunity = size_arbitrage(cheap, rich, rules("a"), rules("b"), **PLENTY)
    assert opportunity.buy_limit == D("100.01")
    assert opportunity.sell_limit == D("101.00")


def test_books_of_different_symbols_are_refused():
    other = OrderBook("b", "ETH/USDT", ((D("101"), D("1")),), ((D("102"), D("1")),))
    with pytest.raises(ValueError, match="different symbols"):
        size_arbitrage(CHEAP, other, rules("a"), rules("b"), **PLENTY)


def test_find_opportunity_buys_where_the_ask_is_lower():
    venue_rules = {"a": rules("a"), "b": rules("b")}
    balances = {"a": {"USDT": D("100000"), "BTC": D("0")}, "b": {"USDT": D("0"), "BTC": D("100")}}
    forward = find_opportunity(RICH, CHEAP, venue_rules, balances)
    assert (forward.buy_exchange, forward.sell_exchange) == ("a", "b")
    # Inventory is read per venue: no BTC on b means nothing to sell there.
    assert find_opportunity(CHEAP, RICH, venue_rules, {"a": balances["a"], "b": {"BTC": D("0")}}) is None


def test_find_opportunity_refuses_stale_books():
    old = book("a", CHEAP.bids and [("99.00", "1")], [("100.00", "1")], received_at=time.time() - 10)
    with pytest.raises(BookError, match="stale"):
        find_opportunity(old, RICH, {"a": rules("a"), "b": rules("b")}, {}, max_book_age_s=2.0)


# ---- properties over random books -----------------------------------------------------------------------------

TICK = D("0.01")
STEP = D("0.001")


@st.composite
def ladders(draw):
    """Two books for the same symbol with a possible crossing, on the tick grid, amounts on a 0.001 grid."""
    mid = D(draw(st.integers(min_value=5_000, max_value=20_000))) * TICK
    cross = D(draw(st.integers(min_value=-50, max_value=150))) * TICK
    def side(start, direction):
        prices, price = [], start
        for gap in draw(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=6)):
            prices.append(price)
            price += direction * gap * TICK
        sizes = draw(st.lists(st.integers(min_value=1, max_value=3000), min_size=len(prices), max_size=len(prices)))
        return tuple((p, D(q) * STEP) for p, q in zip(prices, sizes))
    cheap_asks = side(mid, 1)
    cheap_bids = side(mid - TICK, -1)
    rich_bids = side(mid + cross, -1)
    rich_asks = side(mid + cross + TICK, 1)
    return (OrderBook("a", SYMBOL, cheap_bids, cheap_asks), OrderBook("b", SYMBOL, rich_bids, rich_asks))


def walk(levels, amount):
    left, notional, worst = amount, D(0), None
    for price, size in levels:
        if left <= 0:
            break
        take = min(size, left)
        notional += take * price
        left -= take
        worst = price
    return (None, None) if left > 0 else (notional, worst)


def feasible(amount, buy, sell, fb, fs, threshold_bps, quote_free, base_free):
    """An independent statement of the sizing rules (for the minimums-free part)."""
    if amount > base_free:
        return False
    buy_notional, buy_limit = walk(buy.asks, amount)
    sell_notional, sell_limit = walk(sell.bids, amount)
    if buy_notional is None or sell_notional is None:
        return False
    profit = sell_notional * (1 - fs) - buy_notional * (1 + fb)
    last_unit_gains = sell_limit * (1 - fs) > buy_limit * (1 + fb)
    return (profit > 0 and profit * 10000 >= threshold_bps * buy_notional and amount * buy_limit <= quote_free
            and last_unit_gains)


FEES = st.decimals(min_value=D("0"), max_value=D("0.003"), places=5)
THRESHOLDS_BPS = st.decimals(min_value=D("0"), max_value=D("60"), places=2)


def grid_rules(exchange, fee):
    """The random ladders' grid, no minimum notional."""
    return rules(exchange, fee=str(fee), step=str(STEP), min_amount="0.001", min_notional="0")


@settings(max_examples=150, deadline=None)
@given(
    books=ladders(), fb=FEES, fs=FEES, threshold=THRESHOLDS_BPS,
    quote_free=st.decimals(min_value=D("0"), max_value=D("2000000"), places=2),
    base_free=st.decimals(min_value=D("0"), max_value=D("20"), places=3),
)
def test_sizing_is_feasible_and_maximal(books, fb, fs, threshold, quote_free, base_free):
    buy, sell = books
    buy_rules, sell_rules = grid_rules("a", fb), grid_rules("b", fs)
    opportunity = size_arbitrage(buy, sell, buy_rules, sell_rules, quote_free=quote_free, base_free=base_free,
                                 min_profit_bps=threshold)
    if opportunity is None:
        assert not feasible(STEP, buy, sell, fb, fs, threshold, quote_free, base_free)
        return
    amount = opportunity.amount
    assert amount % STEP == 0 and amount > 0
    assert amount <= base_free
    assert amount <= sum(q for _, q in buy.asks) and amount <= sum(q for _, q in sell.bids)
    assert opportunity.quote_required <= quote_free
    assert feasible(amount, buy, sell, fb, fs, threshold, quote_free, base_free)
    assert opportunity.expected_profit * 10000 >= threshold * opportunity.buy_notional
    assert opportunity.expected_profit > 0
    assert not feasible(amount + STEP, buy, sell, fb, fs, threshold, quote_free, base_free)
    # Limits reach every level the VWAP used and no further.
    assert opportunity.buy_limit == walk(buy.asks, amount)[1]
    assert opportunity.sell_limit == walk(sell.bids, amount)[1]


@settings(max_examples=300, deadline=None)
@given(books=ladders(), fb=FEES, fs=FEES, threshold=THRESHOLDS_BPS)
def test_the_float_screen_passes_over_only_crossings_sizing_finds_nothing_in(books, fb, fs, threshold):
    buy, sell = books
    assume(buy.best_ask < sell.best_bid)
    if misses_min_profit(float(buy.best_ask), float(sell.best_bid), fb, fs, threshold):
        assert size_arbitrage(buy, sell, grid_rules("a", fb), grid_rules("b", fs), **PLENTY,
                              min_profit_bps=threshold) is None


def test_the_float_screen_sizes_a_crossing_that_pays_exactly_the_minimum():
    """At the bar exactly (1.100935 = 1.1 x (1 + 0.00075 + 1 bps)) floats put the bid below it; the screen's margin
    leaves the crossing to exact sizing, which takes it."""
    buy = OrderBook("a", SYMBOL, ((D("1.09"), D("100")),), ((D("1.1"), D("100")),))
    sell = OrderBook("b", SYMBOL, ((D("1.100935"), D("100")),), ((D("1.2"), D("100")),))
    grid = dict(tick="0.000001", step="1", min_amount="1", min_notional="0")
    opportunity = size_arbitrage(buy, sell, rules("a", fee="0.00075", **grid), rules("b", fee="0", **grid), **PLENTY,
                                 min_profit_bps=D("1"))
    assert opportunity is not None and opportunity.profit_bps == D("1")
    assert 1.100935 < 1.1 * (1 + 0.00075 + 1 / 10_000)  # what an unmargined float comparison would conclude
    assert not misses_min_profit(1.1, 1.100935, D("0.00075"), D("0"), D("1"))
    assert misses_min_profit(1.1, 1.10093, D("0.00075"), D("0"), D("1"))  # half a hundredth of a bps short


@settings(max_examples=60, deadline=None)
@given(books=ladders(), threshold=st.decimals(min_value=D("0"), max_value=D("40"), places=1))
def test_a_higher_threshold_never_sizes_larger(books, threshold):
    buy, sell = books
    assume(buy.best_ask < sell.best_bid)
    low = size_arbitrage(buy, sell, rules("a"), rules("b", fee="0.0005"), **PLENTY, min_profit_bps=threshold)
    high = size_arbitrage(buy, sell, rules("a"), rules("b", fee="0.0005"), **PLENTY, min_profit_bps=threshold + 5)
    if high is not None:
        assert low is not None and low.amount >= high.amount
