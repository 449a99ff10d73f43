"""How a run's actors reach each other directly: ``ChannelSettings``, made once per run by ``new_channel_settings``."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from actors.transport.tls import is_loopback, load_tls_material, new_tls_material

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Where each actor's channel listens and the run's secrets for it; travels to the actors inside the Deployment.

    ``host`` is an address, or ``"node"`` for the address Ray uses for the actor's node (actors spread over several
    machines). ``token`` is the key of the handshake (``handshake``); ``tls_certificate``/``tls_key`` (PEM) are the
    run's TLS identity, required wherever a channel listens beyond loopback (``force_tls``: on loopback too). None of
    them appears in a repr, a log or a report.
    """

    token: str = field(repr=False)
    host: str = "127.0.0.1"
    tls_certificate: bytes | None = field(default=None, repr=False)
    tls_key: bytes | None = field(default=None, repr=False)
    force_tls: bool = False

    def uses_tls(self, address: str) -> bool:
        """Whether a channel at ``address`` (a listening or a peer's address) runs inside TLS."""
        return self.force_tls or not is_loopback(address)

    @property
    def has_tls(self) -> bool:
        return self.tls_certificate is not None and self.tls_key is not None


def new_channel_settings(host: str, *, certificate_file: str | None = None,
                         key_file: str | None = None) -> ChannelSettings:
    """A run's channel settings: a fresh 256-bit token, and for a host beyond loopback (``"node"`` included) TLS
    material: the certificate and key files the config names, or a certificate made for this run."""
    if host in WILDCARD_HOSTS:
        raise ValueError("channels listen on one address (loopback, 'node' or an interface's), never a wildcard")
    if (certificate_file is None) != (key_file is None):
        raise ValueError("a channel certificate needs its key, and a key its certificate")
    token = secrets.token_hex(32)
    if host != "node" and is_loopback(host) and certificate_file is None:
        return ChannelSettings(token=token, host=host)
    certificate, key = (new_tls_material() if certificate_file is None
                        else load_tls_material(certificate_file, key_file))
    return ChannelSettings(token=token, host=host, tls_certificate=certificate, tls_key=key)


def listen_host(host: str) -> str:
    """The address to listen on for a ``ChannelSettings.host``: ``"node"`` is the address Ray uses for this node."""
    if host != "node":
        return host
    import ray  # only here: the rest of the transport runs without Ray

    return ray.util.get_node_ip_address()
