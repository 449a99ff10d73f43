"""Logging: structured fields in text and JSON lines, and redaction of keys, secrets and signatures everywhere in a
record — message, arguments, extra fields, exception text."""
from __future__ import annotations

import io
import json
import logging
from decimal import Decimal as D

import pytest

from execution.log import (
    RedactingFilter,
    configure_logging,
    error_fields,
    fill_fields,
    forget_secrets,
    get_logger,
    order_fields,
    position_fields,
    redact,
    register_secret,
)
from execution.types import Fill, Side

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"


@pytest.fixture(autouse=True)
def clean_logging():
    yield
    root = logging.getLogger()
    for handler in configure_logging(stream=io.StringIO()):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)
    forget_secrets()


@pytest.mark.parametrize("text", [
    f"GET https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature={SIGNATURE}",
    f"body: symbol=BTCUSDT&side=BUY&signature={SIGNATURE}&recvWindow=5000",
    f"headers {{'X-MBX-APIKEY': '{API_KEY}', 'Content-Type': 'x'}}",
    f"X-MBX-APIKEY: {API_KEY}",
    f'{{"apiKey": "{API_KEY}", "secret": "{SECRET}"}}',
    f"apiKey={API_KEY}&secret={SECRET}",
])
def test_redact_removes_signatures_and_keys_in_every_rendering(text):
    cleaned = redact(text)
    assert SIGNATURE not in cleaned and API_KEY not in cleaned and SECRET not in cleaned
    assert "***" in cleaned


def test_registered_secrets_are_redacted_wherever_they_appear_and_short_values_are_ignored():
    register_secret(SECRET, "", None, "12")
    assert redact(f"oops the secret is {SECRET}.") == "oops the secret is ***."
    assert redact("price 12 amount 120") == "price 12 amount 120"


def test_every_handler_redacts_message_args_extra_and_exception_text(tmp_path):
    register_secret(API_KEY)
    stream = io.StringIO()
    json_path = tmp_path / "rayarb.jsonl"
    configure_logging("INFO", json_path=str(json_path), stream=stream)
    log = get_logger("rayarb.test")
    log.info("sending %s", f"https://x/api/v3/order?a=1&signature={SIGNATURE}", extra={"note": f"key {API_KEY}"})
    try:
        raise RuntimeError(f"request failed: X-MBX-APIKEY: {API_KEY} signature={SIGNATURE}")
    except RuntimeError:
        log.exception("order failed", extra={"client_order_id": "rx1"})
    text = stream.getvalue()
    dumped = json_path.read_text()
    for output in (text, dumped):
        assert SIGNATURE not in output and API_KEY not in output
    assert "request failed" in text and "Traceback" in text  # the exception is still there, redacted
    records = [json.loads(line) for line in dumped.splitlines()]
    assert records[0]["message"].endswith("signature=***") and records[0]["note"] == "key ***"
    assert records[1]["client_order_id"] == "rx1" and "RuntimeError" in records[1]["exc"]


def test_json_lines_carry_structured_order_fill_position_and_error_fields(tmp_path):
    json_path = tmp_path / "rayarb.jsonl"
    configure_logging(logging.DEBUG, json_path=str(json_path), stream=io.StringIO())
    log = get_logger("rayarb.test")
    fill = Fill(exchange="binance", symbol="BTC/USDT", side=Side.SELL, price=D("65000.10"), amount=D("0.01"),
                fee=D("0.65"), fee_asset="USDT", trade_id="t7", client_order_id="rx1", exchange_order_id="42",
                ts_ms=1)
    log.info("fill", extra=fill_fields(fill, opportunity_id="opp-3"))
    log.info("position", extra=position_fields("binance", "BTC", D("-0.01")))

    class Stub:
        client_order_id, exchange_order_id, exchange, symbol, side, status = "rx1", None, "binance", "BTC/USDT", \
            Side.BUY, None
        amount, price, order_type, opportunity_id = D("0.01"), D("65000"), None, "opp-3"

    log.info("order", extra=order_fields(Stub()))
    error = RuntimeError("x")
    error.client_order_id = "rx1"
    log.error("error", extra=error_fields(error, exchange="binance"))
    fill_record, position_record, order_record, error_record = (json.loads(line)
                                                                 for line in json_path.read_text().splitlines())
    assert (fill_record["trade_id"], fill_record["price"], fill_record["side"], fill_record["opportunity_id"]) == (
        "t7", "65000.10", "sell", "opp-3")
    assert position_record == {**position_record, "exchange": "binance", "asset": "BTC", "position": "-0.01"}
    assert order_record["client_order_id"] == "rx1" and "exchange_order_id" not in order_record
    assert (error_record["error_type"], error_record["client_order_id"], error_record["level"]) == (
        "RuntimeError", "rx1", "ERROR")


def test_text_lines_show_extra_fields_as_key_values():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    get_logger("rayarb.test").warning("order denied", extra={"client_order_id": "rx1", "field": "amount"})
    line = stream.getvalue().strip()
    assert line.endswith("order denied client_order_id=rx1 field=amount") and " WARNING rayarb.test: " in line


def test_configure_logging_is_idempotent():
    first = configure_logging(stream=io.StringIO())
    second = configure_logging(stream=io.StringIO())
    root = logging.getLogger()
    assert not any(handler in root.handlers for handler in first)
    assert all(handler in root.handlers for handler in second)
    assert all(any(isinstance(f, RedactingFilter) for f in handler.filters) for handler in second)
