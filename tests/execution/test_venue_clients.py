"""execution.api.venue's clients: how they close."""
import pytest

from execution.api.venue import make_exchange


@pytest.mark.parametrize("flavour", ["async", "pro"])
@pytest.mark.parametrize("exchange_id", ["binance", "okx"])
async def test_a_plain_http_venues_client_closes_without_waiting_for_tls_a_tls_venues_keeps_ccxts_wait(flavour,
                                                                                                       exchange_id):
    plain = make_exchange(exchange_id, url="http://127.0.0.1:18800", flavour=flavour)
    tls = make_exchange(exchange_id, url="https://127.0.0.1:18800", flavour=flavour)
    real = make_exchange(exchange_id, flavour=flavour)
    try:
        assert plain.timeout_on_exit == 0
        default = type(real).timeout_on_exit
        assert default > 0 and tls.timeout_on_exit == real.timeout_on_exit == default
    finally:
        for client in (plain, tls, real):
            client.timeout_on_exit = 0
            await client.close()
