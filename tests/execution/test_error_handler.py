"""The error tree, its translation from ccxt (once, at the boundary, with redaction), and log_and_retry: backoff with
full jitter, bounded attempts and time, retry_after, fatal errors at once, and no blind resend of order creation."""
from __future__ import annotations

import pickle
import random

import ccxt
import pytest

from execution.api.errors import VenueReply, ccxt_errors, retry_after_from_headers, translate_ccxt_error
from execution.error_handler import (
    AmbiguousOrderError,
    AuthenticationFailed,
    BadRequest,
    BadSymbol,
    DuplicateClientOrderId,
    ErrorClass,
    ExchangeRefused,
    ExchangeUnavailable,
    FatalError,
    InsufficientFunds,
    InvalidOrder,
    NetworkFailure,
    OrderNotFound,
    RateLimited,
    RequestTimedOut,
    RetryableError,
    RetryPolicy,
    TimestampOutsideWindow,
    call_with_retry,
    classify,
    error_class,
    log_and_retry,
)

SIGNED_URL = ("binance POST https://api.binance.com/api/v3/order?timestamp=1&symbol=BTCUSDT"
              "&signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")


# --- translation ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raised,expected", [
    (ccxt.RequestTimeout("t"), RequestTimedOut),
    (ccxt.ExchangeNotAvailable("502"), ExchangeUnavailable),
    (ccxt.OnMaintenance("maintenance"), ExchangeUnavailable),
    (ccxt.NetworkError("reset"), NetworkFailure),
    (ccxt.InvalidNonce("-1021"), TimestampOutsideWindow),
    (ccxt.RateLimitExceeded("-1003"), RateLimited),
    (ccxt.DDoSProtection("418"), RateLimited),
    (ccxt.BadResponse("garbage"), NetworkFailure),
    (ccxt.AuthenticationError("-2015"), AuthenticationFailed),
    (ccxt.PermissionDenied("no trading"), AuthenticationFailed),
    (ccxt.InsufficientFunds("Account has insufficient balance"), InsufficientFunds),
    (ccxt.InvalidOrder("LOT_SIZE"), InvalidOrder),
    (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), DuplicateClientOrderId),
    (ccxt.OrderNotFound("-2013"), OrderNotFound),
    (ccxt.BadSymbol("-1121"), BadSymbol),
    (ccxt.BadRequest("-1013 NOTIONAL"), BadRequest),
    (ccxt.NotSupported("no"), BadRequest),
    (ccxt.ExchangeError("-9999 something"), ExchangeRefused),
    (TimeoutError(), RequestTimedOut),
    (ConnectionResetError(), NetworkFailure),
    (KeyError("parse bug"), FatalError),
])
def test_ccxt_errors_translate_to_one_tree(raised, expected):
    translated = translate_ccxt_error(raised, exchange="binance", client_order_id="rx1")
    assert type(translated) is expected
    assert (translated.exchange, translated.client_order_id) == ("binance", "rx1")


@pytest.mark.parametrize("raised", [ccxt.RequestTimeout("t"), ccxt.ExchangeNotAvailable("503"), ccxt.NetworkError("x"),
                                    ccxt.BadResponse("?"), KeyError("bug"),
                                    ccxt.ExchangeError('binance {"code":-1007,"msg":"Timeout waiting for response from '
                                                       'backend server. Send status unknown; execution status unknown."}')])
def test_a_failed_order_creation_that_may_have_reached_the_venue_is_ambiguous(raised):
    translated = translate_ccxt_error(raised, client_order_id="rx1", creating_order=True)
    assert isinstance(translated, AmbiguousOrderError) and translated.client_order_id == "rx1"
    assert classify(translated) == "ambiguous" and error_class(translated) is ErrorClass.UNKNOWN_OUTCOME


