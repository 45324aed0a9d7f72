"""The departure handover API's input and output (msgspec Structs).

Opening and the departing official's notes take the services' own Structs
(`services.HandoverIn`, `services.NotesIn`, `services.ReceiverIn`); the rest is here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from app.handover.dossier import Dossier

Secret = Annotated[str, msgspec.Meta(max_length=256)]
Sha256 = Annotated[str, msgspec.Meta(max_length=64)]
Remark = Annotated[str, msgspec.Meta(max_length=2000)]


# ---------------------------------------------------------------- input


class SignBody(msgspec.Struct, forbid_unknown_fields=True):
    """A signature: the account password again (each signer signs in anew), the signing
    PIN, and the SHA-256 of the document the signer was shown. The office names who held
    the cases in between when the effective date has passed."""

    password: Secret
    pin: Secret
    seen_sha256: Sha256
    between_person_id: int | None = None


class EnrolBody(msgspec.Struct, forbid_unknown_fields=True):
    """Set (or replace) the signing PIN, with the account password re-entered."""

    password: Secret
    pin: Secret


class PostMarkBody(msgspec.Struct, forbid_unknown_fields=True):
    required: bool


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    """A checkpoint the reviewer saved earlier (its text); empty: the one on the PDF."""

    checkpoint: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class ReviewBody(msgspec.Struct, forbid_unknown_fields=True):
    """ "已审阅" with a remark; `role` only for an account with several reviewer roles."""

    remark: Remark = ""
    role: Literal["reviewer_discipline", "reviewer_organisation", "reviewer_petition"] | None = None


# ---------------------------------------------------------------- output


class PartyOut(msgspec.Struct, kw_only=True):
    person_id: int
    name: str
    tenure_id: int
    post: str


class SignatureOut(msgspec.Struct, kw_only=True):
    step: str
    step_label: str
    person_id: int
    name: str
    signed_at: dt.datetime
    before_sha256: str
    after_sha256: str


class HandoverBrief(msgspec.Struct, kw_only=True):
    id: int
    status: str
    status_label: str
    departing: PartyOut
    receiving: PartyOut
    interim: bool
    reason: str
    effective_date: dt.date
    opened_at: dt.datetime
    archived_at: dt.datetime | None


class HandoverOut(HandoverBrief, kw_only=True):
    """One handover: who signs next, the signatures so far, the document's hashes and the
    checkpoint it is anchored to, and the dossier (the frozen one once the 交接书 exists,
    otherwise as it would be rendered now)."""

    awaited_step: str | None
    signatures: list[SignatureOut]
    dossier_frozen: bool
    dossier: Dossier
    dossier_sha256: str | None
    pdf_sha256: str | None
    unsigned_sha256: str | None
    checkpoint_size: int | None
    checkpoint_root: str | None
    between_person_id: int | None
    moved_cases: int | None


class CheckOut(msgspec.Struct, kw_only=True):
    """One check of a verification: `pending` when it passed as far as it goes but some
    entries are not yet covered by a signed checkpoint."""

    key: str
    label: str
    ok: bool
    detail: str
    pending: bool = False


class VerdictOut(msgspec.Struct, kw_only=True):
    """`ok`: every check passed; `complete`: and no entry waits for a later checkpoint."""

    ok: bool
    complete: bool
    summary: str
    saved_checkpoint: bool
    checks: list[CheckOut]


class ReviewOut(msgspec.Struct, kw_only=True):
    id: int
    role: str
    reviewer_name: str
    remark: str
    verified_ok: bool | None
    reviewed_at: dt.datetime


class SigningKeyOut(msgspec.Struct, kw_only=True):
    enrolled: bool
    serial: str | None = None
    created_at: dt.datetime | None = None


class PostMarkOut(msgspec.Struct, kw_only=True):
    post_id: int
    required: bool
