"""What a ledger entry is, as bytes: pure rules, no database.

A leaf is the RFC 8785 canonical JSON of the whole entry — its log, `seq`, time, actor,
action, subject and payload. Payloads carry identifiers and changed fields only, so every
action declares its payload fields in `ACTIONS`; `docs/ledger-actions.md` lists the same
table and a test keeps the two in step.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

from app.core.clock import rfc3339

ADMIN_LEDGER_NAME = "admin"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str
    subject: str
    summary: str
    fields: Mapping[str, str]


#: Every action a ledger may record: name -> spec. Capabilities declare theirs with
#: `ledger_action` at import time.
ACTIONS: dict[str, ActionSpec] = {}


_NAME = re.compile(r"^[a-z][a-z_]*$")


def ledger_action(name: str, subject: str, summary: str, /, **fields: str) -> str:
    """Declare an action and its payload fields (field name -> meaning)."""
    bad = [f for f in fields if not _NAME.match(f)]
    if bad:
        raise ValueError(f"ledger payload field names must be lowercase identifiers: {bad}")
    if name in ACTIONS and ACTIONS[name] != ActionSpec(name, subject, summary, fields):
        raise ValueError(f"ledger action {name} declared twice with different contracts")
    ACTIONS[name] = ActionSpec(name, subject, summary, dict(fields))
    return name


class EntryRejected(ValueError):
    """The entry breaks the ledger's contract: a programming error, never user input."""


@dataclass(frozen=True, slots=True)
class Entry:
    log: str
    seq: int
    recorded_at: dt.datetime
    actor: Mapping[str, Any]
    action: str
    subject_type: str
    subject_id: str
    payload: Mapping[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "log": self.log,
            "seq": self.seq,
            "recorded_at": rfc3339(self.recorded_at),
            "actor": dict(self.actor),
            "action": self.action,
            "subject": {"type": self.subject_type, "id": self.subject_id},
            "payload": dict(self.payload),
        }

    def leaf(self) -> bytes:
        return canonical(self.as_json())


_SEQ_MARK = b',"seq":0,"subject":{"id":'
_LOG_MARK = b'},"log":"","payload":{'


def leaf_splices(entry: Entry) -> tuple[bytes, bytes, bytes]:
    """The leaf cut around its origin and its `seq`: for any origin and seq,
    leaf == head + json(origin) + middle + str(seq) + tail.

    RFC 8785 sorts keys: the top-level `log` comes right after the `actor` object and
    right before `payload`, and `seq` right after `recorded_at` and before `subject`,
    whose object closes the leaf. A mark with unescaped quotes cannot occur inside a
    string, so the first log mark and the last seq mark are the top-level ones. The
    database splices in the ledger's origin and the next seq under the ledger's lock.
    """
    bare = Entry(
        "",
        0,
        entry.recorded_at,
        entry.actor,
        entry.action,
        entry.subject_type,
        entry.subject_id,
        entry.payload,
    ).leaf()
    log = bare.index(_LOG_MARK) + len(b'},"log":')
    seq = bare.rindex(_SEQ_MARK) + len(b',"seq":')
    return bare[:log], bare[log + 2 : seq], bare[seq + 1 :]


def json_string(text: str) -> bytes:
    """A string as RFC 8785 writes it (and PostgreSQL's `to_json(text)`)."""
    return canonical({"": text})[4:-1]


#: RFC 8785 writes numbers as IEEE doubles: integers beyond this are not exact there.
_SAFE_INTEGER = 2**53 - 1


def canonical(value: Mapping[str, Any]) -> bytes:
    """The RFC 8785 bytes of `value`, fast where that is provably Python's JSON.

    For strings without lone surrogates, integers within ±(2**53 - 1), booleans, null,
    lists and objects with ASCII keys, RFC 8785 is Python's sorted, compact,
    non-ASCII-preserving JSON (see `encodes_to`); that is four times quicker than the
    `rfc8785` package, which every entry used to go through. Anything else — a float, a
    large integer, a non-ASCII key, a lone surrogate — is left to `rfc8785` itself.
    """
    if _plain(value):
        try:
            return json.dumps(
                value, ensure_ascii=False, separators=(",", ":"), sort_keys=True
            ).encode()
        except UnicodeEncodeError:  # a lone surrogate
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INTEGER <= value <= _SAFE_INTEGER
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and k.isascii() and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    return False


def encodes_to(value: Mapping[str, Any], leaf: bytes) -> bool:
    """Whether RFC 8785 encodes `value` to exactly `leaf`, fast.

    For what entries may hold — strings, integers, booleans, null, lists and objects whose
    keys are ASCII (check_entry enforces it) — RFC 8785 is Python's sorted, compact,
    non-ASCII-preserving JSON: the same escapes, and code-point order equals UTF-16 order
    on ASCII keys. Equal bytes settle it; anything else is decided by rfc8785 itself.
    """
    try:
        fast = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        ).encode()
    except (TypeError, ValueError, UnicodeEncodeError):
        fast = b""
    if fast == leaf:
        return True
    try:
        return bool(rfc8785.dumps(value) == leaf)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return False


def origin_of(deployment: str, name: str) -> str:
    return f"{deployment}/{name}"


def staff_actor(account_id: int, role: str, person_id: int | None) -> dict[str, Any]:
    return {"kind": "staff", "account": account_id, "role": role, "person": person_id}


def citizen_actor(ref: str) -> dict[str, Any]:
    """`ref` is the keyed hash of the citizen's mobile number, never the number."""
    return {"kind": "citizen", "ref": ref}


def system_actor(job: str) -> dict[str, Any]:
    return {"kind": "system", "job": job}


def check_entry(action: str, subject_type: str, payload: Mapping[str, Any]) -> None:
    """Refuse an undeclared action, a wrong subject, an undeclared field or a float."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise EntryRejected(f"undeclared ledger action {action!r}")
    if spec.subject != subject_type:
        raise EntryRejected(f"{action} records a {spec.subject}, not a {subject_type}")
    unknown = sorted(set(payload) - set(spec.fields))
    if unknown:
        raise EntryRejected(f"{action} does not declare payload fields {unknown}")
    _no_floats(payload, action)


def _no_floats(value: Any, action: str) -> None:
    if isinstance(value, float):
        raise EntryRejected(f"{action}: floats are not allowed in ledger payloads")
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) and k.isascii() for k in value):
            raise EntryRejected(f"{action}: payload object keys must be ASCII strings")
        for item in value.values():
            _no_floats(item, action)
    elif isinstance(value, list | tuple):
        for item in value:
            _no_floats(item, action)
