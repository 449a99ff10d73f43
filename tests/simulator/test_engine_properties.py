"""Property tests of the simulator's matching engine: random order flows keep the venue's books and money sound.

Invariants: assets are conserved (accounts + fees), no balance goes negative, locked equals what open orders hold,
the book is never crossed and matches its orders, FOK fills fully or not at all, IOC/MARKET never rest, fills follow
price-time priority, depth ids are consecutive and replaying depth events onto a snapshot reproduces the book.
"""
from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import AccountConfig, SimConfig, VenueConfig
from simulator.engine import OPEN_STATUSES, BinanceError, Order, VenueEngine

D = Decimal
SYMBOL = "BTCUSDT"
ACCOUNTS = ("a", "b", "c")
BASE_PRICE = D("59990")
TICK = D("0.01")
STEP = D("0.00001")

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_engine() -> VenueEngine:
    cfg = SimConfig.default()
    balances = {"USDT": D("8000"), "BTC": D("0.15"), "ETH": D("1")}
    accounts = [AccountConfig(api_key=f"k-{n}", secret=f"s-{n}", balances=dict(balances), name=n) for n in ACCOUNTS]
    venue = VenueConfig(name="prop", maker_fee=D("0.00075"), taker_fee=D("0.001"), accounts=accounts)
    return VenueEngine(venue, cfg.symbols, lambda: 1_000)


prices = st.integers(min_value=0, max_value=20).map(lambda k: str(BASE_PRICE + k))
odd_prices = st.integers(min_value=0, max_value=2000).map(lambda k: str(BASE_PRICE + k * TICK))
quantities = st.integers(min_value=1, max_value=5000).map(lambda k: str(k * STEP * 10))  # 0.0001 .. 0.5
accounts = st.sampled_from(ACCOUNTS)
sides = st.sampled_from(("BUY", "SELL"))

limit_ops = st.tuples(st.just("limit"), accounts, sides, st.sampled_from(("GTC", "IOC", "FOK")), st.one_of(prices, odd_prices), quantities)
maker_ops = st.tuples(st.just("limit_maker"), accounts, sides, prices, quantities)
market_ops = st.tuples(st.just("market"), accounts, sides, quantities)
quote_ops = st.tuples(st.just("market_quote"), accounts, sides, st.integers(min_value=5, max_value=9000).map(str))
cancel_ops = st.tuples(st.just("cancel"), accounts, st.integers(min_value=0, max_value=50))
mm_ops = st.tuples(st.just("quotes"), st.integers(min_value=0, max_value=20), st.integers(min_value=1, max_value=6),
                   st.integers(min_value=1, max_value=4), quantities)
operations = st.lists(st.one_of(limit_ops, maker_ops, market_ops, quote_ops, cancel_ops, mm_ops), min_size=1, max_size=40)


def params_for(op: tuple) -> dict[str, str] | None:
    kind = op[0]
    if kind == "limit":
        _, _, side, tif, price, qty = op
        return {"symbol": SYMBOL, "side": side, "type": "LIMIT", "timeInForce": tif, "price": price, "quantity": qty}
    if kind == "limit_maker":
        _, _, side, price, qty = op
        return {"symbol": SYMBOL, "side": side, "type": "LIMIT_MAKER", "price": price, "quantity": qty}
    if kind == "market":
        return {"symbol": SYMBOL, "side": op[2], "type": "MARKET", "quantity": op[3]}
    if kind == "market_quote":
        return {"symbol": SYMBOL, "side": op[2], "type": "MARKET", "quoteOrderQty": op[3]}
    return None


def apply(engine: VenueEngine, op: tuple) -> Order | None:
    """Run one operation; returns the client order it created, if any. Refusals must change nothing."""
    kind = op[0]
    if kind == "quotes":
        _, centre, half_gap, levels, qty = op
        mid = BASE_PRICE + centre
        bids = [(mid - half_gap - i, D(qty)) for i in range(levels)]
        asks = [(mid + half_gap + i, D(qty)) for i in range(levels)]
        engine.set_quotes(SYMBOL, bids, asks)
        return None
    account = engine.account_by_name(op[1])
    assert account is not None
    if kind == "cancel":
        open_ids = sorted(account.open_orders)
        if not open_ids:
            return None
        order_id = open_ids[op[2] % len(open_ids)]
        engine.cancel_order(account, {"symbol": SYMBOL, "orderId": str(order_id)})
        return None
    params = params_for(op)
    assert params is not None
    before = snapshot(engine)
    try:
        result = engine.new_order(account, params)
    except BinanceError as exc:
        assert exc.code in (-2010, -1013), exc
        assert snapshot(engine) == before, f"refusal {exc} changed the venue"
        return None
    return account.orders[result["orderId"]]


