"""Lifting a username's sign-in lock: ``POST /api/v1/admin/users/{username}:unlock`` (district_admin),
the lock shown in the admin's user list, the unlock recorded and logged, and other replicas
following the unlock."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from deploy.embedded import free_port
from gateway.app import create_app
from gateway.auth import service as auth_service
from gateway.ratelimit import LoginFailures
from tests.gateway.conftest import Gateway, Served, Stage, _settings, bearer, new_user, sign_in

PROBLEM = "application/problem+json"
# The injected wall clock of the `locking` gateway: 2020-06-01 09:00 in Quangang (+08:00).
T0 = datetime(2020, 6, 1, 1, 0, tzinfo=UTC).timestamp()


class Clocks:
    """A monotonic and a wall clock that move only when told, together."""

    def __init__(self, wall: float) -> None:
        self.wall_at, self.mono_at = wall, 5_000.0

    def monotonic(self) -> float:
        return self.mono_at

    def wall(self) -> float:
        return self.wall_at

    def advance(self, seconds: float) -> None:
        self.mono_at += seconds
        self.wall_at += seconds


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@contextmanager
def service_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """The info lines of gateway.auth.service, whatever level the test gateways were configured
    with (their module logger may be cached from that configuration: a fresh one is bound)."""
    wrapper_class = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    try:
        monkeypatch.setattr(auth_service, "log", structlog.get_logger("gateway.auth"))
        with capture_logs() as logs:
            yield logs
    finally:
        structlog.configure(wrapper_class=wrapper_class)


# --- LoginFailures: forgetting, unlocks from the database, the lock as a wall-clock time ---------

def test_forget_all_or_up_to_a_time_and_count_within_the_window() -> None:
    failures = LoginFailures(limit=3, window_seconds=900)
    for t in (0.0, 10.0, 20.0):
        failures.failed("Alice", now=t)
    assert failures.failures("alice", now=20.0) == 3 and failures.failures("alice", now=905.0) == 2
    assert failures.forget("ALICE", until=10.0) == 2  # 0.0 and 10.0
    assert failures.failures("alice", now=20.0) == 1 and failures.blocked_for("alice", now=20.0) is None
    assert failures.forget("alice") == 1 and failures.forget("alice") == 0
    assert "alice" not in failures._failures


def test_an_unlock_from_the_row_forgets_only_the_failures_before_it() -> None:
    clocks = Clocks(T0)
    failures = LoginFailures(limit=3, window_seconds=900, clock=clocks.monotonic, wall=clocks.wall)
    for _ in range(3):
        failures.failed("bob")
        clocks.advance(10)
    # Locked until the first failure (T0) is 900 s old, as a wall-clock time.
    assert failures.locked_until("bob") == T0 + 900
    assert failures.apply_unlock("bob", None) == 0 and failures.locked_until("bob") == T0 + 900
    # An unlock (on some replica) at T0 + 15: the failures at T0 and T0 + 10 go, T0 + 20 stays.
    assert failures.apply_unlock("bob", T0 + 15) == 2
    assert failures.failures("bob") == 1 and failures.locked_until("bob") is None
    assert failures.apply_unlock("bob", T0 + 15) == 0  # applying it again changes nothing


# --- through HTTP ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
async def locking(stage: Stage, nats_server) -> AsyncIterator[tuple[Gateway, Clocks]]:
    """A gateway on the suite's database with the default limit (10 failures in 900 s) on
    injected clocks starting at :data:`T0`."""
    port = free_port()
    app = create_app(_settings(stage.database_url, nats_server.url, port, stage.upstreams))
    clocks = Clocks(T0)
    app.state.login_failures = LoginFailures(
        app.state.settings.login_failure_limit, app.state.settings.login_failure_window_seconds,
        clock=clocks.monotonic, wall=clocks.wall,
    )
    server = await Served(app, port, lifespan="on").start()
    try:
        yield Gateway(server.url, app, app.state.settings), clocks
    finally:
        await server.stop()


async def listed(client: httpx.AsyncClient, username: str) -> dict:
    users = (await client.get("/api/v1/admin/users", params={"limit": 500})).json()["items"]
    return next(u for u in users if u["username"] == username)


async def test_an_admin_unlocks_a_locked_user_and_the_right_password_works_again(
    locking: tuple[Gateway, Clocks], api: httpx.AsyncClient, admin_token: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, clocks = locking
    username, password = await new_user(api, ["auditor"])
    async with gateway.client() as client, gateway.client(headers=bearer(admin_token)) as admin:
        assert (await listed(admin, username))["locked_until"] is None
        start = clocks.wall()
        statuses = []
        for i in range(10):  # one a second
            statuses.append((await sign_in(client, username, f"wrong-pass-{i}")).status_code)
            clocks.advance(1)
        assert statuses == [400] * 10
        refused = await sign_in(client, username.upper(), password)  # the right one, any case
        assert refused.status_code == 429 and refused.json()["error"] == "invalid_grant"
        assert refused.headers["retry-after"] == "890"  # the first failure is 10 s old of 900
        shown = await listed(admin, username)
        assert datetime.fromisoformat(shown["locked_until"]) == at(start + 900)
        assert shown["unlocked_at"] is None and shown["unlocked_by"] is None

        clocks.advance(60)
        with service_logs(monkeypatch) as logs:
            unlocked = await admin.post(f"/api/v1/admin/users/{username.upper()}:unlock")
        assert unlocked.status_code == 200, unlocked.text
        body = unlocked.json()
        assert {k: body[k] for k in ("username", "locked", "locked_until", "failed_attempts", "unlocked_by")} == {
            "username": username, "locked": False, "locked_until": None, "failed_attempts": 0, "unlocked_by": "admin"}
        assert datetime.fromisoformat(body["unlocked_at"]) == at(start + 70)
        lines = [e for e in logs if e["event"] == "gateway.user.unlocked"]
        assert len(lines) == 1 and lines[0]["by"] == "admin" and lines[0]["was_locked"] is True
        assert lines[0]["user_id"] == shown["id"]
        assert username not in str(logs) and password not in str(logs)  # the id only; never a password

        # The audit trail: the unlock is on the user's row, as the admin's list shows it.
        shown = await listed(admin, username)
        assert shown["locked_until"] is None and shown["unlocked_by"] == "admin"
        assert datetime.fromisoformat(shown["unlocked_at"]) == at(start + 70)

        signed = await sign_in(client, username, password)
        assert signed.status_code == 200, signed.text
        # Unlocking a user who is not locked is the same answer; the unlock is recorded again.
        clocks.advance(5)
        again = await admin.post(f"/api/v1/admin/users/{username}:unlock")
        assert again.status_code == 200 and again.json()["locked"] is False and again.json()["failed_attempts"] == 0
        assert datetime.fromisoformat(again.json()["unlocked_at"]) == at(start + 75)


async def test_failures_after_an_unlock_count_from_zero(locking: tuple[Gateway, Clocks], api: httpx.AsyncClient,
                                                         admin_token: str) -> None:
    gateway, clocks = locking
    username, password = await new_user(api, ["auditor"])
    async with gateway.client() as client, gateway.client(headers=bearer(admin_token)) as admin:
        for i in range(6):
            assert (await sign_in(client, username, f"wrong-{i}-pass")).status_code == 400
            clocks.advance(1)
        assert (await admin.post(f"/api/v1/admin/users/{username}:unlock")).json()["failed_attempts"] == 0
        clocks.advance(1)
        for i in range(9):  # 6 + 9 would have locked it; 9 alone do not
            assert (await sign_in(client, username, f"again-{i}-pass")).status_code == 400
            clocks.advance(1)
        assert (await sign_in(client, username, password)).status_code == 200


async def test_an_unlock_on_one_replica_lifts_the_lock_on_another(
    stage: Stage, api: httpx.AsyncClient, library_gateway: Gateway,
) -> None:
    # Real clocks on both: the lock is on `library_gateway`, the unlock through `stage.gateway`.
    username, password = await new_user(api, ["auditor"])
    async with library_gateway.client() as other:
        assert [(await sign_in(other, username, f"wrong-{i}-pass")).status_code for i in range(10)] == [400] * 10
        assert (await sign_in(other, username, password)).status_code == 429
        assert (await api.post(f"/api/v1/admin/users/{username}:unlock")).status_code == 200
        signed = await sign_in(other, username, password)
        assert signed.status_code == 200, signed.text


async def test_only_a_district_admin_unlocks_and_an_unknown_user_is_404(
    stage: Stage, api: httpx.AsyncClient, anon: httpx.AsyncClient,
) -> None:
    town_user, town_password = await new_user(api, ["town_caseworker"], town="350505100")
    town_token = (await sign_in(anon, town_user, town_password)).json()["access_token"]
    victim, _ = await new_user(api, ["auditor"])
    refused = await anon.post(f"/api/v1/admin/users/{victim}:unlock", headers=bearer(town_token))
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "forbidden"
    assert (await anon.post(f"/api/v1/admin/users/{victim}:unlock")).status_code == 401
    assert (await listed(api, victim))["unlocked_at"] is None  # nothing was recorded

    missing = await api.post("/api/v1/admin/users/nobody-at-all:unlock")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert missing.json()["code"] == "not_found"
