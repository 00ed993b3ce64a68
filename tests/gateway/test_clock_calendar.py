"""The shared clock (test mode vs production) and the working-day calendar served by the gateway."""

from __future__ import annotations

import jwt
import pytest
from sqlalchemy import func, select

from gateway.models import ClockSetting
from shared.calendar_store import YEAR_LOADED, CalendarYear
from shared.events.models import OutboxEvent
from tests.conftest import load_cases
from tests.gateway.conftest import Stage

PROBLEM = "application/problem+json"


async def test_clock_setting_is_stored_and_pushed_to_every_upstream(stage: Stage, api, anon) -> None:
    before = (await anon.get("/api/v1/admin/clock")).json()
    response = await api.put("/api/v1/admin/clock", json={"now": "2020-05-09T10:00:00+08:00", "running": False})
    assert response.status_code == 200, response.text
    state = response.json()
    assert state["revision"] == before["revision"] + 1
    assert state["now"] == "2020-05-09T02:00:00+00:00" and state["running"] is False
    # The echo upstream acknowledged; the hanging one answered too; the down one is reported.
    assert "echo" in state["acknowledged"]
    assert state["unacknowledged"]["down"] == "unreachable"
    pushed = stage.echo.clock_settings[-1]
    assert pushed["body"] == {"now": "2020-05-09T10:00:00+08:00", "running": False, "revision": state["revision"]}
    token = pushed["authorization"].removeprefix("Bearer ")
    principal = await stage.gateway.app.state.token_verifier.verify(token)
    assert "district_admin" in principal.roles
    assert jwt.decode(token, options={"verify_signature": False})["exp"] - jwt.decode(token, options={"verify_signature": False})["iat"] <= 60
    # Anyone may read it (services do at start-up), and the database keeps it for a restart.
    assert (await anon.get("/api/v1/admin/clock")).json() == {k: state[k] for k in ("now", "running", "revision")}
    async with stage.gateway.app.state.sessionmaker() as session:
        row = await session.get(ClockSetting, 1)
    assert row.revision == state["revision"] and row.running is False


async def test_a_running_clock_advances(api) -> None:
    state = (await api.put("/api/v1/admin/clock", json={"now": "2021-01-04T09:00:00+08:00", "running": True})).json()
    assert state["running"] is True and state["now"] >= "2021-01-04T01:00:00"


async def test_clock_put_is_refused_in_production_and_needs_an_admin(stage: Stage, anon, admin_token: str) -> None:
    async with stage.strict.client() as strict:
        refused = await strict.put("/api/v1/admin/clock", json={"now": "2020-05-09T10:00:00+08:00"},
                                   headers={"Authorization": f"Bearer {admin_token}"})
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM and refused.json()["code"] == "clock_not_controllable"
        assert (await strict.get("/api/v1/admin/clock")).json()["revision"] == 0
    assert (await anon.put("/api/v1/admin/clock", json={"now": "2020-05-09T10:00:00+08:00"})).status_code == 401


