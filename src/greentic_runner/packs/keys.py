"""Ed25519 keys and certificates for pack signatures (pack-formats §1.5).

* :func:`generate_key` / :func:`private_key_pem` / :func:`load_private_key`: PKCS#8 PEM
  private keys, the format ``packc sign`` and ``pack build --sign`` take.
* :func:`self_signed_certificate`: the certificate written as ``signatures/chain.pem``.
  With the default common name ``greentic-dev-local`` it is the *dev* certificate the dev
  policy accepts and the strict policy rejects. Validity 1975-01-01 .. 4096-01-01 and the
  serial derived from the key (as in the signed upstream fixture) keep it reproducible.
* :func:`parse_public_key`: a pinned key as given to ``--public-key`` / ``PACK_PUBLIC_KEY``:
  ``ed25519:<base64 of the 32 raw bytes>`` (the reference env format), PEM text of a public
  key or certificate, or the path of such a PEM file.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from pathlib import Path

import blake3
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import NameOID

from ..errors import PackError

DEV_COMMON_NAME = "greentic-dev-local"
_NOT_BEFORE = dt.datetime(1975, 1, 1, tzinfo=dt.UTC)
_NOT_AFTER = dt.datetime(4096, 1, 1, tzinfo=dt.UTC)


def generate_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """BLAKE3 hex of the raw public key (``key_fingerprint`` of pack.sig)."""
    return blake3.blake3(raw_public_key(key)).hexdigest()


def env_public_key(key: Ed25519PublicKey) -> str:
    """The ``PACK_PUBLIC_KEY`` form: ``ed25519:<base64>``."""
    return "ed25519:" + base64.b64encode(raw_public_key(key)).decode("ascii")


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a PKCS#8 PEM Ed25519 private key; PackError names the file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackError(f"failed to read signing key {path}: {exc.strerror or exc}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise PackError(f"signing key {path} is not a PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise PackError(f"signing key {path} is not an Ed25519 key")
    return key


def self_signed_certificate(
    key: Ed25519PrivateKey, common_name: str = DEV_COMMON_NAME
) -> x509.Certificate:
    """A self-signed certificate for ``key`` (subject == issuer == CN=common_name)."""
    public = key.public_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    serial = int.from_bytes(hashlib.sha256(raw_public_key(public)).digest()[:20], "big")
    serial = (serial & ((1 << 159) - 1)) or 1  # positive and at most 20 bytes
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .sign(key, None)
    )


def certificate_pem(cert: x509.Certificate) -> bytes:
    """PEM encoding of one certificate."""
    return cert.public_bytes(serialization.Encoding.PEM)


def parse_certificate_chain(data: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM chain; PackError when empty or malformed."""
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        if b"-----BEGIN" not in data:
            raise PackError(f"certificate chain {what} is empty") from exc
        raise PackError(f"certificate chain {what} is invalid: {exc}") from exc
    if not certs:
        raise PackError(f"certificate chain {what} is empty")
    return certs


def certificate_key(cert: x509.Certificate, what: str) -> Ed25519PublicKey:
    """The certificate's Ed25519 public key."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PackError(f"certificate in {what} has an unreadable public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PackError(f"certificate in {what} does not hold an Ed25519 public key")
    return key


def common_name(cert: x509.Certificate) -> str | None:
    """The subject's first CN, if any."""
    values = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = values[0].value if values else None
    return value if isinstance(value, str) else None


def is_dev_certificate(cert: x509.Certificate) -> bool:
    """CN ``greentic-dev-local`` and self-issued (subject == issuer), as the reference."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return any(n.value == DEV_COMMON_NAME for n in names) and cert.subject == cert.issuer


def parse_public_key(value: str) -> Ed25519PublicKey:
    """A pinned public key from ``ed25519:<b64>``, PEM text, or a PEM file path."""
    text = value.strip()
    if text.lower().startswith("ed25519:"):
        return _from_env_form(text.split(":", 1)[1].strip())
    if ":" in text.split("\n", 1)[0] and not text.startswith("-----") and not Path(text).exists():
        algorithm = text.split(":", 1)[0]
        raise PackError(f"unsupported public key algorithm `{algorithm}`")
    if "-----BEGIN" in text:
        return _from_pem(text.encode(), "the given public key")
    path = Path(text)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PackError(
            f"public key {text!r} is neither `ed25519:<base64>`, PEM text, nor a readable "
            f"file ({exc.strerror or exc})"
        ) from exc
    return _from_pem(data, str(path))


def _from_env_form(encoded: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PackError("PACK_PUBLIC_KEY is not valid base64") from exc
    if len(raw) != 32:
        raise PackError("PACK_PUBLIC_KEY must be 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _from_pem(data: bytes, what: str) -> Ed25519PublicKey:
    if b"CERTIFICATE" in data:
        return certificate_key(parse_certificate_chain(data, what)[0], what)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PackError(f"{what} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise PackError(f"{what} is not an Ed25519 public key")
    return key
