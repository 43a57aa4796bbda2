"""Test material for signing certificates and SSH keys, generated with ``cryptography``
(RSA keys are cached: generating one costs tens of milliseconds)."""

from __future__ import annotations

import datetime as dt
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID


def rsa_key(index: int = 0, bits: int = 2048) -> rsa.RSAPrivateKey:
    return _rsa_key(index, bits)


@functools.cache
def _rsa_key(index: int, bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def certificate_pem(
    index: int = 0,
    *,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> str:
    """A self-signed certificate (valid 2020–2040 unless told otherwise)."""
    key = rsa_key(index)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"tessera-test-{index}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1000 + index)
        .not_valid_before(not_before or dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(not_after or dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def ssh_rsa(index: int = 0, bits: int = 2048, comment: str = "tester@example") -> str:
    text = rsa_key(index, bits).public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")
    return f"{text} {comment}"


def pem_public(index: int = 0) -> str:
    return rsa_key(index).public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def ssh_ecdsa() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")


def private_key_pem(index: int = 0) -> str:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    return rsa_key(index).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode("ascii")
