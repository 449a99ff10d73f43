"""The request encoding every exchange from ``make_exchange`` signs with: ccxt's own, byte for byte, only faster."""
from __future__ import annotations

import hashlib
from decimal import Decimal

import ccxt
import ccxt.async_support as ccxt_async
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.api.venue import fast_urlencode, make_exchange

PLAIN = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~", max_size=12)
ANY_TEXT = st.text(max_size=12)  # spaces, '&', '=', '%', '/', non-ASCII, ...
VALUES = st.one_of(PLAIN, ANY_TEXT, st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                   st.decimals(allow_nan=False, allow_infinity=False), st.none(), st.binary(max_size=6),
                   st.lists(PLAIN, max_size=3))
PARAMS = st.dictionaries(st.one_of(PLAIN, ANY_TEXT, st.integers()), VALUES, max_size=10)


@settings(max_examples=800, deadline=None)
@given(PARAMS, st.booleans())
def test_the_encoding_equals_ccxts_for_any_parameters(params, doseq):
    ours = fast_urlencode(ccxt.Exchange.urlencode)
    assert ours(params, doseq) == ccxt.Exchange.urlencode(params, doseq)


def test_every_exchange_it_builds_signs_an_order_exactly_as_ccxt_would():
    ours = make_exchange("binance", url="http://127.0.0.1:9", flavour="async", api_key="k", secret="s")
    plain = ccxt_async.binance({"apiKey": "k", "secret": "s"})
    plain.nonce = ours.nonce = lambda: 1_700_000_000_000
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.0100", "price": "60000.01",
             "timeInForce": "IOC", "newClientOrderId": "rx-abc/1:2", "newOrderRespType": "FULL",
             "note": "a b&c=d%é"}
    assert ours.urlencode is not plain.urlencode  # the fast one is in use
    signed, expected = (ex.sign("order", ["private"], "POST", dict(order)) for ex in (ours, plain))
    assert signed["body"] == expected["body"]  # same bytes, same HMAC-SHA256 signature
    assert hashlib.sha256(signed["body"].encode()).digest() == hashlib.sha256(expected["body"].encode()).digest()


def test_decimal_and_float_values_read_as_ccxt_writes_them():
    ours = fast_urlencode(ccxt.Exchange.urlencode)
    params = {"quantity": Decimal("1E-8"), "price": 0.1 + 0.2, "flag": True, "limit": 5}
    assert ours(params) == ccxt.Exchange.urlencode(params) == "quantity=1E-8&price=0.30000000000000004&flag=true&limit=5"
