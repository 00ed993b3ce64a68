"""The care service's small helpers: town and village scope, cursors, in-memory pages."""

import uuid
from datetime import date

import pytest

from services.care.common import can_see, cursor_key, paginate, scope_clauses, town_filter, village_scoped
from shared.auth import DISTRICT_ADMIN, TOWN_CASEWORKER, VILLAGE_OFFICER, Principal
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


def test_village_scope() -> None:
    from services.care.persons.models import Person

    officer = Principal(subject="v", roles=frozenset({VILLAGE_OFFICER}), town="350505100", village="350505100001")
    both = Principal(subject="w", roles=frozenset({VILLAGE_OFFICER, TOWN_CASEWORKER}), town="350505100", village="350505100001")
    caseworker = Principal(subject="c", roles=frozenset({TOWN_CASEWORKER}), town="350505100")
    district = Principal(subject="d", roles=frozenset({DISTRICT_ADMIN, VILLAGE_OFFICER}), village="350505100001")
    assert [village_scoped(p) for p in (officer, both, caseworker, district)] == [True, False, False, False]
    assert can_see(officer, "350505100", "350505100001") and not can_see(officer, "350505100", "350505100002")
    assert not can_see(officer, "350505101", "350505100001") and not can_see(officer, "350505100", None)
    assert can_see(caseworker, "350505100", "350505100002") and can_see(both, "350505100", None)
    sql = [str(c.compile(compile_kwargs={"literal_binds": True})) for c in scope_clauses(officer, None, Person.town, Person.village)]
    assert sql == ["persons.town = '350505100'", "persons.village = '350505100001'"]
    assert len(scope_clauses(caseworker, None, Person.town, Person.village)) == 1
    assert scope_clauses(district, None, Person.town, Person.village) == []


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
