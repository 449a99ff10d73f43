"""track_position and PositionTracker: average cost, realized/unrealized PnL, fees, balances, exposure, report."""
from decimal import Decimal as D

import pandas as pd
import pytest

from execution.position_tracker import (
    PositionInputError,
    PositionTracker,
    read_report,
    split_symbol,
    track_position,
)
from execution.types import Fill, Side

SYMBOL = "BTC/USDT"
_ids = iter(range(1, 10_000))


def fill(venue, side, amount, price, fee="0", fee_asset=None, trade_id=None, symbol=SYMBOL):
    side = Side(side)
    asset = fee_asset or ("BTC" if side is Side.BUY else "USDT")
    return Fill(venue, symbol, side, D(price), D(amount), D(fee), asset, trade_id or str(next(_ids)), "cid", "oid", 0)


# ---- track_position (the seed's function) ---------------------------------------------------------------------

def test_long_position_state():
    state = track_position(SYMBOL, D("2"), D("100"), D("110"))
    assert state.unrealized_pnl == D("20")
    assert state.cost_basis == D("200") and state.market_value == D("220")
    assert state.unrealized_pnl_pct == D("10")
    assert state.side == "long"


def test_short_position_gains_when_price_falls():
    state = track_position(SYMBOL, D("-1.5"), D("100"), D("90"))
    assert state.unrealized_pnl == D("15")
    assert state.unrealized_pnl_pct == D("10")
    assert state.side == "short"


def test_flat_position_has_no_percentage():
    state = track_position(SYMBOL, D("0"), D("100"), D("90"))
    assert state.unrealized_pnl == 0 and state.unrealized_pnl_pct is None and state.side == "flat"


@pytest.mark.parametrize(
    "amount, entry, mark",
    [(D("NaN"), D("1"), D("1")), (D("1"), D("0"), D("1")), (D("1"), D("1"), D("-2")), (1.0, D("1"), D("1")),
     (D("1"), D("Infinity"), D("1")), (D("1"), D("1"), "x")],
)
def test_track_position_refuses_bad_numbers(amount, entry, mark):
    with pytest.raises(PositionInputError):
        track_position(SYMBOL, amount, entry, mark)


# ---- PositionTracker ------------------------------------------------------------------------------------------

def test_average_cost_and_realized_pnl():
    tracker = PositionTracker()
    tracker.apply(fill("a", "buy", "1", "100"))
    tracker.apply(fill("a", "buy", "3", "104"))
    position = tracker.position("a", SYMBOL)
    assert position.amount == D("4") and position.avg_cost == D("103")
    tracker.apply(fill("a", "sell", "2", "110"))
    assert position.realized_pnl == D("14")  # 2 * (110 - 103)
    assert position.amount == D("2") and position.avg_cost == D("103")
    assert tracker.unrealized_pnl({SYMBOL: D("100")}) == {("a", SYMBOL): D("-6")}


def test_position_flips_from_long_to_short_through_zero():
    tracker = PositionTracker()
    tracker.apply(fill("a", "buy", "1", "100"))
    tracker.apply(fill("a", "sell", "3", "120"))
    position = tracker.position("a", SYMBOL)
    assert position.realized_pnl == D("20")
    assert position.amount == D("-2") and position.avg_cost == D("120")
    tracker.apply(fill("a", "buy", "2", "125"))
    assert position.realized_pnl == D("10") and position.amount == 0 and position.cost_basis == 0


def test_repeated_trade_id_is_ignored_per_exchange_and_symbol():
    tracker = PositionTracker()
    first = fill("a", "buy", "1", "100", fee="0.001", trade_id="42")
    assert tracker.apply(first)
    assert not tracker.apply(first)
    assert tracker.apply(fill("b", "buy", "1", "100", trade_id="42"))  # same id, other venue: a different trade
    assert tracker.apply(fill("a", "buy", "1", "10", trade_id="42", symbol="ETH/USDT"))
    assert tracker.position("a", SYMBOL).amount == D("1")
    assert tracker.fees() == {("a", "BTC"): D("0.001")}
    assert tracker.duplicates == 1


def test_fees_per_venue_and_asset_and_balances_net_of_fees():
    tracker = PositionTracker({"a": {"USDT": D("1000"), "BTC": D("0")}, "b": {"BTC": D("2"), "USDT": D("0")}})
    tracker.apply(fill("a", "buy", "1", "100", fee="0.001"))  # Binance: buyer pays in base
    tracker.apply(fill("b", "sell", "1", "101", fee="0.101"))  # seller pays in quote
    tracker.apply(fill("b", "sell", "0.5", "101", fee="0.01", fee_asset="BNB"))
    assert tracker.fees() == {("a", "BTC"): D("0.001"), ("b", "USDT"): D("0.101"), ("b", "BNB"): D("0.01")}
    assert tracker.balances() == {
        "a": {"USDT": D("900"), "BTC": D("0.999")},
        "b": {"BTC": D("0.5"), "USDT": D("151.399"), "BNB": D("-0.01")},
    }
    assert tracker.exposure() == {"BTC": D("-0.501"), "USDT": D("51.399"), "BNB": D("-0.01")}
    assert tracker.realized_pnl() == {("a", "USDT"): D("0"), ("b", "USDT"): D("0")}


