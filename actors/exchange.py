"""The ``exchange:<venue>`` actor: one connection to one venue.

It owns the venue's ccxt clients (async REST and ccxt.pro), keeps order books current through ``watch_order_book``
(REST polling while the stream is down), pushes conflated books to subscribers, and places, looks up and cancels
orders. In paper mode orders are filled locally against the live book and nothing is sent. With
``supervisor.exchange_standby`` a venue has two: the standby is started like the active one (keys, clients, markets,
its order connection) but streams no book and publishes nothing until the supervisor ``activate``s it. Thin: the
domain work is in ``execution/``. Placing, looking up and cancelling orders is ``actors.exchange_orders`` (this
actor's base class).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from actors.transport import Channels, ChannelSettings, RenewsChannels, ServesChannel
from actors.common import VenueSpec
from actors.conflation import ConflatingPublisher
from actors.credentials import CredentialsInbox, CredentialsRefused
from actors.exchange_orders import ExchangeOrders, note_request_time, note_request_times
from actors.peers import Peers
from actors.hot_path import prepare_hot_path_thread
from actors.telemetry import StartTimeline, process_metrics
from execution.api.errors import translate_ccxt_error
from actors.supervision import StartRefused
from execution.error_handler import (ErrorClass, RetryableError, RetryPolicy, TimestampOutsideWindow, call_with_retry,
                                     error_class)
from execution.log import install_redaction, redact, register_secret
from execution.api.other_exchange_api import float_book_from_ccxt
from execution.api.market_data import MarketDataError, checked_market_rules, fetch_fee_table, rules_with_fees
from execution.api.venue import make_exchange
from execution.paper import PaperVenue
from execution.types import FloatBook, MarketRules, OrderBook, OrderSnapshot

if TYPE_CHECKING:
    from execution.api.order_entry import OrderEntrySession

logger = logging.getLogger(__name__)

CREDENTIALS_WAIT_S = 30.0  # start() waits this long for the driver to deliver the venue's keys
BOOK_DEPTH = 20  # levels per side kept and pushed (ccxt.pro keeps the whole book)
BOOK_RATE_WINDOW_S = 1.0  # the book update rate gauge is the count over this window
PUSH_TIMEOUT_S = 2.0


def _default_retry_policy() -> RetryPolicy:
    """The config's retry section at its defaults (``orchestration.config.RetryConfig``), for an actor made without
    one (a run always gives one): retries of reads and cancels end within the callers' timeouts (the order manager
    waits 5 s for a lookup)."""
    from orchestration.config import RetryConfig

    return RetryPolicy(**RetryConfig().model_dump())


def _ray_node_id() -> str | None:
    """The Ray node this process runs on (None outside Ray): with the pid, what the supervisor needs to end it."""
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


class ExchangeConnection(ExchangeOrders, ServesChannel, RenewsChannels):
    """Plain class; orchestration turns it into the named Ray actor ``exchange:<venue>``. Order legs and book lookups
    also arrive over its channel (the hot path); books leave over the subscribers' channels."""

    channel_methods = ("submit_order", "latest_book")

    def __init__(self, venue: VenueSpec, symbols: list[str], *, paper_balances: dict[str, Decimal] | None = None,
                 stream_timeout_s: float = 5.0, poll_interval_s: float = 0.25,
                 balance_refresh_s: float = 1.0, channels: ChannelSettings | None = None,
                 realtime_priority: int = 0, cpu_wake_latency_us: int | None = None,
                 retry_policy: RetryPolicy | None = None, metrics_dir: str | None = None) -> None:
        install_redaction()  # before this process logs anything of the run (a venue's replies may echo a key)
        self.venue = venue
        self.symbols = list(symbols)
        # How book snapshots, balances, order lookups and cancels are retried (``_retried``); never order creation.
        self.retry_policy = retry_policy or _default_retry_policy()
        self._stream_timeout_s = stream_timeout_s
        self._poll_interval_s = poll_interval_s
        self._rest: Any = None
        self._order_entry: OrderEntrySession | None = None
        self._stream: Any = None
        self._rules: dict[str, MarketRules] = {}
        self._books: dict[str, FloatBook] = {}  # exact Decimal levels only when asked (latest_book, paper fills)
        self._stream_up: dict[str, bool] = {s: False for s in self.symbols}
        self._book_updates_in_window: dict[str, int] = {}
        self._books_received = 0  # books taken from the venue since start (the ingest benchmark)
        self.channel_settings = channels
        self.channels = Channels(Peers(), channels)
        self._publisher = ConflatingPublisher(self._push, push_timeout_s=PUSH_TIMEOUT_S)
        self._tasks: list[asyncio.Task] = []
        self._paper_balances = paper_balances
        self._paper: PaperVenue | None = None
        self.metrics = process_metrics([venue.name], self.symbols, metrics_dir=metrics_dir)
        self.incarnation = uuid.uuid4().hex
        self._node_id = _ray_node_id()
        self._started = asyncio.Event()
        self._balance_task: asyncio.Task | None = None
        self._balance_refresh_s = balance_refresh_s
        self._realtime_priority = realtime_priority
        self._cpu_wake_latency_us = cpu_wake_latency_us
        self.scheduling = "normal"
        self.balances_cache: dict[str, tuple[Decimal, Decimal]] = {}
        self._own_fills_applied = 0  # fills of our orders applied to balances_cache since start
        self._inbox = CredentialsInbox() if venue.signs else None
        self._forever = asyncio.Event()  # never set: what a long poll waits on when there is nothing to ask for
        self._clock_resync: asyncio.Task | None = None
        self.active = False  # streaming books and balances to the subscribers (a standby does not)
        self.start_timeline = StartTimeline()  # in health()
        self.start_timeline.step("constructed")

    # ----- keys -----
    async def credentials_wanted(self, wait_s: float) -> bytes | None:
        """This process's public key while it waits for its venue's keys (the driver seals them to it); otherwise
        None after ``wait_s`` (a long poll: a restarted actor is a new process that asks at once)."""
        if self._inbox is not None and self._inbox.credentials is None:
            return self._inbox.public_key
        try:
            async with asyncio.timeout(wait_s):
                await self._forever.wait()
        except TimeoutError:
            pass
        return None

    async def provide_credentials(self, sealed: bytes) -> None:
        """The venue's keys, sealed to this process's public key (``actors.credentials``)."""
        if self._inbox is None:
            raise CredentialsRefused(f"{self.venue.name} is paper-traded: it takes no keys")
        credentials = self._inbox.open(sealed)
        register_secret(credentials.api_key, credentials.secret, credentials.passphrase)

    # ----- lifecycle -----
    async def start(self, active: bool = True) -> dict[str, MarketRules]:
        """Connect (idempotent); ``active``: stream the books and balances to the subscribers at once, else wait as
        the venue's standby until ``activate``."""
        if self._started.is_set():
            return self._rules
        v = self.venue
        self.start_timeline.step("start called")
        keys = {}
        if self._inbox is not None:
            try:
                credentials = await self._inbox.wait(CREDENTIALS_WAIT_S)
            except TimeoutError:
                raise StartRefused(f"venues.{v.name}: no keys arrived within {CREDENTIALS_WAIT_S:.0f} s (the driver "
                                   f"of the run delivers them; is `rayarb run` still running?)") from None
            keys = {"api_key": credentials.api_key, "secret": credentials.secret, "password": credentials.passphrase}
            self.start_timeline.step("keys")
        self._rest = make_exchange(v.exchange_id, url=v.url, flavour="async", sandbox=v.testnet,
                                   rate_limit=not v.simulator, **keys)
        note_request_times(self._rest)
        if not v.paper:
            await self._open_order_entry()
        self._stream = make_exchange(v.exchange_id, url=v.url, flavour="pro", sandbox=v.testnet,
                                     rate_limit=not v.simulator)
        self.start_timeline.step("clients")
        markets = await asyncio.wait_for(self._rest.load_markets(), 30)
        self.start_timeline.step("markets")
        missing = [s for s in self.symbols if isinstance(markets, dict) and markets and s not in markets]
        if missing:
            raise StartRefused(f"symbols: {', '.join(missing)} not listed by venue {v.name}")
        try:
            rules = checked_market_rules(v.name, markets, self.symbols)
            if self._inbox is not None:
                await self._check_keys()
            self._rules = await self._with_venue_fees(rules)
            self.start_timeline.step("keys checked, fees")
        except MarketDataError as error:  # names the venue, symbol and field: the operator's to look at
            raise StartRefused(redact(str(error)).splitlines()[0][:300]) from None
        self._stream.markets = self._rest.markets
        self._stream.markets_by_id = self._rest.markets_by_id
        if v.paper:
            balances = self._paper_balances if self._paper_balances is not None else {}
            self._paper = PaperVenue(v.name, self._rules, balances)
        if active:
            self._start_streaming()
        self.scheduling = prepare_hot_path_thread(self._realtime_priority, self._cpu_wake_latency_us)
        self._started.set()
        self.start_timeline.step("started")
        logger.info("exchange %s started (%s, paper=%s%s)", v.name, v.url or v.exchange_id, v.paper,
                    "" if active else ", standby")
        return self._rules

    async def activate(self) -> None:
        """Take the venue over from its dead active actor: stream its books and balances to the subscribers."""
        await self._until_started()
        if not self.active:
            self._start_streaming()
            logger.info("exchange %s: standby active", self.venue.name)

    def _start_streaming(self) -> None:
        self.active = True
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow_book(s)) for s in self.symbols]
        self._tasks.append(loop.create_task(self._follow_balances()))
        self._tasks.append(loop.create_task(self._report_book_rates()))

    async def _check_keys(self) -> None:
        """One signed request before anything else: a wrong key or secret is the operator's to fix, said in one line
        (the venue's own words, redacted), not a supervisor retrying a failing start for ever."""
        try:
            await asyncio.wait_for(self._rest.fetch_balance(), 30)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = translate_ccxt_error(exc, exchange=self.venue.name)
            if error_class(error) is ErrorClass.AUTHENTICATION:
                raise StartRefused(f"venues.{self.venue.name}: the venue refused the API key or secret "
                                   f"({redact(str(error)).splitlines()[0][:200]})") from None
            raise error from None

    async def _open_order_entry(self) -> None:
        """Orders leave through an ``OrderEntrySession`` when rayarb knows the venue's order paths, on a connection
        opened now; while it cannot be opened, the session keeps trying in the background (or the first order opens
        one). Imported here: the order manager and the detector import this module to make handles to exchange
        actors, and have no use for aiohttp."""
        from execution.api.order_entry import install_order_entry_session, order_entry_url
        session = self._order_entry = install_order_entry_session(
            self._rest, on_sending=note_request_time,
            on_connected=lambda: self.metrics.count_order_connection(self.venue.name))
        url = None if session is None else order_entry_url(self._rest)
        if url is None:
            return
        try:
            await session.connect(url, timeout_s=10.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: order connection not opened ahead (%s)", self.venue.name, type(exc).__name__)

    async def _with_venue_fees(self, rules: dict[str, MarketRules]) -> dict[str, MarketRules]:
        """The account's own fee rates when the venue tells them (ccxt's market defaults otherwise): profit maths
        with the wrong fee is wrong money."""
        if self.venue.paper:
            return rules
        # a table that does not parse stops the start
        fees = await fetch_fee_table(self._rest, self.venue.name, symbols=list(rules))
        return rules if fees is None else rules_with_fees(self.venue.name, rules, fees)

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._clock_resync] if self._clock_resync is not None else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._publisher.close()
        await self.close_channel()
        self.channels.close()
        # together: each close waits for its TLS connections to shut down (ccxt's timeout_on_exit, 0.25 s)
        clients = [client for client in (self._stream, self._rest) if client is not None]
        await asyncio.gather(*(asyncio.wait_for(client.close(), 5) for client in clients), return_exceptions=True)

    async def health(self) -> dict[str, Any]:
        now = time.time()
        return {
            "incarnation": self.incarnation, "pid": os.getpid(), "node_id": self._node_id,
            "venue": self.venue.name,
            "started": self._started.is_set(), "active": self.active,
            "book_age_s": {s: round(b.age(now), 3) for s, b in self._books.items()},
            "stream_up": dict(self._stream_up),
            "subscribers": self._publisher.subscribers,
            "books": {"received": self._books_received, "conflated": self._publisher.conflated},
            "channel_calls": self.channels.stats(),
            "scheduling": self.scheduling, "start_timeline": list(self.start_timeline.steps),
            "order_entry": None if self._order_entry is None else {
                "requests_sent": self._order_entry.requests_sent,
                "connections_opened": self._order_entry.connections_opened,
                "idle_connections": self._order_entry.idle_connections},
        }

    # ----- market data -----
    async def subscribe(self, name: str, balances_only: bool = False, symbols: list[str] | None = None) -> None:
        """Push every book (and balances, as ``("balances", venue, free)``) to the actor ``name``'s ``on_book`` from
        now on; only the books of ``symbols`` when given (a detector shard's)."""
        keys = frozenset({"balances"}) if balances_only else None
        if symbols is not None:
            keys = frozenset({"balances", *symbols})
        self._publisher.subscribe(name, name, keys)
        for symbol, book in self._books.items():
            self._publisher.publish(symbol, book)
        if self.balances_cache:
            self._publish_balances()

    async def unsubscribe(self, name: str) -> None:
        """Push nothing more to the actor ``name`` (a detector or an order manager that is now its role's standby)."""
        self._publisher.unsubscribe(name)

    def _publish_balances(self) -> None:
        if not self.active:  # a standby's balances would race the active actor's
            return
        free = {asset: free for asset, (free, _locked) in self.balances_cache.items()}
        self._publisher.publish("balances", ("balances", self.venue.name, free))

    async def _follow_balances(self) -> None:
        """Refresh free balances for the detector's sizing; the order manager re-checks before sending."""
        while True:
            await self._refresh_balances()
            await asyncio.sleep(self._balance_refresh_s)

    async def _refresh_balances(self) -> None:
        try:
            _, cached = await self._fetch_into_cache()
            if cached:
                self._publish_balances()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # retried and counted in _retried
            logger.warning("%s: balance refresh failed (%s)", self.venue.name, type(exc).__name__)

    async def market_rules(self) -> dict[str, MarketRules]:
        await self._until_started()
        return self._rules

    async def _until_started(self, timeout_s: float = 60.0) -> None:
        """A restarted actor answers calls before the supervisor has started it again: those calls wait for it."""
        if self._started.is_set():
            return  # the usual case, without a wait_for task: an order leg must not yield to the book stream here
        try:
            await asyncio.wait_for(self._started.wait(), timeout_s)
        except asyncio.TimeoutError:
            # nothing was sent: an order refused here does not exist (ErrorClass.RETRYABLE), a read may be asked again
            raise RetryableError(f"{self.venue.name}: connection not started", exchange=self.venue.name) from None

    async def latest_book(self, symbol: str) -> OrderBook | None:
        book = self._books.get(symbol)
        return None if book is None else book.exact()

    async def _follow_book(self, symbol: str) -> None:
        """Stream the book; while the stream fails, poll REST so the detector never sees a silently stale book."""
        while True:
            try:
                # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that arrives in the turn its
                # awaitable completes, and this loop would then never stop.
                async with asyncio.timeout(self._stream_timeout_s):
                    raw = await self._stream.watch_order_book(symbol)
                self._stream_up[symbol] = True
                if not self._on_book(symbol, raw):
                    await self._resubscribe_book(symbol)
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._stream_up[symbol] = False
                self.metrics.count_exchange_error(self.venue.name, exc)
                logger.warning("%s %s: depth stream failed (%s); polling REST", self.venue.name, symbol,
                               type(exc).__name__)
                try:
                    async with asyncio.timeout(self._stream_timeout_s):
                        raw = await self._retried(functools.partial(self._rest.fetch_order_book, symbol, 100))
                except asyncio.CancelledError:
                    raise
                except Exception:  # retried and counted: the stream is tried again after the poll interval
                    await asyncio.sleep(self._poll_interval_s)
                    continue
                await asyncio.sleep(self._poll_interval_s)
            self._on_book(symbol, raw)

    async def _resubscribe_book(self, symbol: str) -> None:
        """A streamed book failed its check (crossed, a negative or NaN level): ccxt's local copy, updated by deltas,
        may keep the bad level for good, so every later update would be refused too. Unsubscribe; the next watch
        starts again from the venue's snapshot."""
        try:
            async with asyncio.timeout(self._stream_timeout_s):
                await self._stream.un_watch_order_book(symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next watch subscribes again either way
            logger.warning("%s %s: unsubscribing the refused book failed (%s)", self.venue.name, symbol,
                           type(exc).__name__)
        getattr(self._stream, "orderbooks", {}).pop(symbol, None)

    def _on_book(self, symbol: str, raw: dict) -> bool:
        """Check and publish a book; False when it was refused."""
        received_at = time.time()
        try:
            book = float_book_from_ccxt(self.venue.name, raw, symbol=symbol, received_at=received_at, depth=BOOK_DEPTH)
        except ValueError as exc:
            logger.warning("%s %s: book rejected: %s", self.venue.name, symbol, exc)
            return False
        self._books[symbol] = book
        self._books_received += 1
        if self._books_received == 1:
            self.start_timeline.step("first book")
        self.metrics.count_book_update(self.venue.name, symbol)
        self._book_updates_in_window[symbol] = self._book_updates_in_window.get(symbol, 0) + 1
        self._publisher.publish(symbol, book)
        return True

    def _push(self, subscriber: str, item: Any) -> Awaitable[None]:
        return self.channels.request(subscriber, "on_book", item, timeout_s=PUSH_TIMEOUT_S)

    async def _report_book_rates(self) -> None:
        """Set each symbol's book update rate gauge once per window; a silent stream shows 0, not its last rate."""
        window_start = time.monotonic()
        while True:
            await asyncio.sleep(BOOK_RATE_WINDOW_S)
            now = time.monotonic()
            elapsed, window_start = now - window_start, now
            try:
                for symbol in self.symbols:
                    count = self._book_updates_in_window.pop(symbol, 0)
                    self.metrics.set_book_update_rate(self.venue.name, symbol, count / elapsed)
            except Exception:  # a metrics failure must not stop the gauge for good
                logger.exception("%s: book update rate not recorded", self.venue.name)

    async def _retried(self, call: Callable[[], Awaitable[Any]], client_order_id: str | None = None) -> Any:
        """A call to the venue that may be repeated (a book snapshot, balances, an order lookup, a cancel; never an
        order) through the one retry path, ``call_with_retry`` with ``retry_policy``: retryable and unknown outcomes
        are repeated with backoff, anything else is raised at once. Failures come out as rayarb's errors (the
        venue's own exception as ``__cause__``) and are counted, but for "not found" (an answer)."""
        def translate(error: BaseException) -> BaseException:
            return translate_ccxt_error(error, exchange=self.venue.name, client_order_id=client_order_id)

        try:
            return await call_with_retry(call, policy=self.retry_policy, translate=translate)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if error_class(error) is not ErrorClass.NOT_FOUND:
                self.metrics.count_exchange_error(self.venue.name, error.__cause__ or error)
            self.resync_clock_if_refused(error)
            raise

    def resync_clock_if_refused(self, error: BaseException) -> None:
        """The venue refused a request's timestamp (Binance -1021, OKX 50102): measure the offset between this
        machine's clock and the venue's again (ccxt's ``load_time_difference``), so the next requests are stamped in
        the venue's time. One measurement at a time; the refused request itself was not processed."""
        if not isinstance(error, TimestampOutsideWindow) or self._rest is None:
            return
        if self._clock_resync is None or self._clock_resync.done():
            self._clock_resync = asyncio.get_running_loop().create_task(self._resync_clock())

    async def _resync_clock(self) -> None:
        try:
            async with asyncio.timeout(self._stream_timeout_s):
                offset_ms = await self._retried(self._rest.load_time_difference)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning("%s: the venue refused our timestamp and its time could not be read (%s)", self.venue.name,
                           type(exc).__name__)
            return
        logger.warning("%s: the venue refused our timestamp; its clock is %+d ms from this machine's, and requests "
                       "are stamped in its time from now on", self.venue.name, -offset_ms)

    async def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """Free and locked per asset, fetched now."""
        await self._until_started()
        fetched, _ = await self._fetch_into_cache()
        return fetched

    async def _fetch_into_cache(self) -> tuple[dict[str, tuple[Decimal, Decimal]], bool]:
        """Fetch the venue's balances and cache them, unless our own fills moved the cache meanwhile: the venue may
        have answered before those fills, and the cache already has them. Returns (fetched, cached)."""
        fills_before = self._own_fills_applied
        async with asyncio.timeout(self._stream_timeout_s):  # see _follow_book
            fetched = await self._fetch_balances()
        cached = self._own_fills_applied == fills_before
        if cached:
            self.balances_cache = fetched
        return fetched, cached

    async def _fetch_balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        if self._paper is not None:
            return {asset: (amount, Decimal(0)) for asset, amount in self._paper.balances.items()}
        raw = await self._retried(self._rest.fetch_balance)
        return {asset: (Decimal(str(v.get("free") or 0)), Decimal(str(v.get("used") or 0)))
                for asset, v in raw.items() if isinstance(v, dict) and "free" in v}

    def _apply_own_fills(self, snapshot: OrderSnapshot) -> None:
        """Move the cached free balances by a finished order's fills and publish them at once: no REST round trip (and
        its CPU) in the middle of an opportunity's legs. The periodic refresh still reconciles with the venue."""
        if not snapshot.fills:
            return
        rules = self._rules[snapshot.symbol]
        cache = dict(self.balances_cache)
        for fill in snapshot.fills:
            for asset, delta in fill.balance_changes(rules.base, rules.quote).items():
                free, locked = cache.get(asset, (Decimal(0), Decimal(0)))
                cache[asset] = (free + delta, locked)
        self.balances_cache = cache
        self._own_fills_applied += len(snapshot.fills)
        self._publish_balances()

    def _refresh_balances_soon(self) -> None:
        """After an order: fresh balances for the detector without waiting for the periodic refresh."""
        if self._balance_task is None or self._balance_task.done():
            self._balance_task = asyncio.get_running_loop().create_task(self._refresh_balances())

