"""Matching engine of one simulated venue, free of any exchange dialect.

``Engine`` holds, per symbol, a limit order book with price-time priority, and the venue's accounts with exact
``Decimal`` balances (free and locked). Orders come in already parsed and validated by a dialect front-end
(``simulator.binance``, ``simulator.okx``) through ``place``; ``cancel`` and the lookups work on ``Order`` objects.
A business refusal (insufficient balance, a post-only order that would take, a market order below the minimum
notional) is a ``Refusal`` with a dialect-free ``reason``, raised before anything has changed; each dialect turns it
into its own error code.

An internal market-maker account (large balances) owns the synthetic liquidity that ``simulator.market`` quotes
through ``set_quotes``, so assets are conserved: for every asset, the sum over all accounts plus the fees collected is
constant. Every change to an aggregated price level increments the symbol's update id; ``drain_depth_changes`` hands
the changed levels since the last drain to the front-end, which renders its own depth stream.

This file is over 500 lines because matching, balances and the market maker share one set of invariants (the
conservation of assets, locks released exactly once) that is easier to check in one place.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Callable, Iterable

from simulator.config import SymbolSpec, VenueConfig
from simulator.core.book import (
    BUY, CANCELED, EXPIRED, FILLED, FOK, GTC, IOC, LIMIT, LIMIT_MAKER, MARKET, MARKET_MAKER_NAME, NEW, OPEN_STATUSES,
    PARTIALLY_FILLED, SELL, ZERO, Account, Order, SymbolBook, Trade, _floor_to_step, _Q8, fmt,
)

logger = logging.getLogger(__name__)

INSUFFICIENT_BALANCE = "insufficient_balance"
WOULD_TAKE = "would_take"
MARKET_NOTIONAL = "market_notional"


class Refusal(Exception):
    """A business refusal of an order, raised by ``place`` before anything changed; ``reason`` is one of
    ``INSUFFICIENT_BALANCE``, ``WOULD_TAKE``, ``MARKET_NOTIONAL``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DepthChange:
    """The levels of one symbol that changed between two drains: update ids ``first_id``..``last_id`` (inclusive)
    and, per side, price -> new total (0 = level gone)."""

    symbol: str
    first_id: int
    last_id: int
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """One change of a client order as it was at that moment: placed, one fill (``trade``), expired or cancelled."""

    order: Order
    trade: Trade | None
    status: str
    executed_qty: Decimal
    cum_quote: Decimal
    fee: Decimal
    update_time: int


_PlanEntry = tuple[Order, Decimal, Decimal]  # (maker order, qty, price)