@pytest.mark.parametrize("raised", [ccxt.RateLimitExceeded("429"), ccxt.DDoSProtection('binance 418 I\'m a teapot '
                                    '{"code":-1003,"msg":"Way too much request weight used; IP banned."}'),
                                    ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp for this request is '
                                                      'outside of the recvWindow."}')])
def test_an_order_creation_the_venue_did_not_process_is_retryable_not_ambiguous(raised):
    translated = translate_ccxt_error(raised, client_order_id="rx1", creating_order=True)
    assert not isinstance(translated, AmbiguousOrderError)
    assert error_class(translated) is ErrorClass.RETRYABLE


B = "binance "


@pytest.mark.parametrize("raised, expected", [
    # -2010 is a duplicate client order id only with "Duplicate order sent."; any other -2010 is a definite rejection
    (ccxt.InvalidOrder(B + '{"code":-2010,"msg":"Duplicate order sent."}'), ErrorClass.DUPLICATE_ID),
    (ccxt.InvalidOrder(B + '{"code":-2010,"msg":"Account has insufficient balance for requested action."}'),
     ErrorClass.DEFINITE_REJECTION),
    (ccxt.InvalidOrder(B + '{"code":-2010,"msg":"Order rejected by venue (simulated)."}'), ErrorClass.DEFINITE_REJECTION),
    (ccxt.InvalidOrder(B + '{"code":-2010,"msg":"Order would immediately match and take."}'),
     ErrorClass.DEFINITE_REJECTION),
    (ccxt.InvalidNonce(B + '{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}'),
     ErrorClass.RETRYABLE),
    (ccxt.RateLimitExceeded(B + '{"code":-1003,"msg":"Too many requests."}'), ErrorClass.RETRYABLE),
    (ccxt.DDoSProtection(B + '429 Too Many Requests {"code":-1003,"msg":"x"}'), ErrorClass.RETRYABLE),
    (ccxt.DDoSProtection(B + "418 I'm a teapot"), ErrorClass.RETRYABLE),
    (ccxt.RequestTimeout(B + '{"code":-1007,"msg":"Timeout waiting for response from backend server."}'),
     ErrorClass.UNKNOWN_OUTCOME),
    (ccxt.ExchangeError(B + '{"code":-1000,"msg":"An unknown error occurred while processing the request."}'),
     ErrorClass.UNKNOWN_OUTCOME),
    (ccxt.ExchangeNotAvailable(B + "GET http://127.0.0.1/api/v3/order 503 Service Unavailable"),
     ErrorClass.UNKNOWN_OUTCOME),
    (ccxt.RequestTimeout(B + " GET http://127.0.0.1 request timeout"), ErrorClass.UNKNOWN_OUTCOME),
    (ccxt.NetworkError("Connection closed"), ErrorClass.UNKNOWN_OUTCOME),
    (ccxt.OrderNotFound(B + '{"code":-2013,"msg":"Order does not exist."}'), ErrorClass.NOT_FOUND),
    (ccxt.OrderNotFound(B + '{"code":-2011,"msg":"Unknown order sent."}'), ErrorClass.NOT_FOUND),
    (ccxt.BadRequest(B + '{"code":-1013,"msg":"Filter failure: NOTIONAL"}'), ErrorClass.DEFINITE_REJECTION),
    (ccxt.BadRequest(B + '{"code":-1111,"msg":"Precision is over the maximum defined for this asset."}'),
     ErrorClass.DEFINITE_REJECTION),
    (ccxt.BadRequest(B + '{"code":-1100,"msg":"Illegal characters found in a parameter."}'),
     ErrorClass.DEFINITE_REJECTION),
    (ccxt.BadRequest(B + '{"code":-1102,"msg":"Mandatory parameter was not sent."}'), ErrorClass.DEFINITE_REJECTION),
    (ccxt.AuthenticationError(B + '{"code":-1022,"msg":"Signature for this request is not valid."}'),
     ErrorClass.AUTHENTICATION),
    (ccxt.AuthenticationError(B + '{"code":-2014,"msg":"API-key format invalid."}'), ErrorClass.AUTHENTICATION),
    # ccxt's trap: after a successful private call, -2015 comes out as DDoSProtection; the code decides
    (ccxt.DDoSProtection(B + '{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}'),
     ErrorClass.AUTHENTICATION),
])
def test_each_venue_error_is_classified_once_by_its_code(raised, expected):
    assert error_class(translate_ccxt_error(raised, exchange="alpha")) is expected


