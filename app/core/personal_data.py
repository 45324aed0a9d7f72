"""Personal numbers (identity documents, mobile numbers) at rest: sealed with AES-GCM under a
key derived from the `data` key of `jiefang keys init`, matched by keyed hashes that reveal
nothing without the key. Bookings and cases keep their petitioners' numbers this way."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.core.keys import KeyRing


class Secrets:
    """Encryption and keyed hashes for personal numbers, from the `data` key."""

    def __init__(self, keys: KeyRing) -> None:
        self._aead = AESGCM(keys.derive("data", "personal-numbers"))
        self._hash_key = keys.derive("data", "personal-number-hash")
        #: Signs citizen tokens (proof of a verified mobile number).
        self.token_key = keys.derive("session", "citizen-token")

    def seal(self, value: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, value.encode(), None)

    def open(self, sealed: bytes) -> str:
        return self._aead.decrypt(sealed[:12], sealed[12:], None).decode()

    def ref(self, kind: str, value: str) -> str:
        """A keyed hash: matches the same number again, reveals nothing without the key."""
        return hmac.new(self._hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()