async def test_clock_input_must_be_an_aware_time(api) -> None:
    for body in ({"now": "2020-05-09T10:00:00"}, {"now": "yesterday"}, {}):
        response = await api.put("/api/v1/admin/clock", json=body)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(("body", "code"), [
    ({"now": 12345}, "iso_datetime"),  # was taken as 1970-01-01T03:25:45Z
    ({"now": 1589000000.5}, "iso_datetime"),
    ({"now": "12345"}, "iso_datetime"),
    ({"now": "1589000000"}, "iso_datetime"),
    ({"now": True}, "iso_datetime"),
    ({"now": "2020-05-09"}, "iso_datetime"),
    ({"now": "1999-12-31T23:59:59+08:00"}, "out_of_range"),
    ({"now": "2100-01-01T00:00:00+08:00"}, "out_of_range"),
    ({"now": "0001-01-01T00:00:00+08:00"}, "out_of_range"),
    ({"now": "9999-12-31T23:59:59+08:00"}, "out_of_range"),
    ({"now": "2020-05-09T10:00:00+08:00", "running": "yes"}, "bool_type"),  # was taken as true
    ({"now": "2020-05-09T10:00:00+08:00", "running": 1}, "bool_type"),
    ({"now": "2020-05-09T10:00:00+08:00", "running": None}, "bool_type"),
])
async def test_clock_refuses_numbers_non_booleans_and_years_out_of_range(stage: Stage, api, anon, body, code) -> None:
    before = (await anon.get("/api/v1/admin/clock")).json()["revision"]
    pushed = len(stage.echo.clock_settings)
    response = await api.put("/api/v1/admin/clock", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert [e["code"] for e in response.json()["errors"]] == [code]
    assert (await anon.get("/api/v1/admin/clock")).json()["revision"] == before and len(stage.echo.clock_settings) == pushed


async def test_clock_accepts_the_edges_of_its_range(api) -> None:
    for now, utc in (("2000-01-01T00:00:00+08:00", "1999-12-31T16:00:00+00:00"),
                     ("2099-12-31T23:59:59.5+08:00", "2099-12-31T15:59:59.500000+00:00"),
                     ("2020-05-09T02:00:00Z", "2020-05-09T02:00:00+00:00")):
        response = await api.put("/api/v1/admin/clock", json={"now": now, "running": False})
        assert response.status_code == 200, response.text
        assert response.json()["now"] == utc


# --- calendar -----------------------------------------------------------------------------------

async def _calendar_state(stage: Stage, year: int) -> tuple[int, int]:
    async with stage.gateway.app.state.sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(CalendarYear).where(CalendarYear.year == year))
        events = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.event_type == YEAR_LOADED)
        )
    return int(stored or 0), int(events or 0)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"holidays": ["2031-01-04"]}, "holiday_on_weekend"),  # a Saturday
        ({"workdays": ["2031-01-06"]}, "workday_on_weekday"),  # a Monday
        ({"holidays": ["2030-12-31"]}, "wrong_year"),
        ({"holidays": ["2031-01-06"], "workdays": ["2031-01-06"]}, "overlap"),
        ({"holidays": ["2031-02-30"]}, "date_from_datetime_parsing"),
        ({"holidays": "2031-01-01"}, "list_type"),
        ({"holidays": [], "extra": 1}, "extra_forbidden"),
    ],
)
async def test_bad_calendar_years_are_refused_and_nothing_is_stored(stage: Stage, api, body: dict, code: str) -> None:
    before = await _calendar_state(stage, 2031)
    response = await api.put("/api/v1/calendar/years/2031", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert code in {response.json()["code"], *(e["code"] for e in response.json().get("errors", []))}
    assert await _calendar_state(stage, 2031) == before
    assert (await api.get("/api/v1/calendar/years/2031")).json()["source"] == "weekdays"


async def test_loading_a_year_stores_it_emits_the_event_and_moves_deadlines(stage: Stage, api, anon) -> None:
    stored, events = await _calendar_state(stage, 2032)
    year = {"holidays": ["2032-01-01", "2032-02-11", "2032-02-12"], "workdays": ["2032-02-07"]}
    response = await api.put("/api/v1/calendar/years/2032", json=year)
    assert response.status_code == 200, response.text
    assert response.json()["source"] == "loaded"
    assert await _calendar_state(stage, 2032) == (1, events + 1)
    shown = (await anon.get("/api/v1/calendar/years/2032")).json()
    assert shown["holidays"] == year["holidays"] and shown["workdays"] == year["workdays"] and shown["source"] == "loaded"
    # Friday 6 Feb 2032 + 1 working day = Saturday 7 Feb, the loaded make-up day.
    deadline = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": "2032-02-06T10:00:00+08:00", "working_days": 1})
    assert deadline.status_code == 200, deadline.text
    assert deadline.json()["deadline_date"] == "2032-02-07" and deadline.json()["provisional"] is False
    assert (await api.put("/api/v1/calendar/years/2032", json=year)).status_code == 200  # replacing is fine
    assert (await anon.put("/api/v1/calendar/years/2032", json=year)).status_code == 401


async def test_calendar_year_sources(anon) -> None:
    assert (await anon.get("/api/v1/calendar/years/2020")).json()["source"] == "chinesecalendar"
    year_2020 = (await anon.get("/api/v1/calendar/years/2020")).json()
    assert "2020-05-01" in year_2020["holidays"] and "2020-05-09" in year_2020["workdays"]
    far = (await anon.get("/api/v1/calendar/years/2150")).json()
    assert far["source"] == "weekdays" and far["provisional"] is True and far["holidays"] == []


@pytest.mark.parametrize("case", load_cases("working-days.json"), ids=lambda c: c["accepted_at"])
async def test_deadline_cases(api, case: dict) -> None:
    response = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": case["accepted_at"], "working_days": case["working_days"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deadline_date"] == case["deadline_date"], case["why"]
    assert body["deadline_at"].startswith(case["deadline_date"][:8]) and body["deadline_at"].endswith("+08:00")
    assert body["rule"] == "R-TR-2" and body["working_days"] == case["working_days"] and body["provisional"] is False


async def test_deadline_input_is_checked(api, anon) -> None:
    naive = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": "2020-04-30T10:00:00"})
    assert naive.status_code == 422 and naive.headers["content-type"] == PROBLEM
    for body in ({"start": "2020-04-30T10:00:00+08:00", "working_days": 0}, {"working_days": 5}):
        assert (await api.post("/api/v1/calendar/deadline:evaluate", json=body)).status_code == 422
    # Edges of the calendar: refused before any arithmetic can overflow (was 500), no LMT +08:05.
    for start in ("9999-12-31T23:59:59+08:00", "0001-01-01T00:00:00+08:00", "1900-01-01T00:00:00+08:00",
                  "2100-01-01T00:00:00+08:00"):
        edge = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": start, "working_days": 5})
        assert (edge.status_code, edge.json()["code"]) == (422, "out_of_range"), start
        assert edge.headers["content-type"] == PROBLEM
    last = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": "2099-12-31T23:59:59+08:00", "working_days": 250})
    assert last.status_code == 200 and last.json()["deadline_date"].startswith("2100-") and last.json()["provisional"]
    default = await api.post("/api/v1/calendar/deadline:evaluate", json={"start": "2020-04-30T10:00:00+08:00"})
    assert default.json()["working_days"] == 5 and default.json()["deadline_date"] == "2020-05-11"
    assert (await anon.post("/api/v1/calendar/deadline:evaluate", json={"start": "2020-04-30T10:00:00+08:00"})).status_code == 401


def test_the_services_clock_push_body_is_strict_too() -> None:
    from pydantic import ValidationError

    from shared.app import ClockSetting

    ok = ClockSetting.model_validate({"now": "2020-05-09T10:00:00+08:00", "running": True, "revision": 3})
    assert ok.running is True and ok.now.isoformat() == "2020-05-09T10:00:00+08:00"
    for body in ({"now": 12345, "revision": 3}, {"now": "2020-05-09T10:00:00+08:00", "running": "yes", "revision": 3},
                 {"now": "2020-05-09T10:00:00+08:00", "revision": "3"}):
        with pytest.raises(ValidationError):
            ClockSetting.model_validate(body)
