"""Business dates and timestamps: aware, within 1950-01-01 .. 2099-12-31, else 422 out_of_range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel, ValidationError

from shared.errors import Problem, install_problem_handlers
from shared.timestamps import (
    TZ,
    BusinessDate,
    BusinessDatetime,
    check_date,
    check_datetime,
    in_range_date,
    in_range_datetime,
)


class Event(BaseModel):
    at: BusinessDatetime
    on: BusinessDate | None = None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime(1950, 1, 1, tzinfo=TZ), True),
        (datetime(1949, 12, 31, 16, tzinfo=UTC), True),  # 1950-01-01 00:00 in Shanghai
        (datetime(1949, 12, 31, 15, 59, 59, tzinfo=UTC), False),
        (datetime(2099, 12, 31, 23, 59, 59, tzinfo=TZ), True),
        (datetime(2099, 12, 31, 16, tzinfo=UTC), False),  # 2100-01-01 00:00 in Shanghai
        (datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=8))), False),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12))), False),
        (datetime(1900, 1, 1, tzinfo=TZ), False),
    ],
)
def test_in_range_datetime(value: datetime, ok: bool) -> None:
    assert in_range_datetime(value) is ok


def test_in_range_refuses_naive() -> None:
    with pytest.raises(ValueError):
        in_range_datetime(datetime(2020, 1, 1))


def test_in_range_date() -> None:
    assert in_range_date(date(1950, 1, 1)) and in_range_date(date(2099, 12, 31))
    assert not in_range_date(date(1949, 12, 31)) and not in_range_date(date(2100, 1, 1))
    assert not in_range_date(date(1, 1, 1)) and not in_range_date(date(9999, 12, 31))


def test_check_functions_raise_problem() -> None:
    assert check_date(date(2020, 5, 12)) == date(2020, 5, 12)
    moment = datetime(2020, 5, 12, 9, tzinfo=TZ)
    assert check_datetime(moment) is moment
    for call in (lambda: check_date(date(2100, 1, 1), "died_on"),
                 lambda: check_datetime(datetime(1, 1, 1, tzinfo=UTC))):
        with pytest.raises(Problem) as info:
            call()
        assert (info.value.status, info.value.code) == (422, "out_of_range")


def test_model_accepts_and_keeps_the_offset() -> None:
    event = Event.model_validate({"at": "2020-05-12T01:30:00Z", "on": "2020-05-12"})
    assert event.at == datetime(2020, 5, 12, 1, 30, tzinfo=UTC)
    assert event.at.utcoffset() == timedelta(0)
    assert event.on == date(2020, 5, 12)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"at": "0001-01-01T00:00:00+08:00"}, "out_of_range"),
        ({"at": "9999-12-31T23:59:59+08:00"}, "out_of_range"),
        ({"at": "1900-01-01T00:00:00+08:00"}, "out_of_range"),
        ({"at": "2100-01-01T00:00:00+08:00"}, "out_of_range"),
        ({"at": "2020-05-12T09:00:00"}, "timezone_aware"),
        ({"at": "2020-05-12T09:00:00+08:00", "on": "9999-12-31"}, "out_of_range"),
        ({"at": "2020-05-12T09:00:00+08:00", "on": "0001-01-01"}, "out_of_range"),
    ],
)
def test_model_refuses(body: dict, code: str) -> None:
    with pytest.raises(ValidationError) as info:
        Event.model_validate(body)
    assert [e["type"] for e in info.value.errors()] == [code]


def test_json_schema_documents_the_range() -> None:
    schema = Event.model_json_schema()
    assert schema["properties"]["at"]["format"] == "date-time"
    assert "1950-01-01" in schema["properties"]["at"]["description"]


async def test_api_answers_422_out_of_range() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/events")
    async def post(event: Event) -> dict:
        return {"at": event.at.isoformat()}

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/events", json={"at": "0001-01-01T00:00:00+08:00"})
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "out_of_range"
        assert body["errors"][0]["field"] == "at"
        ok = await client.post("/events", json={"at": "2020-05-12T09:00:00+08:00"})
        assert ok.json() == {"at": "2020-05-12T09:00:00+08:00"}
