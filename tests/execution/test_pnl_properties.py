"""Property tests of PositionTracker over random fill sequences, all exact Decimal:

- realized + unrealized PnL equals the mark-to-market change of the trades (gross of fees);
- the balances view valued at the marks changes by exactly that minus the fees (base fees at the mark);
- replaying fills (duplicates) changes nothing; balances do not depend on the order of fills.
"""
import random
from decimal import Context, Inexact, localcontext
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from execution.position_tracker import PositionTracker
from execution.types import Fill, Side

SYMBOLS = {"BTC/USDT": ("BTC", "USDT"), "ETH/USDT": ("ETH", "USDT")}
VENUES = ("alpha", "beta")
# The tests' own sums must be exact too: wide precision, and any rounding raises.
EXACT_CHECK = Context(prec=120, traps=[Inexact])

prices = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("50"), places=8)
rates = st.sampled_from([D("0"), D("0.001"), D("0.00075"), D("0.0002")])


@st.composite
def fill_sequences(draw):
    count = draw(st.integers(min_value=1, max_value=40))
    fills = []
    for index in range(count):
        venue = draw(st.sampled_from(VENUES))
        symbol = draw(st.sampled_from(sorted(SYMBOLS)))
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        price, amount, rate = draw(prices), draw(amounts), draw(rates)
        base, quote = SYMBOLS[symbol]
        fee_in_base = draw(st.booleans()) if side is Side.BUY else False
        fee = amount * rate if fee_in_base else amount * price * rate
        fills.append(Fill(venue, symbol, side, price, amount, fee, base if fee_in_base else quote, f"t{index}",
                          f"c{index}", f"o{index}", index))
    marks = {symbol: draw(prices) for symbol in SYMBOLS}
    return fills, marks


@settings(max_examples=100, deadline=None)
@given(data=fill_sequences())
def test_realized_plus_unrealized_is_the_mark_to_market_change(data):
    fills, marks = data
    tracker = PositionTracker()
    tracker.apply_all(fills)
    with localcontext(EXACT_CHECK):
        check_mark_to_market(tracker, fills, marks)


def check_mark_to_market(tracker, fills, marks):
    realized = sum(tracker.realized_pnl().values(), D(0))
    unrealized = sum(tracker.unrealized_pnl(marks).values(), D(0))
    mtm = sum(((f.amount if f.side is Side.BUY else -f.amount) * (marks[f.symbol] - f.price) for f in fills), D(0))
    assert realized + unrealized == mtm
    # Per venue and symbol too.
    for (venue, symbol), position in tracker.positions.items():
        own = [f for f in fills if f.exchange == venue and f.symbol == symbol]
        expected = sum(((f.amount if f.side is Side.BUY else -f.amount) * (marks[symbol] - f.price) for f in own),
                       D(0))
        assert position.realized_pnl + position.unrealized_pnl(marks[symbol]) == expected


@settings(max_examples=100, deadline=None)
@given(data=fill_sequences())
def test_balances_at_the_marks_change_by_pnl_minus_fees(data):
    fills, marks = data
    tracker = PositionTracker({venue: {"USDT": D("1000000")} for venue in VENUES})
    tracker.apply_all(fills)
    with localcontext(EXACT_CHECK):
        check_equity(tracker, marks)


def check_equity(tracker, marks):
    asset_marks = {base: marks[symbol] for symbol, (base, _) in SYMBOLS.items()} | {"USDT": D(1)}
    equity_change = sum((change * asset_marks[asset] for changes in tracker.balance_changes().values()
                         for asset, change in changes.items()), D(0))
    fees_value = sum((fee * asset_marks[asset] for (_, asset), fee in tracker.fees().items()), D(0))
    pnl = sum(tracker.realized_pnl().values(), D(0)) + sum(tracker.unrealized_pnl(marks).values(), D(0))
    assert equity_change == pnl - fees_value
    # The balances view is the starting balances plus those changes, exactly.
    balances = tracker.balances()
    for venue, changes in tracker.balance_changes().items():
        for asset, change in changes.items():
            assert balances[venue][asset] == (D("1000000") if asset == "USDT" else 0) + change


@settings(max_examples=50, deadline=None)
@given(data=fill_sequences(), seed=st.integers(min_value=0, max_value=2**32))
def test_replays_are_ignored_and_balances_do_not_depend_on_order(data, seed):
    fills, marks = data
    once = PositionTracker()
    once.apply_all(fills)
    replayed = PositionTracker()
    replayed.apply_all(fills)
    shuffled = list(fills)
    random.Random(seed).shuffle(shuffled)
    assert replayed.apply_all(shuffled) == 0
    assert replayed.report(marks).equals(once.report(marks))
    reordered = PositionTracker()
    reordered.apply_all(shuffled)
    assert reordered.balances() == once.balances()
    assert reordered.fees() == once.fees()
    assert reordered.exposure() == once.exposure()
