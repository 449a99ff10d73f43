"""Where a run's hot-path channels listen, decided from the config and from whether rayarb started Ray itself."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.config import Config, Mode, RunOptions
from orchestration.main_job import MainJob


def settings(channels: str, address: str | None):
    config = Config.default_local({"alpha": "http://127.0.0.1:1", "beta": "http://127.0.0.1:2"},
                                  {"alpha": ("k", "s"), "beta": ("k", "s")})
    config = config.model_copy(update={"run": config.run.model_copy(update={"channels": channels})})
    job = MainJob(RunOptions(config=config, mode=Mode.LOCAL_SIM, address=address, run_dir=Path("unused")))
    return job._channel_settings(config)


@pytest.mark.parametrize(("channels", "address", "host"), [
    ("auto", None, "127.0.0.1"),  # rayarb's own Ray: one host, loopback only
    ("auto", "auto", "node"),  # a cluster spans machines: each actor's node address
    ("auto", "10.0.0.5:6379", "node"),
    ("node", None, "node"),
    ("192.168.1.7", "auto", "192.168.1.7"),
])
def test_channels_listen_where_the_deployment_needs(channels, address, host):
    assert settings(channels, address).host == host


def test_channels_off_sends_everything_through_ray():
    assert settings("off", None) is None


def test_every_run_gets_its_own_token():
    first, second = settings("auto", None), settings("auto", None)
    assert len(first.token) == 64 and first.token != second.token  # 256 bits, the key of the channels' handshake
    assert first.token not in repr(first)


@pytest.mark.parametrize(("channels", "address", "tls"), [
    ("auto", None, False),  # loopback: plain TCP
    ("auto", "auto", True),  # each node's address: TLS with a certificate made for the run
    ("node", None, True),
    ("192.168.1.7", "auto", True),
])
def test_channels_beyond_loopback_get_the_runs_own_tls_certificate(channels, address, tls):
    first, second = settings(channels, address), settings(channels, address)
    assert first.has_tls is tls
    if tls:
        assert first.tls_certificate != second.tls_certificate and first.tls_key != second.tls_key
        assert first.tls_key.decode() not in repr(first)


def test_channels_can_present_a_certificate_the_config_names(tmp_path):
    from actors.transport.tls import new_tls_material

    from orchestration.config import ConfigError, UserError, parse_config  # noqa: I001

    certificate, key = new_tls_material()
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "key.pem").write_bytes(key)
    raw = {"venues": {"alpha": {"exchange": "binance", "url": "http://127.0.0.1:1"},
                      "beta": {"exchange": "binance", "url": "http://127.0.0.1:2"}},
           "symbols": ["BTC/USDT"],
           "run": {"channels": "10.0.0.7", "channel_tls_certificate": str(tmp_path / "cert.pem"),
                   "channel_tls_key": str(tmp_path / "key.pem")}}
    config = parse_config(raw)
    job = MainJob(RunOptions(config=config, mode=Mode.LOCAL_SIM, address="auto", run_dir=Path("unused")))
    chosen = job._channel_settings(config)
    assert chosen.tls_certificate == certificate and chosen.tls_key == key
    with pytest.raises(ConfigError, match="run.channel_tls_certificate: goes with run.channel_tls_key"):
        parse_config({**raw, "run": {"channel_tls_certificate": str(tmp_path / "cert.pem")}})
    with pytest.raises(ConfigError, match="run.channel_tls_key: no readable file at"):
        parse_config({**raw, "run": {**raw["run"], "channel_tls_key": str(tmp_path / "missing.pem")}})
    (tmp_path / "key.pem").write_bytes(new_tls_material()[1])  # a key that is not the certificate's
    with pytest.raises(UserError, match="run.channel_tls_certificate: the certificate and key do not load"):
        job._channel_settings(parse_config(raw))
