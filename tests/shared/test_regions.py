"""Quangang's district, towns and the 101 generated villages."""

from __future__ import annotations

from collections import Counter

import pytest

from shared import regions
from shared.regions import (
    DISTRICT,
    TOWNS,
    VILLAGES,
    Region,
    UnknownRegion,
    is_town,
    is_village,
    town,
    town_of_village,
    village,
    villages_of,
)


def test_district() -> None:
    assert DISTRICT == Region("350505", "泉港区", "district", None)


def test_seven_towns_from_the_csv() -> None:
    assert len(TOWNS) == 7
    assert [t.code for t in TOWNS] == [
        "350505001", "350505100", "350505101", "350505102", "350505103", "350505105", "350505106",
    ]
    assert town("350505001").name == "山腰街道"
    assert all(t.level == "town" and t.parent_code == DISTRICT.code for t in TOWNS)


def test_exactly_101_villages_unique() -> None:
    assert len(VILLAGES) == 101
    assert len({v.code for v in VILLAGES}) == 101
    assert len({v.name for v in VILLAGES}) == 101
    assert Counter(v.parent_code for v in VILLAGES) == {
        "350505001": 15, "350505100": 15, "350505101": 15,
        "350505102": 14, "350505103": 14, "350505105": 14, "350505106": 14,
    }


def test_village_codes_and_names() -> None:
    for v in VILLAGES:
        assert v.level == "village"
        assert is_town(v.parent_code or "")
        assert len(v.code) == 12 and v.code.isdigit() and v.code[:9] == v.parent_code
        suffix = "社区" if v.parent_code == "350505001" else "村"
        assert v.name.endswith(suffix) and len(v.name) > len(suffix)
    assert village("350505100001") == Region("350505100001", "南埔村", "village", "350505100")
    assert village("350505001001").name == "山腰社区"


def test_generation_is_deterministic() -> None:
    assert regions._generate_villages(TOWNS) == VILLAGES


def test_lookups() -> None:
    assert is_town("350505106") and not is_town("350505") and not is_town("350505100001")
    assert is_village("350505106014") and not is_village("350505106015")
    assert [v.code for v in villages_of("350505106")] == [f"350505106{i:03d}" for i in range(1, 15)]
    assert town_of_village("350505103007") == town("350505103")
    assert sum(len(villages_of(t.code)) for t in TOWNS) == 101


@pytest.mark.parametrize(
    ("call", "arg", "code"),
    [
        (town, "350505104", "unknown_town"),
        (town, "350505100001", "unknown_town"),
        (villages_of, "350505999", "unknown_town"),
        (village, "350505100099", "unknown_village"),
        (town_of_village, "350505100", "unknown_village"),
    ],
)
def test_unknown(call, arg: str, code: str) -> None:
    with pytest.raises(UnknownRegion) as info:
        call(arg)
    assert info.value.code == code
    assert isinstance(info.value, KeyError)
    assert arg in str(info.value)
