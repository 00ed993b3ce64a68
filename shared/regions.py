"""Quangang district (泉港区, 350505): its street office and six towns, and 101 villages/communities.

The district and the seven towns (山腰街道 counts as a town: POLICY's 镇（街道）) come from the
packaged ``data/regions-quangang.csv`` (National Bureau of Statistics codes, 2020-06-30). The 101
villages and communities (村、居) are *synthetic*: the seed gives only their number, so they are
generated deterministically from the fixed name lists below — 15 each for the first three towns in
CSV order and 14 for the other four. A village code is its town's 9-digit code plus a 3-digit
sequence from 001 (``"350505100001"``). The street office has communities (``…社区``), the towns
villages (``…村``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib.resources import files
from typing import Literal

Level = Literal["district", "town", "village"]


class UnknownRegion(KeyError):
    """No such town or village; ``code`` is ``unknown_town`` or ``unknown_village``."""

    def __init__(self, code: Literal["unknown_town", "unknown_village"], region_code: object) -> None:
        super().__init__(region_code)
        self.code = code
        self.region_code = region_code
        self.message = f"{code.replace('_', ' ')}: {region_code!r}"

    def __str__(self) -> str:  # KeyError's own __str__ shows only the repr of the key
        return self.message


@dataclass(frozen=True)
class Region:
    """A division: ``code`` (6 digits district, 9 town, 12 village), Chinese ``name``, ``level``,
    and ``parent_code`` (None for the district)."""

    code: str
    name: str
    level: Level
    parent_code: str | None


# Village (or community) names per town code, in sequence order; the count per town is the split.
_VILLAGE_NAMES: dict[str, tuple[str, ...]] = {
    "350505001": ("山腰", "锦川", "钟厝", "盐场", "新街", "港西", "港东", "驿峰", "坝头", "普安",
                  "庄兜", "新兴", "前亭", "玉湖", "石化"),
    "350505100": ("南埔", "沙格", "肖厝", "天竺", "柯厝", "邱厝", "凤翔", "岭头", "东张", "叶厝",
                  "柳厝", "土坑", "前山", "仙境", "凤北"),
    "350505101": ("界山", "东山", "西山", "白石", "上田", "下田", "溪头", "湖边", "林边", "后洋",
                  "古山", "东园", "西园", "竹林", "红星"),
    "350505102": ("后龙", "前龙", "土楼", "峰前", "西苑", "东头", "海滨", "大坝", "上西", "朱厝",
                  "后沙", "龙山", "龙东", "龙西"),
    "350505103": ("峰尾", "诚平", "东峰", "奎璧", "郭厝", "刘厝", "东埔", "圭峰", "沙溪", "港口",
                  "北山", "南山", "新厝", "旧厝"),
    "350505105": ("前黄", "后黄", "坑内", "凤阳", "前园", "后园", "康街", "洋坑", "菜洋", "高塘",
                  "西埔", "赤厝", "虎石", "上洋"),
    "350505106": ("涂岭", "樟脚", "黄田", "漳洲", "小坝", "溪口", "下炉", "双桂", "五星", "岭尾",
                  "樟山", "尾林", "梅林", "东坑"),
}
_STREET_OFFICE_SUFFIX = "街道"  # a town whose name ends so has communities, not villages


def _load_csv() -> tuple[Region, tuple[Region, ...]]:
    text = files(__package__ or "shared").joinpath("data", "regions-quangang.csv").read_text(encoding="utf-8")
    district: Region | None = None
    towns: list[Region] = []
    for row in csv.DictReader(io.StringIO(text)):
        region = Region(row["code"], row["name"], row["level"], row["parent_code"] or None)  # type: ignore[arg-type]
        if region.level == "district":
            district = region
        elif region.level == "town":
            towns.append(region)
    if district is None:
        raise RuntimeError("regions-quangang.csv has no district row")
    return district, tuple(towns)


def _generate_villages(towns: tuple[Region, ...]) -> tuple[Region, ...]:
    villages: list[Region] = []
    for t in towns:
        suffix = "社区" if t.name.endswith(_STREET_OFFICE_SUFFIX) else "村"
        for seq, base in enumerate(_VILLAGE_NAMES[t.code], start=1):
            villages.append(Region(f"{t.code}{seq:03d}", base + suffix, "village", t.code))
    return tuple(villages)


DISTRICT, TOWNS = _load_csv()
VILLAGES: tuple[Region, ...] = _generate_villages(TOWNS)

_TOWNS_BY_CODE = {t.code: t for t in TOWNS}
_VILLAGES_BY_CODE = {v.code: v for v in VILLAGES}
_VILLAGES_OF = {t.code: tuple(v for v in VILLAGES if v.parent_code == t.code) for t in TOWNS}


def is_town(code: str) -> bool:
    """True if ``code`` is one of the 7 town (or street office) codes, e.g. ``"350505100"``."""
    return code in _TOWNS_BY_CODE


def is_village(code: str) -> bool:
    """True if ``code`` is one of the 101 village (or community) codes."""
    return code in _VILLAGES_BY_CODE


def town(code: str) -> Region:
    """The town with this 9-digit code. Raises :class:`UnknownRegion` (``unknown_town``)."""
    try:
        return _TOWNS_BY_CODE[code]
    except (KeyError, TypeError):
        raise UnknownRegion("unknown_town", code) from None


def village(code: str) -> Region:
    """The village with this 12-digit code. Raises :class:`UnknownRegion` (``unknown_village``)."""
    try:
        return _VILLAGES_BY_CODE[code]
    except (KeyError, TypeError):
        raise UnknownRegion("unknown_village", code) from None


def villages_of(town_code: str) -> tuple[Region, ...]:
    """The villages of a town, in code order. Raises :class:`UnknownRegion` (``unknown_town``)."""
    return _VILLAGES_OF[town(town_code).code]


def town_of_village(village_code: str) -> Region:
    """The town a village belongs to. Raises :class:`UnknownRegion` (``unknown_village``)."""
    parent = village(village_code).parent_code
    assert parent is not None  # every generated village has a town
    return _TOWNS_BY_CODE[parent]
