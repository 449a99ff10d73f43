"""Cross-venue arbitrage detection on the latest book of every venue.

Each update of one venue's book is checked against the other venues' books of the same symbol only, so the cost per
update grows with the number of venues, not with its square. Stale and invalid books are skipped, opportunities are
sized by depth, fees and inventory (``size_arbitrage``), and a crossing fires once: no second opportunity for the same
symbol and venue pair while one is in flight.

Books may come as ``FloatBook`` (what the exchange actors stream: the crossing check on every update costs two float
comparisons) or ``OrderBook``; sizing, fees and profit are always Decimal, on the exact levels of the two books. A
crossing whose best prices cannot pay the fees and the minimum profit (``misses_min_profit``, in floats with a margin
over their error) is passed over before any Decimal work: sizing would find nothing there.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from execution.arbitrage.sizing import Opportunity, misses_min_profit, size_arbitrage
from execution.types import ZERO, FloatBook, MarketRules, OrderBook

logger = logging.getLogger(__name__)

PairKey = tuple[str, str, str]  # (symbol, buy venue, sell venue)
Book = OrderBook | FloatBook

SKIP_REASONS = ("stale_book", "in_flight_limit", "insufficient_balance", "below_min_profit")
BOOK_AGE_SAMPLES = 100_000  # the newest books' ages at use, kept for the ingest benchmark (benchmarks/bench_ingest.py)


@dataclass(frozen=True, slots=True)
class Detection:
    opportunity: Opportunity
    detected_at: float
    buy_book_received_at: float  # when each of the two books reached rayarb
    sell_book_received_at: float

    @property
    def book_received_at(self) -> float:
        """The newer book: the update that triggered this detection."""
        return max(self.buy_book_received_at, self.sell_book_received_at)


class ArbitrageDetector:
    def __init__(
        self,
        rules: dict[tuple[str, str], MarketRules],
        *,
        min_profit_bps: Decimal,
        max_book_age_s: float,
        max_notional: Decimal | None = None,
        clock: Callable[[], float] = time.time,
        on_skip: Callable[[str, str], None] | None = None,
    ) -> None:
        self.rules = rules
        self.min_profit_bps = min_profit_bps
        self.max_book_age_s = max_book_age_s
        self.max_notional = max_notional
        self._clock = clock
        self._on_skip = on_skip  # (symbol, reason) of each crossing or book passed over, as it happens
        self._books: dict[str, dict[str, Book]] = {}  # symbol -> venue -> latest book
        self._inventory: dict[str, dict[str, Decimal]] = {}  # venue -> asset -> free
        self._in_flight: set[PairKey] = set()
        self.enabled = True
        self.updates = 0
        self.detected = 0
        self.skipped: Counter[str] = Counter()
        # each book's age when it was used: detector's clock - when it reached rayarb (book.received_at)
        self.book_ages: deque[float] = deque(maxlen=BOOK_AGE_SAMPLES)

    def set_inventory(self, venue: str, free: dict[str, Decimal]) -> None:
        self._inventory[venue] = dict(free)

    def _skip(self, symbol: str, reason: str) -> None:
        self.skipped[reason] += 1
        if self._on_skip is not None:
            self._on_skip(symbol, reason)

    def release(self, key: PairKey) -> None:
        """The opportunity for ``key`` has been handled; the pair may fire again."""
        self._in_flight.discard(key)

    @property
    def in_flight(self) -> frozenset[PairKey]:
        return frozenset(self._in_flight)

    def on_book(self, book: Book) -> list[Detection]:
        self.updates += 1
        now = self._clock()
        age = book.age(now)
        self.book_ages.append(age)
        venues = self._books.setdefault(book.symbol, {})
        venues[book.exchange] = book
        if not self.enabled:
            return []
        if age > self.max_book_age_s:
            self._skip(book.symbol, "stale_book")
            return []
        found: list[Detection] = []
        for other in venues.values():
            if other.exchange == book.exchange:
                continue
            if other.age(now) > self.max_book_age_s:
                self._skip(book.symbol, "stale_book")
                continue
            for buy, sell in ((book, other), (other, book)):
                detection = self._check(buy, sell, now)
                if detection is not None:
                    found.append(detection)
        return found

    def _check(self, buy: Book, sell: Book, now: float) -> Detection | None:
        best_ask, best_bid = buy.best_ask, sell.best_bid
        if best_ask is None or best_bid is None or best_ask >= best_bid:
            return None  # no crossing at the top: the common case, kept cheap
        key = (buy.symbol, buy.exchange, sell.exchange)
        if key in self._in_flight:
            self._skip(buy.symbol, "in_flight_limit")
            return None
        buy_rules = self.rules[(buy.exchange, buy.symbol)]
        sell_rules = self.rules[(sell.exchange, sell.symbol)]
        quote_free = self._inventory.get(buy.exchange, {}).get(buy_rules.quote, ZERO)
        base_free = self._inventory.get(sell.exchange, {}).get(sell_rules.base, ZERO)
        if quote_free <= 0 or base_free <= 0:
            self._skip(buy.symbol, "insufficient_balance")
            return None
        if misses_min_profit(best_ask, best_bid, buy_rules.taker_fee, sell_rules.taker_fee, self.min_profit_bps):
            self._skip(buy.symbol, "below_min_profit")  # what sizing would find, without its Decimal work
            return None
        # at most max_notional is bought, at the best ask or worse: no level beyond that amount can be used
        up_to = None if self.max_notional is None else float(self.max_notional) / float(best_ask)
        buy_book = _exact(buy, asks_below=best_bid, up_to_amount=up_to)
        sell_book = _exact(sell, bids_above=best_ask, up_to_amount=up_to)
        max_amount = None
        if self.max_notional is not None:
            max_amount = self.max_notional / buy_book.best_ask
        opportunity = size_arbitrage(buy_book, sell_book, buy_rules, sell_rules, quote_free=quote_free,
                                     base_free=base_free, min_profit_bps=self.min_profit_bps, max_amount=max_amount)
        if opportunity is None:
            self._skip(buy.symbol, "below_min_profit")
            return None
        self._in_flight.add(key)
        self.detected += 1
        return Detection(opportunity, now, buy.received_at, sell.received_at)


def _exact(book: Book, *, bids_above: float | None = None, asks_below: float | None = None,
           up_to_amount: float | None = None) -> OrderBook:
    """The Decimal book to size on: only the levels that cross the other side's best price, as deep as the largest
    amount allowed, can be traded."""
    if isinstance(book, OrderBook):
        return book
    return book.exact(bids_above=bids_above, asks_below=asks_below, up_to_amount=up_to_amount)
