"""A database error never puts personal data in a log line: engines hide SQL parameters, and the
masking processor hides the values PostgreSQL quotes in its messages (DETAIL lines, refused input).
Real PostgreSQL, the suite's own engine, problem handlers and logging configuration."""

import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from shared.db import make_engine
from shared.errors import install_problem_handlers
from shared.logging import configure_logging, describe_error

NAME, ID_NUMBER, ADDRESS = "王秀英", "350505198001011234", "泉港区南埔镇东山村五组"  # no house number


@pytest.fixture
async def engine(databases):
    engine = make_engine(await databases.create("logs"), pool_size=2)
    async with engine.begin() as conn:
        await conn.execute(text(
            "CREATE TABLE person (id_number text UNIQUE, name text CHECK (name <> '王秀英'), address text NOT NULL,"
            " CHECK (id_number <> 'x'))"
        ))
        await conn.execute(text("INSERT INTO person VALUES (:i, '李明', :a)"), {"i": ID_NUMBER, "a": ADDRESS})
    yield engine
    await engine.dispose()


def _app(engine) -> FastAPI:
    configure_logging("test", "INFO")
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/persons/{case}")
    async def insert(case: str) -> dict:
        values = {
            "duplicate": (ID_NUMBER, "李明", ADDRESS),  # DETAIL: Key (id_number)=(…) already exists
            "check": (str(uuid.uuid4()), NAME, ADDRESS),  # DETAIL: Failing row contains (…, name, address)
            "not_null": (ID_NUMBER + "9", NAME, None),
            "cast": (NAME, NAME, ADDRESS),  # invalid input syntax for type integer: "王秀英"
        }[case]
        async with engine.begin() as conn:
            sql = "INSERT INTO person VALUES (:i, :n, :a)" if case != "cast" else "SELECT CAST(:i AS integer), :n, :a"
            await conn.execute(text(sql), dict(zip("ina", values)))
        return {}

    return app


@pytest.mark.parametrize("case", ["duplicate", "check", "not_null", "cast"])
async def test_a_database_error_logs_no_name_id_number_nor_address(engine, capsys, case: str) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app(engine), raise_app_exceptions=False),
                                 base_url="http://t") as client:
        response = await client.post(f"/persons/{case}")
    assert response.status_code in (422, 500) and response.headers["content-type"] == "application/problem+json"
    out = capsys.readouterr().out
    assert "http.request" in out  # the error was logged (with its traceback when a 500)
    for secret in (NAME, ID_NUMBER, ADDRESS, "泉港区"):
        assert secret not in out, (secret, out[-2000:])
    assert "[parameters:" not in out


async def test_describe_error_gives_the_drivers_message_and_sqlstate_without_values(engine) -> None:
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError) as caught:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO person VALUES (:i, '李明', :a)"), {"i": ID_NUMBER, "a": ADDRESS})
    described = describe_error(caught.value)
    assert described == 'duplicate key value violates unique constraint "person_id_number_key" (SQLSTATE 23505)'
    assert ID_NUMBER not in str(caught.value) and "hide_parameters" in str(caught.value)
    assert describe_error(ValueError("x" * 400)).endswith("…") and len(describe_error(ValueError("x" * 400))) == 300
