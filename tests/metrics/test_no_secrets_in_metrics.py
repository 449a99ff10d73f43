"""No API key, secret or signature ever reaches a metric label, a metric value's exposition, or the metrics log.

Secrets are registered up front, every recording method is driven with inputs that carry them (as a misplaced
argument, inside an exception message, as an unknown label value), and the whole exposition is scanned.
"""
from __future__ import annotations

import logging
from decimal import Decimal

import ccxt
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from metrics.definitions import RayarbMetrics

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
SECRETS = (API_KEY, API_SECRET, SIGNATURE)


def drive_every_metric(m: RayarbMetrics) -> None:
    leaky = f"apiKey={API_KEY}&signature={SIGNATURE}"
    m.observe_tick_to_order("binance_a", "BTC/USDT", 0.002)
    m.observe_tick_to_order(API_KEY, leaky, 0.002)
    m.observe_order_ack("binance_a", "limit", 0.01)
    m.observe_order_ack("binance_a", API_SECRET, 0.01)
    m.observe_order_fill("binance_b", "BTC/USDT", 0.1)
    m.observe_detection(leaky, 0.001)
    m.observe_book_age(API_SECRET, "BTC/USDT", 0.02)
    m.count_order("binance_a", "buy", "accepted")
    m.count_order(API_KEY, SIGNATURE, API_SECRET)
    m.record_fill("binance_b", "BTC/USDT", "sell", Decimal("0.01"), Decimal("65000"))
    m.record_fill(API_KEY, API_SECRET, SIGNATURE, Decimal("0.01"), Decimal("65000"))
    m.count_opportunity_detected("BTC/USDT")
    m.count_opportunity_taken(API_KEY)
    m.count_opportunity_skipped("BTC/USDT", leaky)
    m.count_arbitrage_outcome("BTC/USDT", API_SECRET)
    m.count_exchange_error("binance_a", ccxt.AuthenticationError(f"binance {{\"msg\":\"bad key {API_KEY}\"}}"))
    m.count_exchange_error("binance_a", ccxt.InvalidOrder(f"signature {SIGNATURE} rejected"))
    m.count_exchange_error("binance_b", RuntimeError(API_SECRET))
    m.count_exchange_error("binance_b", API_SECRET)
    m.count_resubmission(API_KEY)
    m.count_reconciliation("binance_a")
    m.count_actor_restart(API_SECRET)
    m.count_book_update("binance_a", "BTC/USDT")
    m.set_pnl(API_KEY, Decimal("1.5"), Decimal("-0.2"))
    m.set_position("binance_a", API_SECRET, Decimal("0.3"))
    m.set_actor_up(SIGNATURE, True)
    m.set_book_update_rate(API_KEY, SIGNATURE, 12.0)


def test_no_secret_in_the_exposition_or_the_metrics_log(caplog):
    caplog.set_level(logging.DEBUG)
    m = RayarbMetrics(CollectorRegistry())
    m.init_labels(["binance_a", "binance_b"], ["BTC/USDT"])
    drive_every_metric(m)
    text = generate_latest(m.registry).decode()
    assert "rayarb_exchange_errors_total" in text and 'error_class="AuthenticationError"' in text
    assert 'exchange="other"' in text  # the misplaced values were recorded, as "other"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged  # unknown values were reported
    for secret in SECRETS:
        for fragment in (secret, secret[:16], secret[-16:]):
            assert fragment not in text, "secret in metrics exposition"
            assert fragment not in logged, "secret in metrics log"


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_configured_as_exchange_or_symbol_is_refused_without_quoting_it(secret):
    # A configuration mistake (a key pasted as a symbol) must not put the key on every series, nor in the error.
    for exchanges, symbols in ((["binance_a", secret.lower()], ["BTC/USDT"]), (["binance_a"], ["BTC/USDT", secret])):
        m = RayarbMetrics(CollectorRegistry())
        with pytest.raises(ValueError) as raised:
            m.init_labels(exchanges, symbols)
        assert secret not in str(raised.value) and secret.lower() not in str(raised.value)
        assert secret not in generate_latest(m.registry).decode()
