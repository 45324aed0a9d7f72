"""Identity documents a petitioner (or an organisation) books a meeting with.

What each number looks like, checked before anything is stored:

- 居民身份证 — GB 11643-1999 公民身份号码: a 6-digit address code (first digit 1–8), the
  birth date YYYYMMDD, a 3-digit sequence code and a check character: the 17 digits weighted
  by 2^(17-i) mod 11 (i counted from 0), the sum mod 11 indexing "10X98765432".
- 港澳居民居住证 / 台湾居民居住证 — the same 18-character layout and check character, with
  the address code 810000 (香港), 820000 (澳门) or 830000 (台湾).
- 外国人永久居留身份证 — the 2017 card: 18 digits starting with 9, birth date in the same place
  and the same GB 11643 check character; the 2004 card: 3 letters (nationality) and 12 digits,
  whose shape alone is checked here.
- 港澳居民来往内地通行证 — H (香港) or M (澳门) and 8 or 10 digits.
- 台湾居民来往大陆通行证 — 8 digits.
- 护照 — 5 to 20 letters or digits: foreign passports differ too much for more.
- 统一社会信用代码 — GB 32100-2015: 18 characters from 0–9 and the capital letters without
  I, O, S, V and Z; characters 3–8 are the registering authority's region code; the 18th is
  a check character: the first 17 weighted by 3^i mod 31, the check being
  (31 - sum mod 31) mod 31 in the same alphabet.

Birth dates must be real dates, not before 1900-01-01 and not after ``today``, which the
caller passes in. Messages are Chinese and say exactly what is wrong.

Pure: no database, no web, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Final

__all__ = [
    "ID_TYPE_LABELS",
    "RESIDENT_CHECK_MESSAGE",
    "IdType",
    "gb11643_check_char",
    "identity_problem",
    "mask",
    "normalise",
    "uscc_check_char",
]


class IdType(StrEnum):
    resident = "resident"
    passport = "passport"
    hk_macao = "hk_macao"
    taiwan = "taiwan"
    hk_macao_residence = "hk_macao_residence"
    taiwan_residence = "taiwan_residence"
    foreigner_permanent = "foreigner_permanent"
    organisation = "organisation"


ID_TYPE_LABELS: dict[IdType, str] = {
    IdType.resident: "居民身份证",
    IdType.passport: "护照",
    IdType.hk_macao: "港澳居民来往内地通行证",
    IdType.taiwan: "台湾居民来往大陆通行证",
    IdType.hk_macao_residence: "港澳居民居住证",
    IdType.taiwan_residence: "台湾居民居住证",
    IdType.foreigner_permanent: "外国人永久居留身份证",
    IdType.organisation: "统一社会信用代码",
}

RESIDENT_CHECK_MESSAGE: Final = "身份证号码校验位不正确，请核对"

_GB11643_WEIGHTS: Final = tuple(pow(2, 17 - i, 11) for i in range(17))
_GB11643_CHECKS: Final = "10X98765432"
_GB11643_SHAPE: Final = re.compile(r"[0-9]{17}[0-9X]")
_EARLIEST_BIRTH: Final = date(1900, 1, 1)

_USCC_ALPHABET: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS: Final = tuple(pow(3, i, 31) for i in range(17))
_USCC_SHAPE: Final = re.compile(rf"[{_USCC_ALPHABET}]{{18}}")

_HK_MACAO_PERMIT: Final = re.compile(r"[HM](?:[0-9]{8}|[0-9]{10})")
_TAIWAN_PERMIT: Final = re.compile(r"[0-9]{8}")
_PASSPORT: Final = re.compile(r"[0-9A-Z]{5,20}")
_FOREIGNER_2004: Final = re.compile(r"[A-Z]{3}[0-9]{12}")

_RESIDENCE_REGIONS: Final[dict[IdType, dict[str, str]]] = {
    IdType.hk_macao_residence: {"810000": "香港", "820000": "澳门"},
    IdType.taiwan_residence: {"830000": "台湾"},
}

#: How many characters a masked number keeps at its start and at its end.
_MASK_KEEP: Final[dict[IdType, tuple[int, int]]] = {
    IdType.resident: (3, 4),
    IdType.hk_macao_residence: (3, 4),
    IdType.taiwan_residence: (3, 4),
    IdType.foreigner_permanent: (3, 4),
    IdType.passport: (2, 2),
    IdType.hk_macao: (2, 2),
    IdType.taiwan: (2, 2),
    IdType.organisation: (4, 4),
}

# Full-width ASCII (U+FF01–U+FF5E) and the ideographic space, as typed with a Chinese IME.
_HALF_WIDTH: Final = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


# --------------------------------------------------------------------------- check characters


def gb11643_check_char(body: str) -> str:
    """The GB 11643-1999 check character of a 17-digit body."""
    if len(body) != 17 or not body.isascii() or not body.isdigit():
        raise ValueError(f"GB 11643 body must be 17 digits: {body!r}")
    total = sum(int(digit) * weight for digit, weight in zip(body, _GB11643_WEIGHTS, strict=True))
    return _GB11643_CHECKS[total % 11]


def uscc_check_char(body: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters of a 统一社会信用代码."""
    if len(body) != 17 or any(char not in _USCC_ALPHABET for char in body):
        raise ValueError(f"GB 32100 body must be 17 characters of {_USCC_ALPHABET}: {body!r}")
    total = sum(
        _USCC_ALPHABET.index(char) * weight
        for char, weight in zip(body, _USCC_WEIGHTS, strict=True)
    )
    return _USCC_ALPHABET[(31 - total % 31) % 31]


