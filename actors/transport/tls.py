"""TLS for channels that listen beyond loopback: a certificate made for the run, or one the config names.

``new_tls_material`` makes a self-signed EC (P-256) certificate and its key; the driver puts both in the run's
``ChannelSettings`` (as it does the token: never in a repr or a log), so every actor serves with that certificate and
every caller accepts exactly that certificate (the chain is checked against it as the only trust anchor, then the
peer's certificate is compared byte for byte). A certificate the operator provides (``load_tls_material``) is used the
same way. Loopback stays plain TCP: nothing but this machine can reach it, and a message costs less without TLS.
Each connection runs its own ``TlsSession`` (TLS 1.3 over memory buffers) so that it writes the ciphertext itself, at
once (``connection``).
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile

SERVER_NAME = "rayarb-channel"  # the name in the run's certificate; the peer is identified by the certificate itself


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def new_tls_material(valid_days: int = 365) -> tuple[bytes, bytes]:
    """(certificate, private key), both PEM: a self-signed P-256 certificate for this run's channels."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (certificate.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def load_tls_material(certificate_path: str, key_path: str) -> tuple[bytes, bytes]:
    """(certificate, private key) from the PEM files the config names (the hook for an operator's own certificate)."""
    with open(certificate_path, "rb") as certificate, open(key_path, "rb") as key:
        material = certificate.read(), key.read()
    server_context(*material)  # a pair that does not load fails here, at the driver, not in every actor
    return material


def server_context(certificate: bytes, key: bytes) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    # The ssl module loads a key only from a file: one readable by this user alone, removed at once.
    directory = tempfile.mkdtemp(prefix="rayarb-tls-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        path = os.path.join(directory, "channel.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(certificate + b"\n" + key)
        context.load_cert_chain(path)
    finally:
        for entry in os.listdir(directory):
            os.unlink(os.path.join(directory, entry))
        os.rmdir(directory)
    return context


def client_context(certificate: bytes) -> ssl.SSLContext:
    """Trusts ``certificate`` alone; ``check_peer`` then requires the peer to present exactly it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # one certificate for every node of the run: it is pinned instead
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # the certificate itself is the anchor, CA-signed or not
    context.load_verify_locations(cadata=certificate.decode("ascii"))
    return context


def certificate_der(certificate: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(certificate.decode("ascii"))


class TlsSession:
    """TLS over memory buffers, for a connection that encrypts and decrypts in its own callbacks and writes the
    ciphertext to the socket itself, at once, as it does plain TCP (asyncio's TLS transport on uvloop would leave
    every write to the end of the loop's turn: ~0.3 ms per hop in the tick-to-order benchmark)."""

    def __init__(self, context: ssl.SSLContext, *, server_side: bool) -> None:
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=server_side,
                                     server_hostname=None if server_side else SERVER_NAME)
        self.established = False
        self.closed_by_peer = False  # the peer ended TLS (close_notify)

    def begin(self) -> bytes:
        """What to send first: the client's hello (nothing for a server)."""
        self._advance()
        return self._outgoing.read()

    def _advance(self) -> None:
        if not self.established:
            try:
                self._ssl.do_handshake()
            except ssl.SSLWantReadError:
                return
            self.established = True

    def receive(self, data: bytes) -> tuple[bytes, bytes]:
        """(the plaintext in ``data``, the bytes to send back); ``ssl.SSLError`` when the peer breaks TLS or presents
        a certificate that does not verify (``pending`` then holds the alert to send before closing)."""
        self._incoming.write(data)
        self._advance()
        chunks = []
        while self.established:
            try:
                chunk = self._ssl.read(1 << 20)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed_by_peer = True
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks), self._outgoing.read()

    def pending(self) -> bytes:
        return self._outgoing.read()

    def encrypt(self, data: bytes | bytearray) -> bytes:
        self._ssl.write(data)
        return self._outgoing.read()

    def peer_certificate(self) -> bytes | None:
        return self._ssl.getpeercert(binary_form=True)
