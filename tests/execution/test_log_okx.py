"""OKX's credentials headers never reach a log line: OK-ACCESS-KEY, OK-ACCESS-SIGN (base64, with + / =) and
OK-ACCESS-PASSPHRASE in every rendering (dict repr, JSON, HTTP header lines, aiohttp's CIMultiDict repr), also
through a handler and in an exception's text, without any secret registered."""
from __future__ import annotations

import io
import json
import logging

import pytest
from multidict import CIMultiDict

from execution.log import configure_logging, forget_secrets, redact

KEY = "8f3a1c2e-5b6d-4e7f-9a0b-1c2d3e4f5a6b"
SIGN = "nK8v+2wq/Xy0Zr9TbLm3Qa5sDf7gHj1kLp4oIu6yTr8="
PASSPHRASE = "Correct-Horse_Battery9"
SECRETS = (KEY, SIGN, PASSPHRASE)


def _headers() -> dict[str, str]:
    return {"OK-ACCESS-KEY": KEY, "OK-ACCESS-SIGN": SIGN, "OK-ACCESS-TIMESTAMP": "2026-12-04T17:00:00.000Z",
            "OK-ACCESS-PASSPHRASE": PASSPHRASE, "Content-Type": "application/json"}


@pytest.fixture(autouse=True)
def clean_logging():
    yield
    root = logging.getLogger()
    for handler in configure_logging(stream=io.StringIO()):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(logging.WARNING)
    forget_secrets()


@pytest.mark.parametrize("rendering", [
    repr(_headers()),
    str(_headers()),
    json.dumps(_headers()),
    json.dumps(_headers(), separators=(",", ":")),
    "\r\n".join(f"{k}: {v}" for k, v in _headers().items()),
    repr(CIMultiDict(_headers())),
    " ".join(f"{k.lower()}={v}" for k, v in _headers().items()),
])
def test_every_rendering_of_okx_credentials_headers_is_redacted(rendering):
    for secret in SECRETS:
        assert secret in rendering  # the rendering does carry them
    cleaned = redact(rendering)
    for secret in SECRETS:
        assert secret not in cleaned, (secret, cleaned)
    assert cleaned.count("***") == 3
    assert "2026-12-04T17:00:00.000Z" in cleaned and "application/json" in cleaned  # the rest is left alone


def test_a_handler_redacts_okx_headers_in_message_arguments_and_exception_text():
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log = logging.getLogger("rayarb.test.okx")
    log.info("request headers %s", _headers())
    try:
        raise RuntimeError(f"okx POST /api/v5/trade/batch-orders failed, headers {_headers()!r}")
    except RuntimeError:
        log.exception("order failed")
    text = stream.getvalue()
    assert "order failed" in text and "OK-ACCESS-SIGN" in text
    for secret in SECRETS:
        assert secret not in text
