"""Digest signing: CloudTrail's string-to-sign, signed with RSA (SHA256withRSA) or Ed25519.

The string-to-sign is exactly the one ``aws cloudtrail validate-logs`` rebuilds::

    {digestEndTime}\\n{digestS3Bucket}/{digestS3Object}\\n{sha256_hex(uncompressed digest)}\\n
    {previousDigestSignature or "null"}

RSA signs it with PKCS#1 v1.5 over SHA-256; Ed25519 signs the bytes directly. The algorithm set
is an explicit allow-list and the verifier insists the algorithm matches the key type, so a digest
can never choose how it is checked. The private key must live outside the log directory (the
writer refuses otherwise); only the public key travels with the logs' verifier.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

__all__ = [
    "ALGORITHMS",
    "PublicKey",
    "Signer",
    "fingerprint",
    "generate_signing_key",
    "load_public_key",
    "string_to_sign",
    "verify_signature",
]

ALGORITHMS = ("Ed25519", "SHA256withRSA")
PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


def string_to_sign(end_time: str, bucket: str, key: str, digest_sha256_hex: str,
                   previous_signature: str | None) -> bytes:
    return (
        f"{end_time}\n{bucket}/{key}\n{digest_sha256_hex}\n{previous_signature or 'null'}"
    ).encode()


def fingerprint(key: PublicKey) -> str:
    """Hex SHA-256 of the DER SubjectPublicKeyInfo: names the key inside each digest."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _algorithm_of(key: PublicKey) -> str:
    return "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "SHA256withRSA"


class Signer:
    """Holds the private key; its repr never shows key material."""

    __slots__ = ("_key", "algorithm", "fingerprint", "public_key")

    def __init__(self, private_key: PrivateKey) -> None:
        if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < 2048:
            raise ValueError("RSA audit keys must be at least 2048 bits")
        self._key = private_key
        self.public_key: PublicKey = private_key.public_key()
        self.algorithm = _algorithm_of(self.public_key)
        self.fingerprint = fingerprint(self.public_key)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Signer:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
            raise ValueError("audit signing key must be RSA or Ed25519")
        return cls(key)

    def sign(self, message: bytes) -> str:
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(message).hex()
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()

    def public_pem(self) -> bytes:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)

    def __repr__(self) -> str:
        return f"Signer(algorithm={self.algorithm!r}, fingerprint={self.fingerprint[:16]!r})"


def verify_signature(key: PublicKey, algorithm: str, message: bytes, signature_hex: str) -> bool:
    """True only when ``algorithm`` is allowed, matches the key type and the signature holds."""
    if algorithm not in ALGORITHMS or algorithm != _algorithm_of(key):
        return False
    try:
        sig = bytes.fromhex(signature_hex)
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(sig, message)
        else:
            key.verify(sig, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_public_key(data: bytes) -> PublicKey:
    """Load a PEM (SubjectPublicKeyInfo or PKCS#1) or DER public key."""
    key = (serialization.load_pem_public_key(data) if data.lstrip().startswith(b"-----")
           else serialization.load_der_public_key(data))
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise ValueError("audit public key must be RSA or Ed25519")
    return key


def generate_signing_key(key_dir: str | os.PathLike[str], algorithm: str = "Ed25519",
                         ) -> tuple[Path, Path]:
    """Create ``audit-private.pem`` (mode 0600) and ``audit-public.pem`` in ``key_dir``."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown audit signing algorithm {algorithm!r}; use one of {ALGORITHMS}")
    private: PrivateKey = (ed25519.Ed25519PrivateKey.generate() if algorithm == "Ed25519"
                           else rsa.generate_private_key(public_exponent=65537, key_size=2048))
    d = Path(key_dir)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv_path, pub_path = d / "audit-private.pem", d / "audit-public.pem"
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    pub_path.write_bytes(Signer(private).public_pem())
    return priv_path, pub_path
