"""Identity numbers: shapes, birth dates, check characters and masks, without a database.

Check characters are recomputed here by a second method (solving the checksum equation
instead of looking the remainder up), so a shared mistake in the module cannot pass unseen.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.identity import (
    ID_TYPE_LABELS,
    RESIDENT_CHECK_MESSAGE,
    IdType,
    gb11643_check_char,
    identity_problem,
    mask,
    normalise,
    uscc_check_char,
)

TODAY = date(2026, 3, 10)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def independent_gb11643(body: str) -> str:
    """The check character c such that sum(a_i * 2^(i-1)) ≡ 1 (mod 11), positions counted
    from the right with the check character at position 1 (X standing for 10)."""
    weighted = 0
    weight = 2  # position 2, the last digit of the body
    for digit in reversed(body):
        weighted += int(digit) * weight
        weight = weight * 2 % 11
    value = (12 - weighted % 11) % 11
    return "X" if value == 10 else str(value)


def independent_uscc(body: str) -> str:
    """The character whose value makes the weighted sum of all 18 a multiple of 31."""
    weighted = 0
    weight = 1
    for char in body:
        weighted += USCC_ALPHABET.index(char) * weight
        weight = weight * 3 % 31
    candidates = [c for c in USCC_ALPHABET if (weighted + USCC_ALPHABET.index(c)) % 31 == 0]
    assert len(candidates) == 1
    return candidates[0]


def resident(body: str) -> str:
    return body + independent_gb11643(body)


def problem(id_type: IdType, raw: str) -> str | None:
    return identity_problem(id_type, raw, today=TODAY)


# --------------------------------------------------------------------------- 居民身份证


def test_the_standard_example_is_valid() -> None:
    assert independent_gb11643("11010519491231002") == "X"
    assert problem(IdType.resident, "11010519491231002X") is None


def test_a_number_built_from_a_body_validates() -> None:
    number = resident("33010219900307123")
    assert gb11643_check_char(number[:17]) == number[17]
    assert problem(IdType.resident, number) is None


def test_a_changed_digit_is_refused_for_its_check_character() -> None:
    number = resident("33010219900307123")
    changed = number[:15] + str((int(number[15]) + 1) % 10) + number[16:]
    assert problem(IdType.resident, changed) == RESIDENT_CHECK_MESSAGE


def test_a_wrong_check_digit_is_refused() -> None:
    assert problem(IdType.resident, "110105194912310021") == "身份证号码校验位不正确，请核对"


def test_thirtieth_of_february_is_not_a_birth_date() -> None:
    message = problem(IdType.resident, resident("33010219900230123"))
    assert message is not None
    assert "19900230" in message
    assert "不是有效日期" in message


def test_a_birth_date_after_today_is_refused() -> None:
    message = problem(IdType.resident, resident("33010220260311123"))
    assert message is not None
    assert "晚于今天" in message


def test_a_person_born_today_is_accepted() -> None:
    assert problem(IdType.resident, resident("33010220260310123")) is None


def test_a_birth_date_before_1900_is_refused() -> None:
    # GB 11643's second example: its check character is right, its year is not plausible.
    assert independent_gb11643("44052418800101001") == "4"
    message = problem(IdType.resident, "440524188001010014")
    assert message is not None
    assert "早于1900年1月1日" in message


def test_lower_case_x_is_accepted_and_normalised() -> None:
    assert problem(IdType.resident, "11010519491231002x") is None
    assert normalise(IdType.resident, "11010519491231002x") == "11010519491231002X"


def test_full_width_digits_and_spaces_are_normalised() -> None:
    typed = "１１０１０５　１９４９１２３１ ００２ｘ"
    assert normalise(IdType.resident, typed) == "11010519491231002X"
    assert problem(IdType.resident, typed) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "请填写居民身份证号码"),
        ("1101051949123100", "居民身份证号码应为18位，当前为16位"),
        ("110105194912310", "15位的第一代居民身份证号码已停止使用，请填写18位号码"),
        ("11010519491231A02X", "居民身份证号码的前17位应为数字，最后一位应为数字或X"),
        ("010105194912310021", "居民身份证号码的第一位（地址码）应为1至8，当前为0"),
        ("910105194912310021", "居民身份证号码的第一位（地址码）应为1至8，当前为9"),
    ],
)
def test_it_says_what_is_wrong_with_a_resident_number(raw: str, expected: str) -> None:
    assert problem(IdType.resident, raw) == expected


def test_arabic_indic_digits_are_not_digits_here() -> None:
    assert problem(IdType.resident, "١١٠١٠٥١٩٤٩١٢٣١٠٠٢X") is not None


@given(
    region=st.integers(min_value=100000, max_value=899999),
    born=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=999),
    position=st.integers(min_value=0, max_value=17),
    shift=st.integers(min_value=1, max_value=10),
)
def test_every_body_validates_and_every_single_change_is_refused(
    region: int, born: date, sequence: int, position: int, shift: int
) -> None:
    body = f"{region}{born:%Y%m%d}{sequence:03d}"
    check = gb11643_check_char(body)
    assert check == independent_gb11643(body)
    number = body + check
    assert problem(IdType.resident, number) is None

    alphabet = "0123456789X" if position == 17 else "0123456789"
    old = alphabet.index(number[position])
    new = alphabet[(old + shift) % len(alphabet)]
    if new == number[position]:
        return  # shift of a whole turn in the 10-digit body
    changed = number[:position] + new + number[position + 1 :]
    assert problem(IdType.resident, changed) is not None


# --------------------------------------------------------------------------- residence permits


def test_hong_kong_and_macao_residence_permits_use_810000_or_820000() -> None:
    assert problem(IdType.hk_macao_residence, resident("81000019900101002")) is None
    assert problem(IdType.hk_macao_residence, resident("82000019900101002")) is None
    assert problem(IdType.hk_macao_residence, resident("83000019900101002")) == (
        "港澳居民居住证号码的前6位应为810000（香港）或820000（澳门）"
    )


def test_taiwan_residence_permits_use_830000() -> None:
    assert problem(IdType.taiwan_residence, resident("83000019850615003")) is None
    assert problem(IdType.taiwan_residence, resident("33010219850615003")) == (
        "台湾居民居住证号码的前6位应为830000（台湾）"
    )


def test_a_residence_permit_with_a_wrong_check_character_is_refused() -> None:
    number = resident("83000019850615003")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert problem(IdType.taiwan_residence, wrong) == "台湾居民居住证号码校验位不正确，请核对"


# --------------------------------------------------------------------------- other documents


def test_a_2017_permanent_residence_card_number_validates_like_an_id_card() -> None:
    number = resident("93384019800101001")
    assert problem(IdType.foreigner_permanent, number) is None
    wrong = number[:17] + ("0" if number[17] != "0" else "1")
    assert problem(IdType.foreigner_permanent, wrong) == (
        "外国人永久居留身份证号码校验位不正确，请核对"
    )
    message = problem(IdType.foreigner_permanent, resident("93384019800231001"))
    assert message is not None
    assert "不是有效日期" in message


def test_a_permanent_residence_card_has_a_2017_or_a_2004_shape() -> None:
    assert problem(IdType.foreigner_permanent, "usa310080101001") is None
    assert problem(IdType.foreigner_permanent, "US1310080101001") == (
        "15位的外国人永久居留身份证号码应为3位字母加12位数字"
    )
    assert problem(IdType.foreigner_permanent, resident("33010219900307123")) == (
        "18位的外国人永久居留身份证号码应以9开头"
    )
    assert problem(IdType.foreigner_permanent, "12345") == (
        "外国人永久居留身份证号码应为18位（2017年版）或15位（2004年版），当前为5位"
    )


@pytest.mark.parametrize("number", ["H12345678", "m1234567801", "Ｈ１２３４５６７８"])
def test_hong_kong_and_macao_travel_permits(number: str) -> None:
    assert problem(IdType.hk_macao, number) is None


@pytest.mark.parametrize("number", ["A12345678", "H1234567", "H123456789", "12345678"])
def test_malformed_hong_kong_and_macao_travel_permits(number: str) -> None:
    assert problem(IdType.hk_macao, number) == (
        "港澳居民来往内地通行证号码应为H（香港）或M（澳门）加8位或10位数字"
    )


def test_taiwan_travel_permits_have_eight_digits() -> None:
    assert problem(IdType.taiwan, "01234567") is None
    assert problem(IdType.taiwan, "1234567") is not None
    assert problem(IdType.taiwan, "T1234567") is not None


def test_passports_are_letters_and_digits() -> None:
    assert problem(IdType.passport, "EA1234567") is None
    assert problem(IdType.passport, "e 1234 5678") is None
    assert problem(IdType.passport, "E12-34567") is not None
    assert problem(IdType.passport, "E12") is not None


# --------------------------------------------------------------------------- 统一社会信用代码


@pytest.mark.parametrize(
    "body", ["91350100M000100Y4", "12330000470051726", "91330100MA27XL5T0", "52110000500000000"]
)
def test_uscc_check_characters_agree_with_an_independent_computation(body: str) -> None:
    check = uscc_check_char(body)
    assert check == independent_uscc(body)
    assert problem(IdType.organisation, body + check) is None


def test_a_real_world_looking_uscc_validates() -> None:
    assert independent_uscc("91350100M000100Y4") == "3"
    assert problem(IdType.organisation, "91350100M000100Y43") is None
    assert problem(IdType.organisation, "91350100m000100y43") is None


def test_a_uscc_with_a_wrong_check_character_is_refused() -> None:
    assert (
        problem(IdType.organisation, "91350100M000100Y44") == "统一社会信用代码校验位不正确，请核对"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("91350100M000100Y4", "统一社会信用代码应为18位，当前为17位"),
        ("91350100M00010OY43", "统一社会信用代码只能由数字和大写字母组成（不使用I、O、S、V、Z）"),
        ("9135A100M000100Y43", "统一社会信用代码的第3至8位（登记管理机关行政区划码）应为数字"),
    ],
)
def test_it_says_what_is_wrong_with_a_uscc(raw: str, expected: str) -> None:
    assert problem(IdType.organisation, raw) == expected


def test_check_character_helpers_refuse_bad_bodies() -> None:
    with pytest.raises(ValueError):
        gb11643_check_char("1101051949123100")
    with pytest.raises(ValueError):
        uscc_check_char("91350100I000100Y4")


# --------------------------------------------------------------------------- masks and labels


def test_masks_keep_the_length() -> None:
    assert mask(IdType.resident, "33010219900307123X") == "330***********123X"
    assert mask(IdType.taiwan_residence, "830000198506150031") == "830***********0031"
    assert mask(IdType.passport, "EA1234567") == "EA*****67"
    assert mask(IdType.hk_macao, "H1234567801") == "H1*******01"
    assert mask(IdType.taiwan, "01234567") == "01****67"
    assert mask(IdType.organisation, "91350100M000100Y43") == "9135**********0Y43"


def test_a_mask_normalises_first() -> None:
    assert mask(IdType.resident, "11010519491231002x") == "110***********002X"


def test_a_number_too_short_to_mask_is_hidden_entirely() -> None:
    assert mask(IdType.passport, "E12345") == "******"
    assert mask(IdType.passport, "") == ""


def test_every_type_has_a_chinese_label() -> None:
    assert set(ID_TYPE_LABELS) == set(IdType)
    assert ID_TYPE_LABELS[IdType.resident] == "居民身份证"
