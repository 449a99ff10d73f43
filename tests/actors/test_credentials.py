"""The keys' path: sealed to one exchange-actor process, opened only there; the driver's environment handed on without
them; the courier follows restarts."""
from __future__ import annotations

import asyncio
import pickle

import pytest

from actors.credentials import CredentialsInbox, CredentialsRefused, seal
from actors.exchange import ExchangeConnection, VenueSpec
from orchestration.config import Credentials, parse_config
from orchestration.credentials import forget_key_variables

KEYS = Credentials("k3y-for-alpha-0123456789", "s3cret-for-alpha-0123456789")


async def test_sealed_keys_open_only_in_the_process_that_asked_for_them():
    inbox, other = CredentialsInbox(), CredentialsInbox()
    sealed = seal(inbox.public_key, KEYS)
    assert KEYS.api_key.encode() not in sealed and KEYS.secret.encode() not in sealed
    with pytest.raises(CredentialsRefused) as refused:
        other.open(sealed)  # another process (a restarted actor, another venue's actor) cannot read them
    assert KEYS.secret not in str(refused.value)
    assert other.credentials is None
    assert inbox.open(sealed) == KEYS
    assert await inbox.wait(0.1) == KEYS


async def test_a_passphrase_travels_sealed_with_its_keys():
    inbox = CredentialsInbox()
    keys = Credentials("k3y-okx-0123456789", "s3cret-okx-0123456789", "pa55phrase-okx-0123")
    sealed = seal(inbox.public_key, keys)
    assert b"pa55phrase" not in sealed
    assert inbox.open(sealed) == keys and inbox.credentials.passphrase == "pa55phrase-okx-0123"


async def test_garbage_or_tampered_sealed_bytes_are_refused_without_echoing_them():
    inbox = CredentialsInbox()
    sealed = bytearray(seal(inbox.public_key, KEYS))
    sealed[-1] ^= 1
    for bad in (bytes(sealed), b"", b"x" * 100, seal(inbox.public_key, Credentials("", "s3cret-0123456789"))):
        with pytest.raises(CredentialsRefused):
            inbox.open(bad)
    assert inbox.credentials is None
    with pytest.raises(TimeoutError):
        await inbox.wait(0.05)


async def test_an_exchange_actor_holds_no_keys_until_delivered_and_its_spec_never_holds_them():
    spec = VenueSpec(name="alpha", exchange_id="binance", url="http://127.0.0.1:9", paper=False, simulator=True)
    assert "k3y" not in repr(spec) and not hasattr(spec, "api_key")
    connection = ExchangeConnection(spec, ["BTC/USDT"])
    public_key = await connection.credentials_wanted(0.01)
    assert public_key is not None
    assert KEYS.api_key.encode() not in pickle.dumps(spec)
    await connection.provide_credentials(seal(public_key, KEYS))
    assert await connection.credentials_wanted(0.01) is None


async def test_a_paper_venue_takes_no_keys():
    connection = ExchangeConnection(VenueSpec(name="alpha", exchange_id="binance", url=None, paper=True), ["BTC/USDT"])
    assert await connection.credentials_wanted(0.01) is None
    with pytest.raises(CredentialsRefused):
        await connection.provide_credentials(seal(CredentialsInbox().public_key, KEYS))


def test_the_driver_hands_on_an_environment_without_the_key_variables():
    config = parse_config({
        "venues": {"alpha": {"exchange": "binance", "url": "http://127.0.0.1:18800",
                             "api_key_env": "T_ALPHA_KEY", "secret_env": "T_ALPHA_SECRET"},
                   "beta": {"exchange": "binance", "url": "http://127.0.0.1:18801",
                            "api_key_env": "T_BETA_KEY", "secret_env": "T_BETA_SECRET"}},
        "symbols": ["BTC/USDT"]})
    environ = {"T_ALPHA_KEY": "a", "T_ALPHA_SECRET": "b", "T_BETA_KEY": "c", "PATH": "/bin"}
    assert sorted(forget_key_variables(config, environ)) == ["T_ALPHA_KEY", "T_ALPHA_SECRET", "T_BETA_KEY"]
    assert environ == {"PATH": "/bin"}
    assert forget_key_variables(None, environ) == []
