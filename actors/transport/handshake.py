"""Mutual authentication of a channel connection by HMAC-SHA256 challenge and response; the key never travels.

Both ends hold the run's channel token (``ChannelSettings.token``) as the key. A connection begins:

1. client -> server  ``HELLO``: the protocol's magic and the client's fresh random nonce ``Nc``;
2. server -> client  its fresh random nonce ``Ns`` and ``HMAC(key, "server" | Nc | Ns)``: the server proves it knows
   the key, over the client's nonce. A client that finds this proof wrong hangs up: it sends nothing more;
3. client -> server  ``HMAC(key, "client" | Nc | Ns)``: the client proves it, over the server's nonce;
4. server -> client  ``ACCEPTED``; requests may follow.

Each side's proof covers the other side's fresh nonce, so a recorded handshake proves nothing on a new connection (the
server's nonce differs, and so does the proof it expects), and the role labels keep one side's proof from being
reflected as the other's (as ``multiprocessing.connection``'s deliver_challenge/answer_challenge, in both directions).
On a network beyond loopback this runs inside TLS (``tls``), which also keeps a connection from being taken over after
its handshake. This module is pure: the sockets, limits and timeouts are ``server``'s and ``client``'s.
"""
from __future__ import annotations

import hashlib
import hmac
import os

PROTOCOL = b"rayarb-channel/1"
MAGIC = b"RXC1"
NONCE_BYTES = 32
MAC_BYTES = hashlib.sha256().digest_size
HELLO_BYTES = len(MAGIC) + NONCE_BYTES
CHALLENGE_BYTES = NONCE_BYTES + MAC_BYTES
ACCEPTED = b"ok"
MAX_HANDSHAKE_FRAME_BYTES = 128  # what an unauthenticated peer can make us buffer


def _proof(key: bytes, role: bytes, client_nonce: bytes, server_nonce: bytes) -> bytes:
    return hmac.new(key, PROTOCOL + b"|" + role + b"|" + client_nonce + server_nonce, hashlib.sha256).digest()


def key_of(token: str) -> bytes:
    if not token:
        raise ValueError("a channel needs a non-empty token")
    return token.encode()


class ClientHandshake:
    """The calling side: ``hello`` to send first, then ``answer`` to the server's challenge."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._nonce = os.urandom(NONCE_BYTES)

    def hello(self) -> bytes:
        return MAGIC + self._nonce

    def answer(self, challenge: bytes) -> bytes | None:
        """The client's proof, or None when the server did not prove it knows the key."""
        if len(challenge) != CHALLENGE_BYTES:
            return None
        server_nonce, server_proof = challenge[:NONCE_BYTES], challenge[NONCE_BYTES:]
        expected = _proof(self._key, b"server", self._nonce, server_nonce)
        if not hmac.compare_digest(server_proof, expected):
            return None
        return _proof(self._key, b"client", self._nonce, server_nonce)


class ServerHandshake:
    """The serving side: ``challenge`` answers a hello, ``verify`` checks the client's proof."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._nonce = os.urandom(NONCE_BYTES)
        self._expected: bytes | None = None

    def challenge(self, hello: bytes) -> bytes | None:
        """The server's nonce and proof, or None for a hello that is not this protocol's."""
        if len(hello) != HELLO_BYTES or not hello.startswith(MAGIC) or self._expected is not None:
            return None
        client_nonce = hello[len(MAGIC):]
        self._expected = _proof(self._key, b"client", client_nonce, self._nonce)
        return self._nonce + _proof(self._key, b"server", client_nonce, self._nonce)

    def verify(self, proof: bytes) -> bool:
        return self._expected is not None and hmac.compare_digest(proof, self._expected)