def test_a_code_pinned_to_the_exception_wins_over_its_text():
    """ccxt keeps only the message when it matched one exactly ("binance Account has insufficient ..."): the code the
    venue sent travels as ``venue_reply``."""
    error = ccxt.InvalidOrder("binance Duplicate order sent.")
    error.venue_reply = VenueReply(400, -2010, "Duplicate order sent.")
    assert error_class(translate_ccxt_error(error)) is ErrorClass.DUPLICATE_ID
    error = ccxt.InsufficientFunds("binance Account has insufficient balance for requested action.")
    error.venue_reply = VenueReply(400, -2010, "Account has insufficient balance for requested action.")
    assert error_class(translate_ccxt_error(error, creating_order=True)) is ErrorClass.DEFINITE_REJECTION


def test_an_unlisted_code_is_a_rejection_on_a_4xx_and_unknown_otherwise():
    error = ccxt.ExchangeError('binance {"code":-9999,"msg":"new"}')
    error.venue_reply = VenueReply(400, -9999, "new")
    assert error_class(translate_ccxt_error(error)) is ErrorClass.DEFINITE_REJECTION
    error = ccxt.ExchangeError('binance {"code":-9999,"msg":"new"}')
    error.venue_reply = VenueReply(503, -9999, "new")
    assert error_class(translate_ccxt_error(error, creating_order=True)) is ErrorClass.UNKNOWN_OUTCOME


def test_a_definite_refusal_of_order_creation_stays_fatal():
    assert type(translate_ccxt_error(ccxt.InsufficientFunds("x"), creating_order=True)) is InsufficientFunds


def test_retry_after_comes_from_the_response_headers():
    assert retry_after_from_headers({"Retry-After": "7"}) == 7.0
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers(None) is None
    translated = translate_ccxt_error(ccxt.DDoSProtection("429"), headers={"Retry-After": "3"})
    assert isinstance(translated, RateLimited) and translated.retry_after == 3.0


def test_signatures_are_removed_from_translated_and_original_messages():
    original = ccxt.RequestTimeout(SIGNED_URL)
    translated = translate_ccxt_error(original)
    assert "9f86d081" not in str(translated) and "signature=***" in str(translated)
    assert "9f86d081" not in str(original)  # the chained __cause__ prints redacted too


async def test_ccxt_errors_context_manager_translates_and_chains():
    class Client:
        last_response_headers = {"Retry-After": "2"}

    with pytest.raises(RateLimited) as raised:
        with ccxt_errors("binance", client=Client()):
            raise ccxt.RateLimitExceeded(SIGNED_URL)
    assert raised.value.retry_after == 2.0 and isinstance(raised.value.__cause__, ccxt.RateLimitExceeded)
    with pytest.raises(AmbiguousOrderError):
        with ccxt_errors("binance", client_order_id="rx1", creating_order=True):
            raise RequestTimedOut("already translated, but for a create")


