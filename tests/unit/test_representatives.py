"""Representatives of a group visit under the national and the Zhejiang regulations."""

from __future__ import annotations

import pytest

from app.scheduling.representatives import (
    JURISDICTION_LABELS,
    WHAT_TO_BRING,
    Jurisdiction,
    max_representatives,
    representatives_problem,
)

NATIONAL = Jurisdiction.national
ZHEJIANG = Jurisdiction.zhejiang
NAMES = ["张建国", "李秀英", "王卫东", "赵丽华", "陈志强", "刘美玲"]


@pytest.mark.parametrize("party_size", [2, 5, 10, 11, 200])
def test_the_national_rule_allows_five_representatives(party_size: int) -> None:
    assert max_representatives(NATIONAL, party_size) == 5


@pytest.mark.parametrize(("party_size", "limit"), [(2, 3), (9, 3), (10, 3), (11, 5), (60, 5)])
def test_zhejiang_allows_three_up_to_ten_people_and_five_above(party_size: int, limit: int) -> None:
    assert max_representatives(ZHEJIANG, party_size) == limit


def test_a_party_of_nobody_has_no_maximum() -> None:
    with pytest.raises(ValueError):
        max_representatives(NATIONAL, 0)
    assert representatives_problem(NATIONAL, 0, []) == "来访人数至少为1人"


@pytest.mark.parametrize("jurisdiction", list(Jurisdiction))
def test_a_single_visitor_needs_no_representative(jurisdiction: Jurisdiction) -> None:
    assert representatives_problem(jurisdiction, 1, []) is None
    assert representatives_problem(jurisdiction, 1, ["张建国"]) is None


def test_a_single_visitor_cannot_name_two_representatives() -> None:
    assert representatives_problem(NATIONAL, 1, NAMES[:2]) == (
        "代表人数（2人）不能多于来访人数（1人）"
    )


def test_a_group_must_name_a_representative() -> None:
    assert representatives_problem(NATIONAL, 3, []) == (
        "按《信访工作条例》第二十条，多人走访应当推选代表，请至少填写1名代表"
    )
    assert representatives_problem(ZHEJIANG, 3, []) == (
        "按《浙江省信访条例》第十五条，多人走访应当通过推选的代表反映，请至少填写1名代表"
    )


def test_ten_people_in_zhejiang_may_name_three_but_not_four() -> None:
    assert representatives_problem(ZHEJIANG, 10, NAMES[:3]) is None
    assert representatives_problem(ZHEJIANG, 10, NAMES[:4]) == (
        "按《浙江省信访条例》第十五条，十人以下的走访，代表最多3人"
    )


def test_eleven_people_in_zhejiang_may_name_five_but_not_six() -> None:
    assert representatives_problem(ZHEJIANG, 11, NAMES[:5]) is None
    assert representatives_problem(ZHEJIANG, 11, NAMES[:6]) == (
        "按《浙江省信访条例》第十五条，超过十人的走访，代表最多5人"
    )


def test_a_national_group_may_name_five_but_not_six() -> None:
    assert representatives_problem(NATIONAL, 8, NAMES[:5]) is None
    assert representatives_problem(NATIONAL, 8, NAMES[:6]) == (
        "按《信访工作条例》第二十条，多人走访的代表最多5人"
    )


def test_there_are_never_more_representatives_than_visitors() -> None:
    assert representatives_problem(NATIONAL, 2, NAMES[:3]) == (
        "代表人数（3人）不能多于来访人数（2人）"
    )
    assert representatives_problem(NATIONAL, 2, NAMES[:2]) is None


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["张建国", "  "], "第2名代表的姓名未填写"),
        (["李"], "第1名代表的姓名“李”应为2至32个字"),
        (["张" * 33], f"第1名代表的姓名“{'张' * 33}”应为2至32个字"),
        (["张建国", " 张建国 "], "代表“张建国”重复填写"),
        (["Mary  Smith", "Mary Smith"], "代表“Mary Smith”重复填写"),
    ],
)
def test_names_are_two_to_thirty_two_characters_and_distinct(
    names: list[str], expected: str
) -> None:
    assert representatives_problem(NATIONAL, 5, names) == expected


def test_a_thirty_two_character_name_is_accepted() -> None:
    assert representatives_problem(NATIONAL, 3, ["张" * 32, "Li"]) is None


def test_what_to_bring_follows_each_regulation() -> None:
    assert set(WHAT_TO_BRING) == set(Jurisdiction) == set(JURISDICTION_LABELS)
    assert "本人有效身份证件" in WHAT_TO_BRING[ZHEJIANG]
    assert "第十五条" in WHAT_TO_BRING[ZHEJIANG]
    assert "没有规定" in WHAT_TO_BRING[NATIONAL]
