"""shared.pagination cursors (signed, bound to their list) and shared.clock."""

import base64
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fastapi import Depends, FastAPI
from hypothesis import given
from hypothesis import strategies as st

from shared.clock import ControllableClock, local_today
from shared.errors import Problem
from shared import pagination
from shared.errors import install_problem_handlers
from shared.pagination import Page, PageParams, configure_cursor_secret, decode_cursor, encode_cursor, make_page, page_params


@given(st.lists(st.one_of(st.integers(), st.text(max_size=20)), min_size=1, max_size=3))
def test_cursor_roundtrip(key) -> None:
    assert decode_cursor(encode_cursor(key)) == key
    assert decode_cursor(encode_cursor(key, scope="/api/v1/x"), scope="/api/v1/x") == key


@pytest.fixture
def restore_key():
    saved = pagination._key
    yield
    pagination._key = saved


def _refused(cursor: str, scope: str = "") -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor, scope=scope)
    assert caught.value.status == 422 and caught.value.code == "invalid_cursor"


@pytest.mark.parametrize("cursor", [
    "!!!", "bm90IGpzb24", "eyJhIjoxfQ",  # garbage, "not json", {"a":1}: unsigned
    "WyJ4Il0", "WyJ4Il0.", "WyJ4Il0.!!!", ".", "WyJ4Il0.AAAAAAAAAAAAAAAAAAAAAA", "a.b.c", "W.yJ4Il0A",
])
def test_foreign_cursor_is_422(cursor) -> None:
    _refused(cursor)


def test_a_tampered_cursor_is_422() -> None:
    cursor = encode_cursor(["2020-06-15", 7])
    payload, tag = cursor.split(".")
    forged = base64.urlsafe_b64encode(b'["2020-06-15",8]').decode().rstrip("=")
    _refused(f"{forged}.{tag}")  # other content, the genuine tag
    _refused(f"{payload}.{tag[:-2]}{'A' if tag[-2] != 'A' else 'B'}{tag[-1]}")  # the tag altered
    _refused(f"{payload}.{tag[:-1]}")  # the tag truncated
    _refused(cursor, scope="/api/v1/other")  # issued for another list


def test_a_cursor_signed_with_another_key_is_422(restore_key) -> None:
    configure_cursor_secret("the suite's key")
    cursor = encode_cursor([1])
    assert decode_cursor(cursor) == [1]
    configure_cursor_secret("another suite's key")
    _refused(cursor)
    configure_cursor_secret("the suite's key")  # the same secret in another process: accepted
    assert decode_cursor(cursor) == [1]
    configure_cursor_secret(None)  # unset keeps the key in use
    assert decode_cursor(cursor) == [1]


def test_the_signed_content_must_be_a_list() -> None:
    _refused(encode_cursor({"a": 1}))  # type: ignore[arg-type]


def test_make_page_has_cursor_only_when_more() -> None:
    page = make_page([1, 2, 3], 2, key=lambda r: [r])
    assert page.items == [1, 2] and decode_cursor(page.next_cursor) == [2]
    assert make_page([1, 2], 2, key=lambda r: [r]).next_cursor is None


async def test_page_params_binds_cursors_to_their_route() -> None:
    """Through FastAPI: a list walks page by page; its cursor is refused by another list."""
    app = FastAPI()
    install_problem_handlers(app)
    numbers = list(range(7))

    for path in ("/a", "/b/{item_id}"):
        @app.get(path)
        async def listing(page: PageParams = Depends(page_params)) -> Page[int]:
            after = page.after[0] if page.after else -1
            return make_page([n for n in numbers if n > after][: page.limit + 1], page.limit, key=lambda n: [n])

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        seen, cursor = [], None
        while True:
            body = (await client.get("/a", params={"limit": 3, **({"cursor": cursor} if cursor else {})})).json()
            seen += body["items"]
            if (cursor := body["next_cursor"]) is None:
                break
        assert seen == numbers
        cursor = (await client.get("/b/1", params={"limit": 3})).json()["next_cursor"]
        assert (await client.get("/b/2", params={"cursor": cursor})).json()["items"] == [3, 4, 5, 6]
        for target in (f"/a?cursor={cursor}", "/a?cursor=WyJ4Il0"):
            response = await client.get(target)
            assert response.status_code == 422 and response.json()["code"] == "invalid_cursor"
            assert response.headers["content-type"] == "application/problem+json"


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
