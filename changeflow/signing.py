"""Ed25519 keys for everything changeflow signs: governance bundles (a governance maintainer's key),
record versions and one-time-code attestations (an executor's key), decisions (an approver's key).

A public key travels as base64 of its 32 raw bytes; its ``key_id`` (16 hex digits of its SHA-256) is
what a record names. Private keys are PKCS#8 PEM files written mode 0600.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from changeflow.exceptions import InvalidSettings


def write_private(path: Path, data: str | bytes) -> None:
    """Write a secret readable by its owner only (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.chmod(path, 0o600)


def public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(public_key: str) -> str:
    return hashlib.sha256(public_key.strip().encode()).hexdigest()[:16]


def generate_key(path: Path) -> str:
    """A new private key written to ``path`` (0600); returns its public key (base64)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem)
    return public_text(key)


class PrivateKey:
    """A loaded private key: ``sign`` returns base64; ``public`` and ``key_id`` name it."""

    def __init__(self, key: Ed25519PrivateKey, source: str = "") -> None:
        self._key, self.source = key, source
        self.public = public_text(key)
        self.key_id = key_id(self.public)

    @classmethod
    def load(cls, path: Path, field: str = "--key") -> PrivateKey:
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidSettings(
                str(path),
                field,
                f"is not a readable Ed25519 private key ({exc.__class__.__name__})",
                "create one with `changeflow governance keygen` (or `changeflow approvers enrol`)",
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidSettings(
                str(path), field, "is not an Ed25519 key", "create one with `changeflow governance keygen`"
            )
        return cls(key, str(path))

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()


def verify(public_key: str, message: bytes, signature: str) -> bool:
    """True only for a valid signature of ``message`` by ``public_key``; any malformed input is False."""
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True)).verify(
            base64.b64decode(signature, validate=True), message
        )
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def valid_public_key(text: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        return False
    return True
