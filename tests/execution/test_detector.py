"""The detector: one check per other venue on each update, stale books skipped, one opportunity per crossing."""
from __future__ import annotations

from decimal import Decimal as D

from hypothesis import example, given, settings, strategies as st

from execution.detector import ArbitrageDetector
from execution.types import FloatBook, MarketRules, OrderBook


def rules(venue: str, fee: str = "0.001") -> MarketRules:
    return MarketRules(venue, "BTC/USDT", "BTC", "USDT", D("0.01"), D("0.00001"), D("0.00001"), None, D("5"),
                       None, None, D("0.0002"), D(fee))


def book(venue: str, bid: str, ask: str, *, at: float = 100.0, qty: str = "1") -> OrderBook:
    return OrderBook(venue, "BTC/USDT", ((D(bid), D(qty)),), ((D(ask), D(qty)),), received_at=at)


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def make(venues=("a", "b", "c"), **kw):
    clock = Clock()
    det = ArbitrageDetector({(v, "BTC/USDT"): rules(v) for v in venues}, min_profit_bps=D(kw.pop("bps", "1")),
                            max_book_age_s=kw.pop("max_age", 0.5), clock=clock, **kw)
    for v in venues:
        det.set_inventory(v, {"USDT": D("100000"), "BTC": D("2")})
    return det, clock


def test_no_crossing_no_detection():
    det, _ = make()
    assert det.on_book(book("a", "60000", "60001")) == []
    assert det.on_book(book("b", "60000.5", "60001.5")) == []
    assert det.detected == 0


def test_a_profitable_crossing_is_detected_with_buy_on_the_cheap_venue():
    det, _ = make()
    det.on_book(book("a", "59800", "59810"))
    found = det.on_book(book("b", "60000", "60010"))
    assert len(found) == 1
    opp = found[0].opportunity
    assert (opp.buy_exchange, opp.sell_exchange) == ("a", "b")
    assert opp.buy_limit == D("59810") and opp.sell_limit == D("60000")
    assert opp.expected_profit > 0
    assert found[0].book_received_at == 100.0


def test_a_crossing_smaller_than_fees_is_skipped_as_unprofitable():
    det, _ = make()
    det.on_book(book("a", "59990", "59999"))
    assert det.on_book(book("b", "60000", "60010")) == []
    assert det.skipped["below_min_profit"] == 1


def test_a_crossing_whose_best_prices_cannot_pay_is_passed_over_without_sizing(monkeypatch):
    import execution.detector as detector_module

    sized = []
    real = detector_module.size_arbitrage
    monkeypatch.setattr(detector_module, "size_arbitrage", lambda *a, **k: sized.append(1) or real(*a, **k))
    det, _ = make()
    det.on_book(book("a", "59990", "59999"))
    assert det.on_book(book("b", "60000", "60010")) == []  # 1 in 60 000 against 0.1 % + 0.1 % of fees
    assert det.skipped["below_min_profit"] == 1 and sized == []
    det.on_book(book("c", "60200", "60210"))  # pays, bought on a and on b: both sized exactly
    assert len(sized) == 2 and det.detected == 2


def test_no_double_fire_while_in_flight_then_fires_again_after_release():
    det, _ = make()
    det.on_book(book("a", "59800", "59810"))
    first = det.on_book(book("b", "60000", "60010"))
    again = det.on_book(book("b", "60000", "60011"))
    assert len(first) == 1 and again == [] and det.skipped["in_flight_limit"] == 1
    det.release(("BTC/USDT", "a", "b"))
    assert len(det.on_book(book("b", "60000", "60012"))) == 1


def test_every_skip_is_reported_as_it_happens_with_its_symbol():
    reported: list[tuple[str, str]] = []
    det, clock = make(on_skip=lambda symbol, reason: reported.append((symbol, reason)))
    det.on_book(book("a", "59990", "59999"))
    det.on_book(book("b", "60000", "60010"))  # crosses a by less than the fees
    assert len(det.on_book(book("c", "59800", "59810"))) == 2  # crosses a and b profitably: both fire
    clock.now = 100.4
    det.on_book(book("c", "59800", "59811", at=100.4))  # both pairs still in flight
    clock.now = 100.6
    det.on_book(book("c", "59800", "59812", at=100.6))  # a's and b's books are too old now
    assert reported == [("BTC/USDT", "below_min_profit"), ("BTC/USDT", "in_flight_limit"),
                        ("BTC/USDT", "in_flight_limit"), ("BTC/USDT", "stale_book"), ("BTC/USDT", "stale_book")]
    assert sum(det.skipped.values()) == len(reported)


