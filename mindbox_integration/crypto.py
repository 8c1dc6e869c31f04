"""Secrets at rest. Mindbox secret keys are encrypted with Fernet under FIELD_ENCRYPTION_KEY
(several keys, newest first: MultiFernet decrypts with any, encrypts with the first). Inbound
tokens are never stored: only their SHA-256, which is enough to recognise a token of 32 random
bytes and useless to anyone who reads the database."""

import hashlib
import secrets
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

TOKEN_BYTES = 32


class KeyUnavailable(Exception):
    """The stored value was encrypted with a key FIELD_ENCRYPTION_KEY no longer lists."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    return _current().encrypt(plain.encode()).decode() if plain else ""


def decrypt(stored: str) -> str:
    if not stored:
        return ""
    try:
        return _current().decrypt(stored.encode()).decode()
    except InvalidToken as exc:
        raise KeyUnavailable(
            "the secret key cannot be decrypted: FIELD_ENCRYPTION_KEY does not list the key it was encrypted with"
        ) from exc


def reencrypt(stored: str) -> str:
    """The same secret under the newest key (for key rotation)."""
    return _current().rotate(stored.encode()).decode() if stored else ""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """What the admin shows of a token once it is no longer shown whole."""
    return f"{token[:4]}…"