def snapshot(engine: VenueEngine) -> tuple:
    balances = {a.name: {k: (v.free, v.locked) for k, v in a.balances.items() if v.free or v.locked} for a in engine.accounts}
    return balances, engine.depth({"symbol": SYMBOL, "limit": "5000"}), len(engine.trades), engine._next_order_id


def check_invariants(engine: VenueEngine, initial_totals: dict[str, Decimal]) -> None:
    totals = {k: v for k, v in engine.total_assets().items() if v}
    assert totals == {k: v for k, v in initial_totals.items() if v}
    book = engine.books[SYMBOL]
    resting: set[int] = set()
    for side in (book.bids, book.asks):
        assert side.prices == sorted(side.prices) and set(side.prices) == set(side.levels)
        for price, level in side.levels.items():
            assert level.orders, "empty level left in the book"
            assert level.total == sum(o.remaining for o in level.orders.values())
            ids = list(level.orders)
            assert ids == sorted(ids), "time priority broken inside a level"
            for order in level.orders.values():
                assert order.status in OPEN_STATUSES and order.price == price and order.remaining > 0
                assert order.is_buy == side.is_bid
                resting.add(order.order_id)
    best_bid, best_ask = book.bids.best(), book.asks.best()
    if best_bid and best_ask:
        assert best_bid.price < best_ask.price, "crossed book"
    for account in engine.accounts:
        locked: dict[str, Decimal] = {}
        for order in account.open_orders.values():
            assert order.order_id in resting
            asset = "USDT" if order.is_buy else "BTC"
            expected = order.price * order.remaining if order.is_buy else order.remaining
            assert order.locked == expected
            locked[asset] = locked.get(asset, D(0)) + order.locked
        for asset, balance in account.balances.items():
            assert balance.free >= 0 and balance.locked >= 0, (account.name, asset, balance.free, balance.locked)
            assert balance.locked == locked.get(asset, D(0)), (account.name, asset)
        if not account.is_market_maker:
            for order in account.orders.values():
                assert (order.order_id in resting) == (order.status in OPEN_STATUSES)
                assert order.executed_qty <= order.orig_qty or order.type == "MARKET"


def check_new_order(engine: VenueEngine, order: Order, trades_before: int) -> None:
    """What a freshly placed client order must satisfy: time-in-force rules and price-time priority."""
    if order.time_in_force in ("IOC", "FOK") or order.type == "MARKET":
        assert order.status not in OPEN_STATUSES, "IOC/FOK/MARKET rested"
    if order.time_in_force == "FOK":
        assert order.executed_qty in (D(0), order.orig_qty)
        assert order.status in ("FILLED", "EXPIRED")
    if order.type == "LIMIT_MAKER":
        assert order.executed_qty == 0
    trades = engine.trades[trades_before:]
    taker_trades = [t for t in trades if (t.buy_order if order.is_buy else t.sell_order) is order]
    assert len(taker_trades) == len(trades)
    assert sum(t.qty for t in trades) == order.executed_qty
    book_side = engine.books[SYMBOL].asks if order.is_buy else engine.books[SYMBOL].bids
    last_price = None
    for trade in trades:
        maker = trade.sell_order if order.is_buy else trade.buy_order
        if order.type != "MARKET":
            assert trade.price <= order.price if order.is_buy else trade.price >= order.price
        if last_price is not None:
            assert trade.price >= last_price if order.is_buy else trade.price <= last_price, "price priority"
        last_price = trade.price
        level = book_side.levels.get(trade.price)
        if level is not None:
            assert all(other.order_id > maker.order_id or other is maker for other in level.orders.values()), "time priority"


@SETTINGS
@given(ops=operations)
def test_random_order_flow_keeps_every_invariant(ops: list[tuple]) -> None:
    engine = make_engine()
    initial = engine.total_assets()
    depth = engine.depth({"symbol": SYMBOL, "limit": "5000"})
    last_u = depth["lastUpdateId"]
    for op in ops:
        trades_before = len(engine.trades)
        order = apply(engine, op)
        if order is not None:
            check_new_order(engine, order, trades_before)
        check_invariants(engine, initial)
        for event in engine.drain_depth_events():
            assert event["U"] == last_u + 1 and event["u"] >= event["U"]
            last_u = event["u"]
        assert engine.depth({"symbol": SYMBOL})["lastUpdateId"] == last_u