def test_errors_pickle_with_their_ids_for_ray():
    for error in (RateLimited("x", retry_after=1.5, exchange="binance"), AmbiguousOrderError("y", client_order_id="c"),
                  InvalidOrder("z")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.__dict__ == error.__dict__


# --- log_and_retry ----------------------------------------------------------------------------------------------

class FakeTime:
    """Injected sleep and clock: sleeping advances the clock; nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)


class Flaky:
    """A callable failing with the given errors in turn, then returning ``result``."""

    def __init__(self, *errors: BaseException, result: object = "ok") -> None:
        self.errors = list(errors)
        self.result = result
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.last = (args, kwargs)
        if self.errors:
            raise self.errors.pop(0)
        return self.result


def policy(**overrides) -> RetryPolicy:
    return RetryPolicy(**{"rng": random.Random(7), **overrides})


def test_retryable_errors_are_retried_with_full_jitter_until_success():
    time_ = FakeTime()
    function = Flaky(NetworkFailure("2"), result="done")
    result = log_and_retry(RequestTimedOut("1"), function, "a", key="v",
                           policy=policy(base_delay_s=0.1, max_delay_s=5), sleep=time_.sleep, clock=time_.clock)
    assert result == "done" and function.calls == 2 and function.last == (("a",), {"key": "v"})
    assert 0 <= time_.sleeps[0] <= 0.1 and 0 <= time_.sleeps[1] <= 0.2  # uniform(0, base * 2**(n-1))


def test_backoff_ceilings_grow_exponentially_and_are_capped():
    rule = RetryPolicy(base_delay_s=1, max_delay_s=4, rng=random.Random(1))
    samples = {attempt: [rule.backoff(attempt) for _ in range(300)] for attempt in (1, 2, 3, 4, 8)}
    assert max(samples[1]) <= 1 and max(samples[2]) <= 2 and max(samples[3]) <= 4 and max(samples[8]) <= 4
    assert max(samples[3]) > 2  # the ceiling really doubled
    assert min(samples[4]) < 1  # full jitter: near zero is possible


def test_fatal_errors_are_raised_at_once_without_calling_again():
    function = Flaky()
    time_ = FakeTime()
    with pytest.raises(InvalidOrder):
        log_and_retry(InvalidOrder("LOT_SIZE"), function, sleep=time_.sleep, clock=time_.clock)
    with pytest.raises(KeyError):  # a bug is not retried either
        log_and_retry(KeyError("x"), function, sleep=time_.sleep, clock=time_.clock)
    assert function.calls == 0 and time_.sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_raised():
    time_ = FakeTime()
    function = Flaky(*[ExchangeUnavailable(str(i)) for i in range(10)])
    with pytest.raises(ExchangeUnavailable) as raised:
        log_and_retry(ExchangeUnavailable("first"), function, policy=policy(max_attempts=4), sleep=time_.sleep,
                      clock=time_.clock)
    assert function.calls == 3  # 4 attempts counting the failure given
    assert str(raised.value) == "2" and "gave up after 4 attempt(s)" in raised.value.__notes__[0]


def test_total_time_is_bounded_and_retry_after_is_honoured():
    time_ = FakeTime()
    function = Flaky(RateLimited("again", retry_after=4.0), result="ok")
    assert log_and_retry(RateLimited("slow down", retry_after=4.0), function, policy=policy(max_elapsed_s=10),
                         sleep=time_.sleep, clock=time_.clock) == "ok"
    assert time_.sleeps == [4.0, 4.0]
    time_ = FakeTime()
    function = Flaky()
    with pytest.raises(RateLimited):  # waiting 60 s would pass the 10 s budget: give up now
        log_and_retry(RateLimited("banned", retry_after=60.0), function, policy=policy(max_elapsed_s=10),
                      sleep=time_.sleep, clock=time_.clock)
    assert function.calls == 0 and time_.sleeps == []


def test_builtin_timeouts_are_retryable_and_translate_is_applied_to_raw_errors():
    time_ = FakeTime()
    assert log_and_retry(TimeoutError(), Flaky(), sleep=time_.sleep, clock=time_.clock) == "ok"
    function = Flaky(ccxt.ExchangeNotAvailable("503"))
    assert log_and_retry(ccxt.RequestTimeout("t"), function, translate=translate_ccxt_error, sleep=time_.sleep,
                         clock=time_.clock) == "ok"
    assert function.calls == 2


def test_order_creation_is_never_retried_blindly():
    time_ = FakeTime()
    create = Flaky()
    with pytest.raises(AmbiguousOrderError) as raised:
        log_and_retry(RequestTimedOut("t"), create, creates_order=True, sleep=time_.sleep, clock=time_.clock)
    assert create.calls == 0 and "not re-sent" in raised.value.__notes__[-1]


def test_ambiguous_order_found_by_lookup_is_adopted_not_resent():
    time_ = FakeTime()
    create = Flaky()
    lookups = Flaky(OrderNotFound("not yet"), result={"clientOrderId": "rx1", "status": "open"})
    result = log_and_retry(AmbiguousOrderError("t", client_order_id="rx1"), create, resolve=lookups,
                           policy=policy(confirmation_delay_s=0.5), sleep=time_.sleep, clock=time_.clock)
    assert result == {"clientOrderId": "rx1", "status": "open"}
    assert create.calls == 0 and lookups.calls == 2 and time_.sleeps == [0.5]


def test_ambiguous_order_proven_absent_is_resent_once_with_the_same_arguments():
    time_ = FakeTime()
    create = Flaky(result="placed")
    lookups = Flaky(result=None)
    result = log_and_retry(RequestTimedOut("t"), create, "BTC/USDT", client_order_id="rx1", creates_order=True,
                           resolve=lookups, policy=policy(not_found_confirmations=3), sleep=time_.sleep,
                           clock=time_.clock)
    assert result == "placed" and lookups.calls == 3 and create.calls == 1
    assert create.last == (("BTC/USDT",), {"client_order_id": "rx1"})


def test_a_failing_lookup_leaves_the_order_ambiguous():
    time_ = FakeTime()
    create = Flaky()
    with pytest.raises(AmbiguousOrderError) as raised:
        log_and_retry(AmbiguousOrderError("t"), create, resolve=Flaky(ExchangeUnavailable("502")), sleep=time_.sleep,
                      clock=time_.clock)
    assert create.calls == 0 and isinstance(raised.value.__cause__, ExchangeUnavailable)


async def test_async_function_gives_an_awaitable_with_the_same_rules():
    time_ = FakeTime()
    calls = []

    async def fetch(symbol):
        calls.append(symbol)
        if len(calls) < 2:
            raise NetworkFailure("reset")
        return "book"

    pending = log_and_retry(RequestTimedOut("t"), fetch, "BTC/USDT", sleep=time_.async_sleep, clock=time_.clock)
    assert hasattr(pending, "__await__") and calls == []
    assert await pending == "book" and calls == ["BTC/USDT", "BTC/USDT"] and len(time_.sleeps) == 2

    async def create(**kwargs):
        calls.append("create")
        return "placed"

    async def lookup():
        return None

    assert await log_and_retry(RequestTimedOut("t"), create, creates_order=True, resolve=lookup,
                               sleep=time_.async_sleep, clock=time_.clock, client_order_id="rx1") == "placed"
    assert calls.count("create") == 1


async def test_call_with_retry_makes_the_first_call_itself():
    time_ = FakeTime()
    function = Flaky(RequestTimedOut("t"), result=5)
    assert call_with_retry(function, sleep=time_.sleep, clock=time_.clock) == 5 and function.calls == 2

    async def fine():
        return 6

    assert await call_with_retry(fine) == 6


def test_failures_are_logged_with_ids_and_without_secrets(caplog):
    time_ = FakeTime()
    with caplog.at_level("WARNING", logger="execution.error_handler"):
        log_and_retry(translate_ccxt_error(ccxt.RequestTimeout(SIGNED_URL), exchange="binance", client_order_id="rx9"),
                      Flaky(), sleep=time_.sleep, clock=time_.clock)
    (record,) = caplog.records
    assert record.client_order_id == "rx9" and record.exchange == "binance" and record.error_type == "RequestTimedOut"
    assert "9f86d081" not in record.getMessage()