def test_stale_books_are_never_traded():
    det, clock = make(max_age=0.5)
    det.on_book(book("a", "59800", "59810", at=99.0))  # 1 s old
    assert det.on_book(book("b", "60000", "60010", at=100.0)) == []
    assert det.skipped["stale_book"] >= 1


def test_no_inventory_on_the_sell_venue_means_no_opportunity():
    det, _ = make()
    det.set_inventory("b", {"USDT": D("100000"), "BTC": D("0")})
    det.on_book(book("a", "59800", "59810"))
    assert det.on_book(book("b", "60000", "60010")) == []
    assert det.skipped["insufficient_balance"] == 1


def test_a_disabled_detector_keeps_books_current_but_detects_nothing():
    det, _ = make()
    det.enabled = False
    det.on_book(book("a", "59800", "59810"))
    assert det.on_book(book("b", "60000", "60010")) == []
    det.enabled = True
    assert len(det.on_book(book("b", "60000", "60010"))) == 1  # the book of a, kept while disabled, is used


def test_work_per_update_grows_with_venues_not_pairs(monkeypatch):
    import execution.detector as detector_module

    calls = []
    real = detector_module.size_arbitrage

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(detector_module, "size_arbitrage", counting)
    venues = [f"v{i}" for i in range(10)]
    det, _ = make(venues=venues)
    for v in venues:  # all crossing with each other would be n^2 pairs; one update checks only its own n-1 pairs
        det.on_book(book(v, "60000", "60000.01"))
    checks_before = det.updates
    det.on_book(book("v0", "70000", "70000.01"))  # crosses every other venue, in one direction
    assert det.updates == checks_before + 1
    assert len(calls) == len(venues) - 1


@st.composite
def venue_books(draw):
    """Two venues' ladders on a 0.01 grid around 60 000, sometimes crossing, as a venue's JSON strings."""
    def side(start: int, step: int) -> list[tuple[str, str]]:
        gaps = draw(st.lists(st.integers(1, 500), min_size=1, max_size=6))
        levels, price = [], start
        for gap in gaps:
            price += step * gap
            levels.append((f"{D(price) / 100:.2f}", str(D(draw(st.integers(1, 300_000))) / 100_000)))
        return levels

    books = {}
    for venue in ("a", "b"):
        mid = 6_000_000 + draw(st.integers(-40_000, 40_000))  # in cents: crossings beyond both fees happen
        spread = draw(st.integers(1, 400))
        books[venue] = (side(mid + 1, -1), side(mid + spread - 1, 1))  # bids below mid, asks from mid + spread
    return books


@settings(max_examples=400, deadline=None)
@given(venue_books(), st.sampled_from([None, "30", "3000", "30000"]))
@example({"a": ([("59800.10", "0.3"), ("59700", "1")], [("59810.35", "0.12345"), ("59811.01", "2")]),
          "b": ([("60000.07", "0.05"), ("59999.99", "0.7")], [("60010", "1")])}, None)  # crosses by two levels
@example({"a": ([("59800.10", "0.3")], [("59810.35", "0.1"), ("59811.01", "0.1"), ("59812", "0.1")]),
          "b": ([("60000.07", "0.1"), ("59999.99", "0.1"), ("59999", "0.2")], [("60010", "1")])},
         "11962.07")  # the notional cap (0.2 at the best ask) ends exactly on the second ask level
def test_streamed_float_books_detect_exactly_what_decimal_books_detect(books, max_notional):
    """ccxt hands the stream over as floats; sizing, fees and profit must not differ by a single unit from the
    Decimal path."""
    found = {}
    for kind in ("decimal", "float"):
        det, _ = make(venues=("a", "b"), max_notional=None if max_notional is None else D(max_notional))
        detections = []
        for venue, (bids, asks) in books.items():
            if kind == "decimal":
                b = OrderBook(venue, "BTC/USDT", tuple((D(p), D(q)) for p, q in bids),
                              tuple((D(p), D(q)) for p, q in asks), received_at=100.0)
            else:
                b = FloatBook(venue, "BTC/USDT", tuple((float(p), float(q)) for p, q in bids),
                              tuple((float(p), float(q)) for p, q in asks), received_at=100.0)
            detections += det.on_book(b)
        found[kind] = [d.opportunity for d in detections]
    assert found["float"] == found["decimal"]  # (about one example in five crosses beyond both fees)