def test_balance_differences_against_venue_balances():
    tracker = PositionTracker({"a": {"USDT": D("1000")}})
    tracker.apply(fill("a", "buy", "1", "100", fee="0.001"))
    assert tracker.balance_differences({"a": {"USDT": D("900"), "BTC": D("0.999")}}) == {}
    assert tracker.balance_differences({"a": {"USDT": "900", "BTC": "0.998"}}) == {("a", "BTC"): D("-0.001")}


def test_venue_mark_wins_over_global_mark():
    tracker = PositionTracker()
    tracker.apply(fill("a", "buy", "1", "100"))
    tracker.apply(fill("b", "buy", "1", "100"))
    tracker.set_mark(SYMBOL, D("110"))
    tracker.set_mark(SYMBOL, D("105"), venue="b")
    assert tracker.unrealized_pnl() == {("a", SYMBOL): D("10"), ("b", SYMBOL): D("5")}
    with pytest.raises(PositionInputError):
        tracker.set_mark(SYMBOL, D("NaN"))


def test_assets_of_symbols_not_written_base_slash_quote():
    with pytest.raises(PositionInputError):
        split_symbol("BTCUSDT")
    tracker = PositionTracker(assets={"BTCUSDT": ("BTC", "USDT")})
    tracker.apply(fill("a", "buy", "1", "100", symbol="BTCUSDT"))
    assert tracker.balance_changes() == {"a": {"BTC": D("1"), "USDT": D("-100")}}


def test_report_keeps_money_exact_and_round_trips_through_csv_and_parquet(tmp_path):
    tracker = PositionTracker()
    tracker.apply(fill("a", "buy", "0.12345678", "65000.12345678", fee="0.00012345678"))
    tracker.apply(fill("a", "buy", "1", "3", fee="0.003", symbol="ETH/USDT"))
    tracker.apply(fill("b", "sell", "0.1", "65100.1", fee="6.51001"))
    tracker.apply(fill("b", "sell", "0.1", "65100.1", fee="0.5", fee_asset="BNB"))
    frame = tracker.report({SYMBOL: D("65050.5"), "ETH/USDT": D("3.3")})
    assert list(frame[["venue", "symbol"]].itertuples(index=False, name=None)) == [
        ("a", "BTC/USDT"), ("a", "ETH/USDT"), ("b", "BTC/USDT")]
    row = frame.iloc[0]
    assert isinstance(row["amount"], D) and row["amount"] == D("0.12345678")
    assert row["cost_basis"] == D("0.12345678") * D("65000.12345678")
    assert row["unrealized_pnl"] == D("0.12345678") * (D("65050.5") - D("65000.12345678"))
    assert row["fees_base"] == D("0.00012345678") and row["fees_quote"] == 0
    assert frame.iloc[2]["fees_other"] == "BNB:0.5"
    assert frame.iloc[2]["fees_quote"] == D("6.51001")
    for column in ("amount", "avg_cost", "cost_basis", "realized_pnl", "unrealized_pnl", "fees_base", "mark"):
        assert frame[column].dtype == object
        assert not any(isinstance(value, float) for value in frame[column])
    for path in (tmp_path / "report.csv", tmp_path / "report.parquet"):
        (tracker.to_csv if path.suffix == ".csv" else tracker.to_parquet)(path, {SYMBOL: D("65050.5"),
                                                                                 "ETH/USDT": D("3.3")})
        back = read_report(path)
        for column in ("amount", "avg_cost", "cost_basis", "realized_pnl", "unrealized_pnl", "fees_base",
                       "fees_quote", "mark"):
            assert list(back[column]) == list(frame[column]), (path.suffix, column)


def test_report_without_marks_leaves_unrealized_empty(tmp_path):
    tracker = PositionTracker()
    tracker.apply(fill("a", "buy", "1", "100"))
    frame = tracker.report()
    assert frame.iloc[0]["unrealized_pnl"] is None and frame.iloc[0]["mark"] is None
    back = read_report(tracker.to_parquet(tmp_path / "r.parquet"))
    assert back.iloc[0]["unrealized_pnl"] is None
    assert isinstance(PositionTracker().report(), pd.DataFrame) and PositionTracker().report().empty


@pytest.mark.parametrize(("side", "fee_asset", "expected"), [
    (Side.BUY, "BTC", {"BTC": D("0.0099"), "USDT": D("-600.012")}),  # buyer's fee in base
    (Side.SELL, "USDT", {"BTC": D("-0.01"), "USDT": D("599.912")}),  # seller's fee in quote
    (Side.BUY, "BNB", {"BTC": D("0.01"), "USDT": D("-600.012"), "BNB": D("-0.0001")}),
])
def test_a_fills_balance_changes_are_exact_per_asset(side, fee_asset, expected):
    fee = {"BTC": D("0.0001"), "USDT": D("0.1"), "BNB": D("0.0001")}[fee_asset]
    fill = Fill("alpha", "BTC/USDT", side, D("60001.2"), D("0.01"), fee, fee_asset, "t1", "rx-1", "1", 0)
    assert fill.balance_changes("BTC", "USDT") == expected
