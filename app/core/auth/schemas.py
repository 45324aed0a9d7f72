from __future__ import annotations

from typing import Annotated

import msgspec

Username = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Username
    password: Password


class TokenResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int


class GrantOut(msgspec.Struct):
    role: str
    scope_unit_id: int | None
    scope_name: str


class MeOut(msgspec.Struct):
    account_id: int
    username: str
    display_name: str
    person_id: int | None
    grants: list[GrantOut]
