"""Resident ID numbers (GB 11643-1999): acceptance cases and properties."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.ids import (
    IdNumberError,
    ResidentId,
    check_character,
    make_id_number,
    mask_id_number,
    parse_id_number,
)


def handout_cases(name: str) -> list[dict]:
    """A case file of the read-only handout at ``<repo>/../shared/cases``."""
    path = Path(__file__).resolve().parents[2] / ".." / "shared" / "cases" / name
    return json.loads(path.read_text(encoding="utf-8"))


CASES = handout_cases("resident-id.json")


@pytest.mark.parametrize("case", CASES, ids=[repr(c["input"]) for c in CASES])
def test_acceptance_case(case: dict) -> None:
    if case["valid"]:
        parsed = parse_id_number(case["input"])
        assert parsed.number == case["normalised"]
        assert parsed.birth_date == date.fromisoformat(case["birth_date"])
        assert parsed.sex == case["sex"]
        assert parsed.region_code == case["normalised"][:6]
    else:
        with pytest.raises(IdNumberError) as info:
            parse_id_number(case["input"])
        assert info.value.code == case["error"]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "format"),
        ("   ", "format"),
        ("350505-19800101123", "format"),
        ("35050519800101X234", "format"),  # X only as the last character
        ("٣٥٠٥٠٥١٩٨٠٠١٠١١٢٣٤", "format"),  # Arabic-Indic digits: not a Chinese input's
        ("３５０５０５１９８００１０１１２３X5", "format"),  # full-width, X not last
        ("350505800101X23", "format"),
        ("3505051980010112345", "length"),
        ("3505058001011", "length"),
        ("350505189912311234", "birth_date"),  # before 1900
        ("350505198013011234", "birth_date"),  # month 13
    ],
)
def test_invalid(raw: str, code: str) -> None:
    with pytest.raises(IdNumberError) as info:
        parse_id_number(raw)
    assert info.value.code == code
    assert str(info.value)


def test_future_birth_date_refused_only_relative_to_given_today() -> None:
    number = make_id_number("350505", date(2030, 5, 1), 3, "male")
    assert parse_id_number(number).birth_date == date(2030, 5, 1)
    with pytest.raises(IdNumberError) as info:
        parse_id_number(number, today=date(2030, 4, 30))
    assert info.value.code == "birth_date"
    assert parse_id_number(number, today=date(2030, 5, 1)).birth_date == date(2030, 5, 1)


def test_legacy_15_digits_converted() -> None:
    parsed = parse_id_number("350505800101123")
    assert parsed == ResidentId("350505198001011234", date(1980, 1, 1), "male", "350505")


def test_check_character_standard_example() -> None:
    assert check_character("11010519491231002") == "X"
    with pytest.raises(ValueError):
        check_character("1101051949123100")


def test_mask() -> None:
    assert mask_id_number("350505198001011234") == "350***********1234"
    assert mask_id_number("350505800101123") == "350********1123"
    assert mask_id_number("1234567") == "*******"
    assert mask_id_number("") == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("35050", date(1980, 1, 1), 0, "male"), "region"),
        (("350505", date(1899, 12, 31), 0, "male"), "1900"),
        (("350505", date(1980, 1, 1), 500, "male"), "sequence"),
        (("350505", date(1980, 1, 1), 0, "other"), "sex"),
    ],
)
def test_make_id_number_refuses(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_id_number(*args)


regions = st.text(alphabet="0123456789", min_size=6, max_size=6)
births = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))
sequences = st.integers(min_value=0, max_value=499)
sexes = st.sampled_from(["male", "female"])


@given(regions, births, sequences, sexes)
def test_made_numbers_parse_back(region: str, birth: date, seq: int, sex: str) -> None:
    number = make_id_number(region, birth, seq, sex)  # type: ignore[arg-type]
    parsed = parse_id_number(number)
    assert parsed == ResidentId(number, birth, sex, region)  # type: ignore[arg-type]
    assert parse_id_number(number.lower()).number == number


@given(regions, births, sequences, sexes, st.integers(min_value=0, max_value=17), st.data())
def test_any_single_character_change_is_invalid(
    region: str, birth: date, seq: int, sex: str, position: int, data: st.DataObject
) -> None:
    # MOD 11-2 detects every single-character substitution; a birth-date digit may instead give
    # birth_date, which is still a refusal.
    number = make_id_number(region, birth, seq, sex)  # type: ignore[arg-type]
    alphabet = "0123456789X" if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    changed = number[:position] + replacement + number[position + 1 :]
    with pytest.raises(IdNumberError) as info:
        parse_id_number(changed)
    assert info.value.code in {"checksum", "birth_date"}


@given(regions, st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), sequences, sexes)
def test_legacy_roundtrip(region: str, birth: date, seq: int, sex: str) -> None:
    number = make_id_number(region, birth, seq, sex)  # type: ignore[arg-type]
    legacy = number[:6] + number[8:17]  # drop the century and the check character
    assert len(legacy) == 15
    parsed = parse_id_number(legacy)
    assert parsed.number == number
    assert (parsed.birth_date, parsed.sex) == (birth, sex)


def test_full_width_digits_and_x_typed_in_a_chinese_input_method_read_as_ascii() -> None:
    assert parse_id_number("\u3000３５０５０５１９８００１０１１２３４ ").number == "350505198001011234"
    # A number whose check character is X (one in eleven sequences has it).
    ascii_x = next(n for n in (make_id_number("350505", date(1975, 3, 9), s, "male") for s in range(40)) if n.endswith("X"))
    full_width = ascii_x[:17].translate({ord(str(d)): chr(0xFF10 + d) for d in range(10)})
    assert parse_id_number(full_width + "Ｘ").number == ascii_x
    assert parse_id_number(full_width + "ｘ").number == ascii_x
    with pytest.raises(IdNumberError) as info:
        parse_id_number(full_width + "Ｙ")
    assert info.value.code == "format"