# --------------------------------------------------------------------------- public rules


def normalise(id_type: IdType, raw: str) -> str:
    """The number as stored and compared: no spaces, half-width, upper case (x → X).

    The same for every type today; ``id_type`` is taken so a type can grow its own rule.
    """
    del id_type
    half_width = raw.translate(_HALF_WIDTH)
    return "".join(half_width.split()).upper()


def identity_problem(id_type: IdType, raw: str, *, today: date) -> str | None:
    """What is wrong with this number for this document type, or None when it is valid.

    ``today`` is the Asia/Shanghai date a birth date may not be after.
    """
    number = normalise(id_type, raw)
    if not number:
        return f"请填写{ID_TYPE_LABELS[id_type]}号码"
    return _VALIDATORS[id_type](number, today)


def mask(id_type: IdType, number: str) -> str:
    """The number for display, its middle replaced by "*" and its length kept.

    Identity cards and residence permits keep the first 3 and last 4 characters, passports and
    travel permits the first 2 and last 2, 统一社会信用代码 the first 4 and last 4. A number too
    short to hide at least as many characters as it shows is hidden entirely.
    """
    text = normalise(id_type, number)
    head, tail = _MASK_KEEP[id_type]
    hidden = len(text) - head - tail
    if hidden < head + tail:
        return "*" * len(text)
    return f"{text[:head]}{'*' * hidden}{text[len(text) - tail :]}"


# --------------------------------------------------------------------------- validators


def _resident_problem(number: str, today: date) -> str | None:
    if len(number) == 15 and number.isdigit():
        return "15位的第一代居民身份证号码已停止使用，请填写18位号码"
    label = "居民身份证号码"
    shape = _gb11643_shape_problem(number, label)
    if shape is not None:
        return shape
    if number[0] in {"0", "9"}:
        return f"{label}的第一位（地址码）应为1至8，当前为{number[0]}"
    return _gb11643_problem(number, label, today, RESIDENT_CHECK_MESSAGE)


def _residence_problem(id_type: IdType, number: str, today: date) -> str | None:
    label = f"{ID_TYPE_LABELS[id_type]}号码"
    regions = _RESIDENCE_REGIONS[id_type]
    shape = _gb11643_shape_problem(number, label)
    if shape is not None:
        return shape
    if number[:6] not in regions:
        allowed = "或".join(f"{code}（{place}）" for code, place in regions.items())
        return f"{label}的前6位应为{allowed}"
    return _gb11643_problem(number, label, today, f"{label}校验位不正确，请核对")


