"""shared.pagination cursors and shared.clock."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.clock import ControllableClock, local_today
from shared.errors import Problem
from shared.pagination import decode_cursor, encode_cursor, make_page


@given(st.lists(st.one_of(st.integers(), st.text(max_size=20)), min_size=1, max_size=3))
def test_cursor_roundtrip(key) -> None:
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "eyJhIjoxfQ"])  # garbage, "not json", {"a":1}
def test_foreign_cursor_is_422(cursor) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 422 and caught.value.code == "invalid_cursor"


def test_make_page_has_cursor_only_when_more() -> None:
    page = make_page([1, 2, 3], 2, key=lambda r: [r])
    assert page.items == [1, 2] and decode_cursor(page.next_cursor) == [2]
    assert make_page([1, 2], 2, key=lambda r: [r]).next_cursor is None


def test_controllable_clock_frozen_and_running() -> None:
    clock = ControllableClock(datetime(2020, 1, 1, tzinfo=UTC))
    start = datetime(2020, 5, 9, 10, 0, tzinfo=timezone(timedelta(hours=8)))
    clock.set(start)
    assert clock.now() == start and clock.revision == 1
    clock.set(start, running=True)
    assert clock.now() >= start and clock.revision == 2
    with pytest.raises(ValueError):
        clock.set(datetime(2020, 1, 1))


def test_local_today_is_shanghai_date() -> None:
    clock = ControllableClock(datetime(2020, 3, 5, 20, 0, tzinfo=UTC))
    clock.set(datetime(2020, 3, 5, 20, 0, tzinfo=UTC))
    assert local_today(clock).isoformat() == "2020-03-06"
