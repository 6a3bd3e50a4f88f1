"""Encryption at rest of secrets the server must use in clear later (protocol passwords, remote tokens).

The key comes from ``SCROBBLER_SECRET_KEY``; without it, a random key is created once in
``<data dir>/secret.key`` (mode 0600). Every process of one deployment needs the same key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from scrobbler.settings import Settings

__all__ = ["SecretBox", "secret_box"]


@dataclass(frozen=True)
class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) keyed by a SHA-256 of the server secret."""

    fernet: Fernet

    @classmethod
    def from_material(cls, material: str) -> SecretBox:
        key = base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest())
        return cls(Fernet(key))

    def encrypt(self, plain: str) -> str:
        return self.fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The clear text; raises ValueError when the key does not match."""
        try:
            return self.fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this server's SCROBBLER_SECRET_KEY") from exc


def secret_box(settings: Settings) -> SecretBox:
    """The deployment's box: from the configured secret, else the data dir's key file (created once)."""
    if settings.secret_key:
        return SecretBox.from_material(settings.secret_key)
    path = settings.data_dir / "secret.key"
    try:
        material = path.read_text().strip()
    except FileNotFoundError:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        material = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(material + "\n")
    return SecretBox.from_material(material)
