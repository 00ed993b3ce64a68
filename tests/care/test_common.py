"""The care service's small helpers: town filter, cursors, in-memory pages."""

import uuid
from datetime import date

import pytest

from services.care.common import cursor_key, paginate, town_filter
from shared.auth import DISTRICT_ADMIN, TOWN_CASEWORKER, Principal
from shared.errors import Problem
from shared.pagination import PageParams, decode_cursor


def test_town_filter() -> None:
    district = Principal(subject="a", roles=frozenset({DISTRICT_ADMIN}))
    town = Principal(subject="b", roles=frozenset({TOWN_CASEWORKER}), town="350505100")
    assert town_filter(district, None) is None
    assert town_filter(district, "350505101") == "350505101"
    assert town_filter(town, None) == "350505100"
    assert town_filter(town, "350505100") == "350505100"
    with pytest.raises(Problem) as exc:
        town_filter(town, "350505101")
    assert exc.value.status == 404


def test_cursor_key() -> None:
    pid = uuid.uuid4()
    assert cursor_key(None, date.fromisoformat) is None
    assert cursor_key(["2020-06-15", str(pid)], date.fromisoformat, uuid.UUID) == (date(2020, 6, 15), pid)
    for bad in (["2020-13-01", str(pid)], ["2020-06-15"], ["2020-06-15", "nope"]):
        with pytest.raises(Problem) as exc:
            cursor_key(bad, date.fromisoformat, uuid.UUID)
        assert exc.value.code == "invalid_cursor"


def test_paginate_walks_a_list_without_gaps_or_repeats() -> None:
    items = [{"n": n} for n in range(7)]
    seen, after = [], None
    while True:
        page = paginate(items, PageParams(limit=3, after=after), key=lambda i: [i["n"]])
        seen += page.items
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)
    assert seen == items
    with pytest.raises(Problem):
        paginate(items, PageParams(limit=3, after=["x"]), key=lambda i: [i["n"]])