def _hk_macao_residence_problem(number: str, today: date) -> str | None:
    return _residence_problem(IdType.hk_macao_residence, number, today)


def _taiwan_residence_problem(number: str, today: date) -> str | None:
    return _residence_problem(IdType.taiwan_residence, number, today)


def _foreigner_permanent_problem(number: str, today: date) -> str | None:
    label = "外国人永久居留身份证号码"
    if len(number) == 15:
        if _FOREIGNER_2004.fullmatch(number) is None:
            return f"15位的{label}应为3位字母加12位数字"
        return None
    if len(number) != 18:
        return f"{label}应为18位（2017年版）或15位（2004年版），当前为{len(number)}位"
    if not number.startswith("9"):
        return f"18位的{label}应以9开头"
    return _gb11643_problem(number, label, today, f"{label}校验位不正确，请核对")


def _passport_problem(number: str, today: date) -> str | None:
    if _PASSPORT.fullmatch(number) is None:
        return f"护照号码应为5至20位字母或数字，当前为“{number}”"
    return None


def _hk_macao_problem(number: str, today: date) -> str | None:
    if _HK_MACAO_PERMIT.fullmatch(number) is None:
        return "港澳居民来往内地通行证号码应为H（香港）或M（澳门）加8位或10位数字"
    return None


def _taiwan_problem(number: str, today: date) -> str | None:
    if _TAIWAN_PERMIT.fullmatch(number) is None:
        return f"台湾居民来往大陆通行证号码应为8位数字，当前为“{number}”"
    return None


def _organisation_problem(number: str, today: date) -> str | None:
    label = "统一社会信用代码"
    if len(number) != 18:
        return f"{label}应为18位，当前为{len(number)}位"
    if _USCC_SHAPE.fullmatch(number) is None:
        return f"{label}只能由数字和大写字母组成（不使用I、O、S、V、Z）"
    if not number[2:8].isdigit():
        return f"{label}的第3至8位（登记管理机关行政区划码）应为数字"
    if uscc_check_char(number[:17]) != number[17]:
        return f"{label}校验位不正确，请核对"
    return None


_VALIDATORS: Final[dict[IdType, Callable[[str, date], str | None]]] = {
    IdType.resident: _resident_problem,
    IdType.passport: _passport_problem,
    IdType.hk_macao: _hk_macao_problem,
    IdType.taiwan: _taiwan_problem,
    IdType.hk_macao_residence: _hk_macao_residence_problem,
    IdType.taiwan_residence: _taiwan_residence_problem,
    IdType.foreigner_permanent: _foreigner_permanent_problem,
    IdType.organisation: _organisation_problem,
}


# --------------------------------------------------------------------------- GB 11643 numbers


def _gb11643_shape_problem(number: str, label: str) -> str | None:
    if len(number) != 18:
        return f"{label}应为18位，当前为{len(number)}位"
    if _GB11643_SHAPE.fullmatch(number) is None:
        return f"{label}的前17位应为数字，最后一位应为数字或X"
    return None


def _gb11643_problem(number: str, label: str, today: date, check_message: str) -> str | None:
    """Shape, birth date (characters 7–14) and check character of an 18-character number."""
    shape = _gb11643_shape_problem(number, label)
    if shape is not None:
        return shape
    birth = _birth_date_problem(number[6:14], label, today)
    if birth is not None:
        return birth
    if gb11643_check_char(number[:17]) != number[17]:
        return check_message
    return None


def _birth_date_problem(digits: str, label: str, today: date) -> str | None:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return f"{label}中的出生日期{digits}不是有效日期"
    if born > today:
        return f"{label}中的出生日期{born.isoformat()}晚于今天"
    if born < _EARLIEST_BIRTH:
        return f"{label}中的出生日期{born.isoformat()}早于1900年1月1日"
    return None
