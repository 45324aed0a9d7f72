"""Bearer tokens for the API: `v1.<account>.<issued>.<expires>.<mac>`, HMAC-SHA256 signed.

Stateless to check, yet revocable: an account's `sessions_valid_after` refuses every
token issued before it, and a disabled account's token carries no role at all (it reaches
only `own_records()` routes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenClaims:
    account_id: int
    issued_at: int
    expires_at: int


def _mac(key: bytes, body: str) -> str:
    digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(key: bytes, account_id: int, issued_at: int, ttl_seconds: int) -> str:
    body = f"v1.{account_id}.{issued_at}.{issued_at + ttl_seconds}"
    return f"{body}.{_mac(key, body)}"


def read(key: bytes, token: str, now: int) -> TokenClaims | None:
    """The claims of a genuine, unexpired token; None for anything else."""
    parts = token.split(".")
    if len(parts) != 5 or parts[0] != "v1":
        return None
    body, mac = ".".join(parts[:4]), parts[4]
    if not hmac.compare_digest(_mac(key, body), mac):
        return None
    try:
        claims = TokenClaims(int(parts[1]), int(parts[2]), int(parts[3]))
    except ValueError:
        return None
    return claims if claims.expires_at > now else None
