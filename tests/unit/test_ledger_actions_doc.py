"""docs/ledger-actions.md is the contract auditors replay against; it must match the code."""

from __future__ import annotations

import re
from pathlib import Path

import app.asgi  # noqa: F401  (imports every capability, which declares its actions)
from app.ledger.rules import ACTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "ledger-actions.md"
ROW = re.compile(r"^\| `([a-z_.]+)` \| `([a-z_]+)` \| (.*?) \| .* \|$", re.M)


def documented() -> dict[str, tuple[str, set[str]]]:
    return {
        action: (subject, set(re.findall(r"`([a-z_]+)`:", fields)))
        for action, subject, fields in ROW.findall(DOC.read_text(encoding="utf-8"))
    }


def test_every_action_is_documented_with_its_subject_and_payload_fields() -> None:
    in_code = {name: (s.subject, set(s.fields)) for name, s in ACTIONS.items()}
    assert documented() == in_code