class Engine:
    """One simulated spot venue: books, accounts, matching, fees and the level-change bookkeeping."""

    def __init__(self, config: VenueConfig, symbols: list[SymbolSpec], clock_ms: Callable[[], int]) -> None:
        self.config = config
        self.name = config.name
        self.maker_fee = config.maker_fee
        self.taker_fee = config.taker_fee
        self._clock_ms = clock_ms
        self.books: dict[str, SymbolBook] = {spec.symbol: SymbolBook(spec) for spec in symbols}
        self.assets: list[str] = sorted({a for s in symbols for a in (s.base, s.quote)})
        self.accounts: list[Account] = []
        self._by_key: dict[str, Account] = {}
        names: set[str] = set()
        for account_config in config.accounts:
            if account_config.name in names or account_config.name == MARKET_MAKER_NAME:
                raise ValueError(f"venue {self.name}: account name {account_config.name!r} is used twice or reserved")
            names.add(account_config.name)
            account = Account(account_config.name, account_config.api_key, account_config.secret, account_config.balances, False)
            self.accounts.append(account)
            self._by_key[account_config.api_key] = account
        self.market_maker = Account(MARKET_MAKER_NAME, None, None, config.market_maker_balances or _market_maker_balances(symbols), True)
        self.accounts.append(self.market_maker)
        self.collected_fees: dict[str, Decimal] = {}
        self.trades: list[Trade] = []
        self._mm_quotes: dict[str, tuple[dict[Decimal, Order], dict[Decimal, Order]]] = {s: ({}, {}) for s in self.books}
        self._next_order_id = 1
        self._next_trade_id = 1
        self.partial_fills_only = False  # fault: takers fill at most half of what they could
        # A dialect with a private order stream turns this on and drains ``drain_order_updates`` (else nothing is kept)
        self.track_order_updates = False
        self._order_updates: list[OrderUpdate] = []
        self.phantom_fills = 0  # fills of orders nobody placed, made so far (simulator.core.tampering)
        self.adjustments: dict[str, Decimal] = {}  # per asset: balance moved without a fill (/_sim/balance_adjust)

    # ------------------------------------------------------------------ lookups

    def account_for_key(self, api_key: str) -> Account | None:
        return self._by_key.get(api_key)

    def account_by_name(self, name: str) -> Account | None:
        for account in self.accounts:
            if account.name == name:
                return account
        return None

    @property
    def symbols(self) -> list[str]:
        return list(self.books)

    def now_ms(self) -> int:
        return self._clock_ms()

    def best_bid_ask(self, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        book = self.books[symbol]
        bid, ask = book.bids.best(), book.asks.best()
        return (bid.price if bid else None, ask.price if ask else None)

    def reference_price(self, book: SymbolBook) -> Decimal:
        """The last trade price, else the mid on the tick grid, else the configured fair price."""
        if book.stats.last_price is not None:
            return book.stats.last_price
        mid = book.mid()
        if mid is not None:
            return mid.quantize(book.spec.tick_size)
        return book.spec.fair_price

    # ------------------------------------------------------------------ orders

    def _plan(self, book: SymbolBook, is_buy: bool, limit_price: Decimal | None, qty: Decimal,
              quote_qty: Decimal) -> tuple[list[_PlanEntry], Decimal, Decimal, bool]:
        """What a taker would match, without changing anything: (entries, total qty, total quote, stopped by quote)."""
        entries: list[_PlanEntry] = []
        total_qty = ZERO
        total_quote = ZERO
        step = book.spec.step_size
        by_quote = quote_qty > 0
        remaining = qty
        quote_left = quote_qty
        for level in (book.asks if is_buy else book.bids).walk():
            price = level.price
            if limit_price is not None and (price > limit_price if is_buy else price < limit_price):
                break
            for maker in level.orders.values():
                if by_quote:
                    affordable = _floor_to_step(quote_left / price, step)
                    if affordable <= 0:
                        return entries, total_qty, total_quote, True
                    take = min(affordable, maker.orig_qty - maker.executed_qty)
                    quote_left -= take * price
                else:
                    take = min(remaining, maker.orig_qty - maker.executed_qty)
                    remaining -= take
                entries.append((maker, take, price))
                total_qty += take
                total_quote += take * price
                if not by_quote and remaining <= 0:
                    return entries, total_qty, total_quote, False
        return entries, total_qty, total_quote, False

    def _place(self, account: Account, book: SymbolBook, is_buy: bool, order_type: str, tif: str, price: Decimal,
               quantity: Decimal, quote_qty: Decimal, client_order_id: str | None,
               check_market_notional: bool) -> Order:
        """Match and, for GTC limits, rest an already-validated order. Refusals raise before any change."""
        spec = book.spec
        is_market = order_type == MARKET
        if order_type == LIMIT_MAKER:
            best = (book.asks if is_buy else book.bids).best()
            if best is not None and (best.price <= price if is_buy else best.price >= price):
                raise Refusal(WOULD_TAKE)
            plan: list[_PlanEntry] = []
            plan_qty = plan_quote = ZERO
            stopped_by_quote = False
        else:
            plan, plan_qty, plan_quote, stopped_by_quote = self._plan(book, is_buy, None if is_market else price, quantity, quote_qty)
        if is_market and check_market_notional and quantity > 0 and plan_qty > 0:
            estimated = quantity * (plan_quote / plan_qty)
            if estimated < spec.min_notional:
                raise Refusal(MARKET_NOTIONAL)

        if self.partial_fills_only and not account.is_market_maker and plan:
            cap = _floor_to_step(plan_qty / 2, spec.step_size)
            plan, plan_qty, plan_quote = _trim_plan(plan, cap)
            stopped_by_quote = False  # the fault, not the budget, ended the match: a quote order expires

        # Balance: what this order may spend, checked in full before anything moves.
        if is_buy:
            spend_asset = spec.quote
            required = plan_quote if (is_market and quote_qty == 0) else (quote_qty if is_market else price * quantity)
        else:
            spend_asset = spec.base
            required = plan_qty if (is_market and quote_qty > 0) else quantity
        if required > account.free(spend_asset):
            raise Refusal(INSUFFICIENT_BALANCE)

        fok_unfillable = tif == FOK and plan_qty < quantity
        now = self._clock_ms()
        order_id = self._next_order_id
        self._next_order_id += 1
        if client_order_id is None:
            client_order_id = f"sim-{self.name}-{order_id}"
        order = Order(order_id, client_order_id, spec.symbol, BUY if is_buy else SELL, order_type, tif, price,
                      quantity, quote_qty, account, now)
        self._register(order)

        if not fok_unfillable:
            for maker, qty, fill_price in plan:
                self._fill(book, order, maker, qty, fill_price, now)

        remaining = order.orig_qty - order.executed_qty
        if is_market and quote_qty > 0:
            order.orig_qty = order.executed_qty
            order.status = FILLED if (order.executed_qty > 0 and stopped_by_quote) else EXPIRED
        elif remaining <= 0:
            order.status = FILLED
        elif order_type == MARKET or tif in (IOC, FOK):
            order.status = EXPIRED
        else:
            order.status = PARTIALLY_FILLED if order.executed_qty > 0 else NEW
            self._rest(book, order)
        order.update_time = now
        if order.status not in OPEN_STATUSES:
            self._close(order)
        if self.track_order_updates and not account.is_market_maker:
            last = self._order_updates[-1] if self._order_updates else None
            if last is None or last.order is not order or last.status != order.status:
                self._note_update(order, None)
        return order

    def _note_update(self, order: Order, trade: Trade | None, status: str | None = None) -> None:
        fee = sum((t.commission_for(b)[0] for t, b in order.fills or ()), ZERO)
        self._order_updates.append(OrderUpdate(order, trade, status or order.status, order.executed_qty,
                                               order.cum_quote, fee, order.update_time))

    def drain_order_updates(self) -> list["OrderUpdate"]:
        """Every change of a client order since the last drain, oldest first (only with ``track_order_updates``)."""
        updates, self._order_updates = self._order_updates, []
        return updates

    def _register(self, order: Order) -> None:
        account = order.account
        if account.is_market_maker:
            return
        account.orders[order.order_id] = order
        account.orders_by_symbol.setdefault(order.symbol, []).append(order)
        account.latest_by_client_id[(order.symbol, order.client_order_id)] = order
        account.open_orders[order.order_id] = order
        account.open_by_client_id[order.client_order_id] = order

    def _close(self, order: Order) -> None:
        account = order.account
        account.open_orders.pop(order.order_id, None)
        if account.open_by_client_id.get(order.client_order_id) is order:
            del account.open_by_client_id[order.client_order_id]

    def _rest(self, book: SymbolBook, order: Order) -> None:
        remaining = order.orig_qty - order.executed_qty
        balance = order.account.balance(book.spec.quote if order.is_buy else book.spec.base)
        amount = order.price * remaining if order.is_buy else remaining
        balance.free -= amount
        balance.locked += amount
        order.locked = amount
        side = book.bids if order.is_buy else book.asks
        level = side.level_for(order.price)
        level.orders[order.order_id] = order
        level.total += remaining
        book.touch(order.is_buy, order.price, level.total)
        if order.account.is_market_maker:
            order.account.open_orders[order.order_id] = order

    def _unrest(self, book: SymbolBook, order: Order) -> None:
        """Take a resting order off its level and release what it still locks."""
        side = book.bids if order.is_buy else book.asks
        level = side.levels[order.price]
        del level.orders[order.order_id]
        level.total -= order.orig_qty - order.executed_qty
        book.touch(order.is_buy, order.price, level.total)
        if not level.orders:
            side.drop(order.price)
        if order.locked:
            balance = order.account.balance(book.spec.quote if order.is_buy else book.spec.base)
            balance.locked -= order.locked
            balance.free += order.locked
            order.locked = ZERO

    def _fill(self, book: SymbolBook, taker: Order, maker: Order, qty: Decimal, price: Decimal, now: int) -> None:
        spec = book.spec
        quote_qty = price * qty
        trade_id = self._next_trade_id
        self._next_trade_id += 1

        # The maker's level shrinks first so the depth stream sees one change per fill.
        side = book.bids if maker.is_buy else book.asks
        level = side.levels[price]
        level.total -= qty
        maker.executed_qty += qty
        maker.cum_quote += quote_qty
        maker.update_time = now
        if maker.orig_qty == maker.executed_qty:
            del level.orders[maker.order_id]
            maker.status = FILLED
        else:
            maker.status = PARTIALLY_FILLED
        book.touch(maker.is_buy, price, level.total)
        if not level.orders:
            side.drop(price)
        taker.executed_qty += qty
        taker.cum_quote += quote_qty

        buy, sell = (maker, taker) if maker.is_buy else (taker, maker)
        buyer_is_maker = maker.is_buy
        buyer, seller = buy.account, sell.account
        buyer_rate = 0 if buyer.is_market_maker else (self.maker_fee if buyer_is_maker else self.taker_fee)
        seller_rate = 0 if seller.is_market_maker else (self.taker_fee if buyer_is_maker else self.maker_fee)
        buyer_commission = (qty * buyer_rate).quantize(_Q8, ROUND_HALF_UP) if buyer_rate else ZERO
        seller_commission = (quote_qty * seller_rate).quantize(_Q8, ROUND_HALF_UP) if seller_rate else ZERO

        # Buyer pays quote (from its lock when resting, else from free) and receives base less commission.
        buyer_quote = buyer.balance(spec.quote)
        if buy is maker:
            buyer_quote.locked -= quote_qty
            buy.locked -= quote_qty
        else:
            buyer_quote.free -= quote_qty
        buyer.balance(spec.base).free += qty - buyer_commission
        # Seller pays base and receives quote less commission.
        seller_base = seller.balance(spec.base)
        if sell is maker:
            seller_base.locked -= qty
            sell.locked -= qty
        else:
            seller_base.free -= qty
        seller.balance(spec.quote).free += quote_qty - seller_commission
        if buyer_commission:
            self.collected_fees[spec.base] = self.collected_fees.get(spec.base, ZERO) + buyer_commission
        if seller_commission:
            self.collected_fees[spec.quote] = self.collected_fees.get(spec.quote, ZERO) + seller_commission

        trade = Trade(trade_id, spec.symbol, price, qty, quote_qty, now, buy, sell, buyer_is_maker, buyer_commission,
                      seller_commission, spec.base, spec.quote)
        self.trades.append(trade)
        for order, is_buyer in ((buy, True), (sell, False)):
            if order.fills is not None:
                order.fills.append((trade, is_buyer))
                order.account.trades_by_symbol.setdefault(spec.symbol, []).append((trade, is_buyer))
                if self.track_order_updates:
                    done = order.executed_qty == order.orig_qty
                    self._note_update(order, trade, FILLED if done else PARTIALLY_FILLED)
        if maker.status == FILLED:
            if maker.locked and not maker.account.is_market_maker:
                # A fully filled buy that rested at its own price has nothing left locked; guard against drift anyway.
                logger.error("venue %s order %s filled with %s still locked", self.name, maker.order_id, maker.locked)
            self._close(maker)

        stats = book.stats
        if stats.open_price is None:
            stats.open_price = price
            stats.first_id = trade_id
        stats.last_price = price
        stats.last_qty = qty
        stats.high = price if stats.high is None or price > stats.high else stats.high
        stats.low = price if stats.low is None or price < stats.low else stats.low
        stats.volume += qty
        stats.quote_volume += quote_qty
        stats.count += 1
        stats.last_id = trade_id

    def place(self, account: Account, symbol: str, *, is_buy: bool, order_type: str, time_in_force: str,
              price: Decimal = ZERO, quantity: Decimal = ZERO, quote_qty: Decimal = ZERO,
              client_order_id: str | None = None, received_at: float | None = None,
              check_market_notional: bool = True) -> Order:
        """Match (and rest, for a GTC limit) an order a front-end has parsed and checked against the symbol's rules.
        ``Refusal`` before any change when the account cannot pay, a post-only order would take, or (when
        ``check_market_notional``) a market order's estimated value is below the symbol's minimum notional."""
        order = self._place(account, self.books[symbol], is_buy, order_type, time_in_force, price, quantity, quote_qty,
                            client_order_id, check_market_notional=check_market_notional)
        order.received_at = received_at
        return order

    def cancel(self, order: Order) -> None:
        """Cancel an open order (the caller checked ``order.is_open``)."""
        self._cancel(self.books[order.symbol], order, self._clock_ms())

    def client_order_id_used(self, account: Account, client_order_id: str) -> bool:
        """Whether ``account`` ever sent an order with this client order id, on any symbol."""
        return any((symbol, client_order_id) in account.latest_by_client_id for symbol in self.books)

    def _cancel(self, book: SymbolBook, order: Order, now: int) -> None:
        self._unrest(book, order)
        order.status = CANCELED
        order.update_time = now
        self._close(order)
        if order.account.is_market_maker:
            order.account.open_orders.pop(order.order_id, None)
        elif self.track_order_updates:
            self._note_update(order, None)


    # ------------------------------------------------------------------ the simulator's own order view (/_sim)

    @staticmethod
    def _order_fields(order: Order) -> dict[str, Any]:
        """What every answer about an order says of it."""
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "price": fmt(order.price),
            "origQty": fmt(order.orig_qty),
            "executedQty": fmt(order.executed_qty),
            "cummulativeQuoteQty": fmt(order.cum_quote),
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
        }

    def _order_view(self, order: Order) -> dict[str, Any]:
        return {
            **self._order_fields(order),
            "stopPrice": fmt(ZERO),
            "icebergQty": fmt(ZERO),
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": order.type != MARKET and order.status in OPEN_STATUSES,
            "workingTime": order.time,
            "origQuoteOrderQty": fmt(order.orig_quote_qty),
            "selfTradePreventionMode": "NONE",
        }

    # ------------------------------------------------------------------ market maker

    def set_quotes(self, symbol: str, bids: Iterable[tuple[Decimal, Decimal]], asks: Iterable[tuple[Decimal, Decimal]]) -> None:
        """Make the market maker's resting orders equal the given ladders, touching only levels that differ.

        Prices must be on the tick grid and bids below asks. Orders no longer wanted (or whose size differs, e.g.
        after being partly consumed) are cancelled first, so the new ladder never trades with the old one; new levels
        that cross client orders trade with them as any taker would.
        """
        book = self.books[symbol]
        mm = self.market_maker
        now = self._clock_ms()
        wanted = (dict(bids), dict(asks))
        current = self._mm_quotes[symbol]
        for side_orders, side_wanted in zip(current, wanted):
            for price, order in list(side_orders.items()):
                if not order.is_open:
                    del side_orders[price]
                    continue
                qty = side_wanted.get(price)
                if qty is None or qty != order.orig_qty - order.executed_qty:
                    self._cancel(book, order, now)
                    del side_orders[price]
        for is_buy, side_orders, side_wanted in ((True, current[0], wanted[0]), (False, current[1], wanted[1])):
            for price, qty in side_wanted.items():
                if price in side_orders or qty <= 0:
                    continue
                try:
                    order = self._place(mm, book, is_buy, LIMIT, GTC, price, qty, ZERO, None, check_market_notional=False)
                except Refusal as exc:
                    logger.warning("venue %s market maker cannot quote %s %s %s @ %s: %s", self.name, symbol,
                                   "BUY" if is_buy else "SELL", qty, price, exc.reason)
                    continue
                if order.is_open:
                    side_orders[price] = order

    def market_maker_quotes(self, symbol: str) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        """The market maker's resting (bids, asks) as price -> remaining qty."""
        bids, asks = self._mm_quotes[symbol]
        return ({p: o.remaining for p, o in bids.items() if o.is_open}, {p: o.remaining for p, o in asks.items() if o.is_open})

    # ------------------------------------------------------------------ depth stream

    def drain_depth_changes(self) -> list[DepthChange]:
        """One ``DepthChange`` per symbol whose levels changed since the previous drain."""
        changes = []
        for symbol, book in self.books.items():
            if book.first_pending_id is None:
                continue
            changes.append(DepthChange(symbol, book.first_pending_id, book.update_id, book.pending_bids,
                                       book.pending_asks))
            book.first_pending_id = None
            book.pending_bids = {}
            book.pending_asks = {}
        return changes

    # ------------------------------------------------------------------ inspection (/_sim)

    def sim_orders(self, include_market_maker: bool = False) -> list[dict[str, Any]]:
        """Every client order ever accepted (with fills); the market maker's open orders too when asked."""
        out = []
        for account in self.accounts:
            if account.is_market_maker:
                if include_market_maker:
                    out.extend(self._sim_order(o) for o in sorted(account.open_orders.values(), key=lambda o: o.order_id))
                continue
            out.extend(self._sim_order(o) for o in account.orders.values())
        out.sort(key=lambda d: d["orderId"])
        return out

    def _sim_order(self, order: Order) -> dict[str, Any]:
        view = self._order_view(order)
        view["venue"] = self.name
        view["account"] = order.account.name
        view["marketMaker"] = order.account.is_market_maker
        view["origQuoteOrderQty"] = fmt(order.orig_quote_qty)
        # microseconds: a latency measured to the venue (e.g. tick-to-order) needs more than Binance's milliseconds
        view["receivedTimeUs"] = None if order.received_at is None else round(order.received_at * 1_000_000)
        view["fills"] = [
            {"tradeId": t.trade_id, "price": fmt(t.price), "qty": fmt(t.qty), "commission": fmt(t.commission_for(b)[0]),
             "commissionAsset": t.commission_for(b)[1], "isMaker": b == t.buyer_is_maker, "time": t.time}
            for t, b in (order.fills or ())
        ]
        return view

    def sim_trades(self, include_market_maker: bool = True) -> list[dict[str, Any]]:
        out = []
        for t in self.trades:
            if not include_market_maker and t.buyer.is_market_maker and t.seller.is_market_maker:
                continue
            out.append({
                "venue": self.name,
                "symbol": t.symbol,
                "id": t.trade_id,
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "quoteQty": fmt(t.quote_qty),
                "time": t.time,
                "buyer": t.buyer.name,
                "seller": t.seller.name,
                "buyerOrderId": t.buy_order.order_id,
                "sellerOrderId": t.sell_order.order_id,
                "buyerIsMaker": t.buyer_is_maker,
                "buyerCommission": fmt(t.buyer_commission),
                "buyerCommissionAsset": t.base,
                "sellerCommission": fmt(t.seller_commission),
                "sellerCommissionAsset": t.quote,
            })
        return out

    def sim_balances(self, include_market_maker: bool = True) -> dict[str, dict[str, dict[str, str]]]:
        """Balances by account name (never keys or secrets)."""
        return {
            account.name: {asset: {"free": fmt(b.free), "locked": fmt(b.locked)} for asset, b in sorted(account.balances.items())}
            for account in self.accounts
            if include_market_maker or not account.is_market_maker
        }

    def sim_fees(self) -> dict[str, str]:
        return {asset: fmt(amount) for asset, amount in sorted(self.collected_fees.items())}

    def total_assets(self) -> dict[str, Decimal]:
        """Per asset: every account's free + locked plus the fees collected, less the balance adjustments. Constant
        over the venue's life."""
        totals: dict[str, Decimal] = {}
        for account in self.accounts:
            for asset, balance in account.balances.items():
                totals[asset] = totals.get(asset, ZERO) + balance.free + balance.locked
        for asset, amount in self.collected_fees.items():
            totals[asset] = totals.get(asset, ZERO) + amount
        for asset, amount in self.adjustments.items():  # net of what moved without a fill
            totals[asset] = totals.get(asset, ZERO) - amount
        return totals



def _trim_plan(plan: list[_PlanEntry], cap: Decimal) -> tuple[list[_PlanEntry], Decimal, Decimal]:
    trimmed: list[_PlanEntry] = []
    total_qty = total_quote = ZERO
    for maker, qty, price in plan:
        if total_qty >= cap:
            break
        take = min(qty, cap - total_qty)
        trimmed.append((maker, take, price))
        total_qty += take
        total_quote += take * price
    return trimmed, total_qty, total_quote


def _market_maker_balances(symbols: list[SymbolSpec]) -> dict[str, Decimal]:
    """Large balances for the market maker: a billion in each quote asset and as much base as that buys."""
    balances: dict[str, Decimal] = {}
    for spec in symbols:
        balances[spec.quote] = Decimal("1000000000")
    for spec in symbols:
        if spec.base not in balances:
            balances[spec.base] = _floor_to_step(Decimal("1000000000") / spec.fair_price, spec.step_size)
    return balances
