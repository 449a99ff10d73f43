"""How a venue's keys reach the one process that signs with them, and no other.

The keys never travel in an actor's constructor arguments (Ray keeps those to restart the actor, and the supervisor,
which creates the actors, would hold every venue's keys), nor in any process's environment. Instead each exchange
actor process makes a fresh X25519 key pair when it starts and asks for its venue's keys with the public half; the
driver of the run (``orchestration.credentials.CredentialCourier``), which read them from its environment, seals them
to that public key (libsodium's sealed box, PyNaCl) and hands the sealed bytes over. Only the process holding the
private half can open them: Ray's GCS, the supervisor and the network between nodes see ciphertext for this one
process. A restarted exchange actor is a new process with a new key pair and asks again.
"""
from __future__ import annotations

import asyncio
import json

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from execution.types import Credentials


class CredentialsRefused(Exception):
    """Sealed credentials that this process cannot open or that are not a key and a secret."""


def seal(public_key: bytes, credentials: Credentials) -> bytes:
    """``credentials`` sealed so that only the holder of ``public_key``'s private half can read them."""
    plain = json.dumps({"api_key": credentials.api_key, "secret": credentials.secret,
                        "passphrase": credentials.passphrase}).encode()
    return SealedBox(PublicKey(public_key)).encrypt(plain)


class CredentialsInbox:
    """The exchange actor's side: a key pair for this process, and the credentials once they have arrived."""

    def __init__(self) -> None:
        self._private = PrivateKey.generate()
        self.public_key = bytes(self._private.public_key)
        self._arrived = asyncio.Event()
        self._credentials: Credentials | None = None

    @property
    def credentials(self) -> Credentials | None:
        return self._credentials

    def open(self, sealed: bytes) -> Credentials:
        """Open sealed credentials; ``CredentialsRefused`` (saying nothing of the content) when they are not ours."""
        try:
            fields = json.loads(SealedBox(self._private).decrypt(bytes(sealed)))
            passphrase = fields.get("passphrase")
            credentials = Credentials(str(fields["api_key"]), str(fields["secret"]),
                                      None if passphrase is None else str(passphrase))
        except (CryptoError, ValueError, KeyError, TypeError):
            raise CredentialsRefused("sealed credentials could not be opened by this process") from None
        if not credentials.api_key or not credentials.secret:
            raise CredentialsRefused("sealed credentials hold an empty key or secret")
        self._credentials = credentials
        self._arrived.set()
        return credentials

    async def wait(self, timeout_s: float) -> Credentials:
        """The credentials, once delivered; ``TimeoutError`` after ``timeout_s``."""
        async with asyncio.timeout(timeout_s):
            await self._arrived.wait()
        assert self._credentials is not None
        return self._credentials