@SETTINGS
@given(ops=operations, quantity=quantities, price=prices, side=sides)
def test_fok_fills_fully_or_not_at_all(ops: list[tuple], quantity: str, price: str, side: str) -> None:
    engine = make_engine()
    for op in ops:
        apply(engine, op)
    book = engine.books[SYMBOL]
    opposite = book.asks if side == "BUY" else book.bids
    available = sum((lvl.total for lvl in opposite.levels.values()
                     if (lvl.price <= D(price) if side == "BUY" else lvl.price >= D(price))), D(0))
    order = apply(engine, ("limit", "a", side, "FOK", price, quantity))
    if order is None:
        return  # refused (balance or notional); apply() checked that nothing changed
    if available >= D(quantity):
        assert order.status == "FILLED" and order.executed_qty == D(quantity)
    else:
        assert order.status == "EXPIRED" and order.executed_qty == 0 and not order.fills


@SETTINGS
@given(ops=operations, quantity=quantities, price=st.one_of(prices, odd_prices), side=sides)
def test_ioc_never_rests(ops: list[tuple], quantity: str, price: str, side: str) -> None:
    engine = make_engine()
    for op in ops:
        apply(engine, op)
    depth_before = engine.depth({"symbol": SYMBOL, "limit": "5000"})
    order = apply(engine, ("limit", "b", side, "IOC", price, quantity))
    if order is None:
        return
    assert order.status in ("FILLED", "EXPIRED")
    assert order.order_id not in engine.account_by_name("b").open_orders
    own_side = "bids" if side == "BUY" else "asks"
    # The IOC's own side can only lose volume (a self-match), never gain a level.
    before_prices = {p for p, _ in depth_before[own_side]}
    after_prices = {p for p, _ in engine.depth({"symbol": SYMBOL, "limit": "5000"})[own_side]}
    assert after_prices <= before_prices


@SETTINGS
@given(ops=operations, data=st.data())
def test_replaying_depth_events_onto_a_snapshot_reproduces_the_book(ops: list[tuple], data: st.DataObject) -> None:
    engine = make_engine()
    snapshot_at = data.draw(st.integers(min_value=0, max_value=len(ops)))
    drain_points = data.draw(st.sets(st.integers(min_value=0, max_value=len(ops))))
    events: list[dict] = []
    snapshot = None
    for index, op in enumerate(ops):
        if index in drain_points:
            events.extend(engine.drain_depth_events())
        if index == snapshot_at:
            snapshot = engine.depth({"symbol": SYMBOL, "limit": "5000"})
        apply(engine, op)
    events.extend(engine.drain_depth_events())
    if snapshot is None:
        snapshot = engine.depth({"symbol": SYMBOL, "limit": "5000"})
    # ccxt's rule: drop events with u <= lastUpdateId; the first kept has U <= lastUpdateId + 1 <= u; then U == prev u + 1.
    last = snapshot["lastUpdateId"]
    bids = {p: q for p, q in snapshot["bids"]}
    asks = {p: q for p, q in snapshot["asks"]}
    first = True
    for event in events:
        if event["u"] <= last:
            continue
        if first:
            assert event["U"] <= last + 1 <= event["u"]
            first = False
        else:
            assert event["U"] == last + 1
        last = event["u"]
        for levels, changes in ((bids, event["b"]), (asks, event["a"])):
            for price, qty in changes:
                if D(qty) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = qty
    final = engine.depth({"symbol": SYMBOL, "limit": "5000"})
    assert last == final["lastUpdateId"]
    assert sorted(bids.items(), key=lambda kv: -D(kv[0])) == [tuple(x) for x in final["bids"]]
    assert sorted(asks.items(), key=lambda kv: D(kv[0])) == [tuple(x) for x in final["asks"]]


@SETTINGS
@given(makers=st.lists(st.tuples(accounts, prices, quantities), min_size=1, max_size=15), side=sides, quantity=quantities)
def test_market_orders_take_best_price_then_oldest_first(makers: list[tuple], side: str, quantity: str) -> None:
    engine = make_engine()
    maker_side = "SELL" if side == "BUY" else "BUY"
    placed = []
    for account, price, qty in makers:
        order = apply(engine, ("limit_maker", account, maker_side, price, qty))
        if order is not None:
            placed.append(order)
    trades_before = len(engine.trades)
    order = apply(engine, ("market", "c", side, quantity))
    if order is None:
        return
    fills = engine.trades[trades_before:]
    # The expected sequence: resting orders sorted by price (best first), then by order id.
    expected = sorted(placed, key=lambda o: ((o.price if side == "BUY" else -o.price), o.order_id))
    got = [(t.sell_order if side == "BUY" else t.buy_order).order_id for t in fills]
    assert got == [o.order_id for o in expected[: len(got)]]
    # Every maker before the last one touched was fully used.
    for maker_order in expected[: max(0, len(got) - 1)]:
        assert maker_order.status == "FILLED"
