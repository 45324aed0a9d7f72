"""Turning a submitted HTML form into a schema, with each refusal a Chinese message next
to the field it concerns. Shared by every capability's pages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

Struct = TypeVar("Struct", bound=msgspec.Struct)
_ERROR_FIELD = re.compile(r"`\$\.(\w+)|field `(\w+)`")


class FormInvalid(Exception):
    """The form cannot become a schema: field name -> Chinese message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class FieldRule:
    form_name: str
    message: str


def text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name, "")
    return value if isinstance(value, str) else ""


def require(values: Mapping[str, Any], required: Mapping[str, str]) -> None:
    """Refuse with "请填写…" for each empty required field (form name -> label)."""
    missing = {n: f"请填写{label}。" for n, label in required.items() if not text(values, n)}
    if missing:
        raise FormInvalid(missing)


def build(kind: type[Struct], data: dict[str, Any], rules: Mapping[str, FieldRule]) -> Struct:
    """msgspec does the checking; its first complaint becomes a Chinese field error."""
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as bad:
        found = _ERROR_FIELD.search(str(bad))
        name = next((g for g in found.groups() if g), "") if found else ""
        rule = rules.get(name, FieldRule("", "提交的内容格式不正确。"))
        raise FormInvalid({rule.form_name: rule.message}) from bad


def date_field(values: Mapping[str, Any], name: str, label: str) -> dt.date:
    value = text(values, name)
    if not value:
        raise FormInvalid({name: f"请填写{label}。"})
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FormInvalid({name: f"{label}格式不正确，应为 2026-01-05 这样的日期。"}) from None


def int_field(values: Mapping[str, Any], name: str, message: str) -> int:
    try:
        return int(text(values, name))
    except ValueError:
        raise FormInvalid({name: message}) from None
