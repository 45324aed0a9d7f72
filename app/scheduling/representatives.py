"""How many representatives (代表) a group visit must and may name, and what to bring.

The rules differ by jurisdiction:

- 《信访工作条例》第二十条：“多人采用走访形式提出共同的信访事项的，应当推选代表，代表人数
  不得超过5人。”
- 《浙江省信访条例》第十五条：“多人以走访形式共同提出同一信访事项的，应当通过其推选的代表
  反映。十人以下的，代表人数最多不得超过三人；超过十人的，代表人数最多不得超过五人。”

"十人以下" includes ten itself, as Chinese statutes read 以下 (《民法典》第一千二百五十九条);
"超过十人" starts at eleven.

Pure: values in, values out.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "JURISDICTION_LABELS",
    "NAME_MAX_CHARS",
    "NAME_MIN_CHARS",
    "WHAT_TO_BRING",
    "ZHEJIANG_SMALL_GROUP",
    "Jurisdiction",
    "max_representatives",
    "representatives_problem",
]


class Jurisdiction(StrEnum):
    national = "national"
    zhejiang = "zhejiang"


JURISDICTION_LABELS: dict[Jurisdiction, str] = {
    Jurisdiction.national: "全国（《信访工作条例》）",
    Jurisdiction.zhejiang: "浙江省（《浙江省信访条例》）",
}

#: The largest group that 《浙江省信访条例》第十五条 calls "十人以下".
ZHEJIANG_SMALL_GROUP: Final = 10
NAME_MIN_CHARS: Final = 2
NAME_MAX_CHARS: Final = 32

_NATIONAL_ARTICLE: Final = "《信访工作条例》第二十条"
_ZHEJIANG_ARTICLE: Final = "《浙江省信访条例》第十五条"

WHAT_TO_BRING: dict[Jurisdiction, str] = {
    Jurisdiction.zhejiang: (
        "请携带本人有效身份证件。《浙江省信访条例》第十五条规定：“信访人采用走访形式提出"
        "信访事项的，应当持本人有效身份证件”。多人走访的，每位来访人都请携带本人有效身份证件。"
    ),
    Jurisdiction.national: (
        "建议携带本人有效身份证件，便于登记和核对预约。《信访工作条例》没有规定走访必须持"
        "身份证件，这只是为方便接待提出的建议，未带证件不影响反映问题。"
    ),
}


def max_representatives(jurisdiction: Jurisdiction, party_size: int) -> int:
    """The most representatives a visit of `party_size` people may name.

    National, 《信访工作条例》第二十条：“多人采用走访形式提出共同的信访事项的，应当推选代表，
    代表人数不得超过5人。”

    Zhejiang, 《浙江省信访条例》第十五条：“十人以下的，代表人数最多不得超过三人；超过十人的，
    代表人数最多不得超过五人。”
    """
    if party_size < 1:
        raise ValueError(f"party_size must be at least 1: {party_size}")
    if jurisdiction is Jurisdiction.zhejiang and party_size <= ZHEJIANG_SMALL_GROUP:
        return 3
    return 5


def representatives_problem(
    jurisdiction: Jurisdiction, party_size: int, representatives: list[str]
) -> str | None:
    """Why these representatives do not fit a visit of `party_size` people, or None.

    A single visitor needs no representative (naming oneself is allowed). A group of two or
    more must name at least one (《信访工作条例》第二十条“应当推选代表”; 《浙江省信访条例》
    第十五条“应当通过其推选的代表反映”) and at most `max_representatives`, never more than
    the visitors themselves. Names are 2–32 characters and distinct.
    """
    if party_size < 1:
        return "来访人数至少为1人"
    names = [" ".join(name.split()) for name in representatives]
    return _count_problem(jurisdiction, party_size, len(names)) or _names_problem(names)


def _count_problem(jurisdiction: Jurisdiction, party_size: int, count: int) -> str | None:
    if party_size >= 2 and count == 0:
        return _missing_message(jurisdiction)
    if count > party_size:
        return f"代表人数（{count}人）不能多于来访人数（{party_size}人）"
    if count > max_representatives(jurisdiction, party_size):
        return _too_many_message(jurisdiction, party_size)
    return None


def _missing_message(jurisdiction: Jurisdiction) -> str:
    if jurisdiction is Jurisdiction.zhejiang:
        return f"按{_ZHEJIANG_ARTICLE}，多人走访应当通过推选的代表反映，请至少填写1名代表"
    return f"按{_NATIONAL_ARTICLE}，多人走访应当推选代表，请至少填写1名代表"


def _too_many_message(jurisdiction: Jurisdiction, party_size: int) -> str:
    limit = max_representatives(jurisdiction, party_size)
    if jurisdiction is Jurisdiction.national:
        return f"按{_NATIONAL_ARTICLE}，多人走访的代表最多{limit}人"
    if party_size <= ZHEJIANG_SMALL_GROUP:
        return f"按{_ZHEJIANG_ARTICLE}，十人以下的走访，代表最多{limit}人"
    return f"按{_ZHEJIANG_ARTICLE}，超过十人的走访，代表最多{limit}人"


def _names_problem(names: list[str]) -> str | None:
    seen: set[str] = set()
    for position, name in enumerate(names, start=1):
        if not name:
            return f"第{position}名代表的姓名未填写"
        if not NAME_MIN_CHARS <= len(name) <= NAME_MAX_CHARS:
            return f"第{position}名代表的姓名“{name}”应为{NAME_MIN_CHARS}至{NAME_MAX_CHARS}个字"
        if name in seen:
            return f"代表“{name}”重复填写"
        seen.add(name)
    return None
