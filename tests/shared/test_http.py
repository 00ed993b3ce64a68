"""shared.http + shared.errors: bad input is a 4xx problem, never a 5xx."""

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel

from shared.errors import Problem, install_problem_handlers
from shared.http import BodyGuardMiddleware, RequestContextMiddleware, has_lone_surrogate
from prometheus_client import CollectorRegistry


class Body(BaseModel):
    name: str


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyGuardMiddleware, max_bytes=1024 * 1024)
    app.add_middleware(RequestContextMiddleware, service="t", registry=CollectorRegistry())

    @app.post("/echo")
    async def echo(body: Body) -> dict:
        return {"name": body.name}

    @app.get("/conflict")
    async def conflict() -> dict:
        raise Problem(409, "over_pledged", "Only 50.00 yuan is still open", open_amount="50.00")

    @app.get("/boom")
    async def boom() -> dict:
        raise RuntimeError("bug")

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def test_surrogate_detection() -> None:
    assert has_lone_surrogate(rb'{"name": "\ud800"}')
    assert has_lone_surrogate(rb'{"name": "\udc00x"}')
    assert not has_lone_surrogate(rb'{"name": "\ud842\udfb7"}')  # 𠮷, a valid pair
    assert not has_lone_surrogate('{"name": "王𠮷"}'.encode())


async def test_valid_body_and_non_bmp_name_pass(client) -> None:
    response = await client.post("/echo", json={"name": "王𠮷"})
    assert response.status_code == 200 and response.json() == {"name": "王𠮷"}
    escaped = await client.post("/echo", content=rb'{"name": "\u738b\ud842\udfb7"}', headers={"content-type": "application/json"})
    assert escaped.json() == {"name": "王𠮷"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (rb'{"name": "\ud800"}', 400, "invalid_unicode"),
        (b"\xff\xfe not json", 400, "malformed_json"),
        (b'{"name": ', 400, "malformed_json"),
        (b'{"name": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "malformed_json"),  # deeper than Python's stack
        (b'{"nom": "x"}', 422, "missing"),
        (b'{"name": 5}', 422, "string_type"),
    ],
)
async def test_bad_bodies_are_problems(client, body: bytes, status: int, code: str) -> None:
    response = await client.post("/echo", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["title"]


async def test_ten_megabytes_is_413(client) -> None:
    response = await client.post("/echo", content=b"x" * (10 * 1024 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


async def test_problem_extensions_request_id_and_500(client) -> None:
    response = await client.get("/conflict", headers={"x-request-id": "abc-123"})
    assert response.status_code == 409
    assert response.json()["open_amount"] == "50.00" and response.json()["code"] == "over_pledged"
    assert response.headers["x-request-id"] == "abc-123"
    boom = await client.get("/boom")
    assert boom.status_code == 500 and boom.json()["code"] == "internal_error" and "bug" not in boom.text
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_fast_path_answers_its_case_and_leaves_the_rest_to_the_route() -> None:
    from fastapi import APIRouter
    from prometheus_client import generate_latest
    from starlette.middleware import Middleware

    from shared.http import FastPathMiddleware, fast_path, send_problem

    router = APIRouter()

    @router.post("/double")
    async def double(body: Body) -> dict:
        return {"name": body.name * 2, "by": "route"}

    @fast_path(router, "POST", "/double")
    async def double_fast(scope, receive, send, fallback) -> None:  # noqa: ANN001
        message = await receive()
        name = message["body"].decode()
        if name.startswith("{"):  # JSON: the route's business

            async def replay() -> dict:
                return message

            await fallback(scope, replay, send)
            return
        if name == "conflict":
            await send_problem(scope, send, Problem(409, "over_pledged", "taken", open_amount="0.00"))
            return
        body = name.encode() * 2
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": body})

    registry = CollectorRegistry()
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyGuardMiddleware)
    app.add_middleware(RequestContextMiddleware, service="t", registry=registry)
    app.include_router(router)
    app.user_middleware.append(Middleware(FastPathMiddleware, paths=router.fast_paths))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        fast = await client.post("/double", content=b"ab", headers={"content-type": "text/plain", "x-request-id": "r-1"})
        assert (fast.status_code, fast.text, fast.headers["x-request-id"]) == (200, "abab", "r-1")
        routed = await client.post("/double", json={"name": "ab"})
        assert routed.json() == {"name": "abab", "by": "route"}
        invalid = await client.post("/double", json={"nom": "ab"})
        assert invalid.status_code == 422 and invalid.json()["code"] == "missing"
        refused = await client.post("/double", content=b"conflict", headers={"content-type": "text/plain"})
        assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json() == {
            "type": "https://quangang.example/problems/over_pledged", "title": "Conflict", "status": 409,
            "detail": "taken", "code": "over_pledged", "instance": "/double", "open_amount": "0.00"}
    metrics = generate_latest(registry).decode()
    assert 'http_requests_total{method="POST",route="/double",status="200"} 2.0' in metrics


async def test_one_access_line_per_request_but_none_for_the_services_clock_reads(monkeypatch) -> None:
    """The services read the shared clock every 2 s in demo/test mode: those reads are counted in
    the metrics, not logged; setting the clock and every other request are logged once."""
    from prometheus_client import generate_latest
    from structlog.testing import capture_logs

    registry = CollectorRegistry()
    app = FastAPI()
    app.add_middleware(RequestContextMiddleware, service="t", registry=registry)

    @app.get("/api/v1/admin/clock")
    async def read_clock() -> dict:
        return {"now": "2020-01-02T09:00:00+08:00"}

    @app.put("/api/v1/admin/clock")
    async def set_clock() -> dict:
        return {"now": "2020-01-03T09:00:00+08:00"}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # Whatever level an earlier test configured, info lines reach the capture; the module's
        # logger may be cached from that configuration, so a fresh one is bound to this one.
        import logging

        import structlog

        import shared.http

        wrapper_class = structlog.get_config()["wrapper_class"]
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
        monkeypatch.setattr(shared.http, "log", structlog.get_logger("shared.http"))
        with capture_logs() as logs:
            for _ in range(3):
                assert (await client.get("/api/v1/admin/clock")).status_code == 200
            assert (await client.put("/api/v1/admin/clock")).status_code == 200
    structlog.configure(wrapper_class=wrapper_class)
    lines = [(e["method"], e["route"], e["status"]) for e in logs if e["event"] == "http.request.completed"]
    assert lines == [("PUT", "/api/v1/admin/clock", 200)]
    metrics = generate_latest(registry).decode()
    assert 'http_requests_total{method="GET",route="/api/v1/admin/clock",status="200"} 3.0' in metrics


# -- U+0000: PostgreSQL text cannot hold it; refused before any validation or storage -----------


def test_nul_escape_detection_counts_the_backslashes() -> None:
    from shared.http import has_nul_escape

    assert has_nul_escape(rb'{"name": "\u0000"}')
    assert has_nul_escape(rb'{"name": "a\\\u0000"}')  # an escaped backslash, then the escape
    assert not has_nul_escape(rb'{"name": "\\u0000"}')  # the text \u0000: an escaped backslash, then "u0000"
    assert not has_nul_escape(rb'{"name": "\\\\u0000"}')
    assert not has_nul_escape(rb'{"name": "\u0030"}')
    # The same rule for surrogates: the text \ud800 is not a lone surrogate.
    assert not has_lone_surrogate(rb'{"name": "\\ud800"}')
    assert has_lone_surrogate(rb'{"name": "\\\ud800"}')
    assert has_lone_surrogate(rb'{"name": "\\ud800\udc00"}')  # the text \ud800, then a lone low half
    assert not has_lone_surrogate(rb'{"name": "\\\ud842\udfb7"}')  # a backslash, then 𠮷


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (rb'{"name": "x\u0000y"}', "application/json"),
        (rb'{"name": "\\\u0000"}', "application/json"),
        (b'{"name": "x\x00y"}', "application/json"),
        (rb'{"name": "x\u0000y"}', ""),  # no content type: FastAPI and some endpoints read it as JSON
        (b"name=admin%00&password=x", "application/x-www-form-urlencoded"),
        (b"name=admin\x00", "application/x-www-form-urlencoded"),
        (b"reference,amount\nA\x00,1.00\n", "text/csv"),
    ],
)
async def test_a_nul_character_in_a_body_is_422(client, content: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post("/echo", content=content, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "nul_character"


async def test_the_text_of_an_escaped_backslash_and_u0000_is_not_a_nul(client) -> None:
    response = await client.post("/echo", content=rb'{"name": "\\u0000 and \\ud800"}', headers={"content-type": "application/json"})
    assert response.status_code == 200 and response.json() == {"name": "\\u0000 and \\ud800"}
    percent = await client.post("/echo", content=b'{"name": "%00"}', headers={"content-type": "application/json"})
    assert percent.status_code == 200 and percent.json() == {"name": "%00"}


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
@pytest.mark.parametrize("target", ["/conflict?actor=%00", "/conflict?actor=a%00b&x=1", "/conflict%00"])
async def test_a_nul_character_in_the_query_or_path_is_422_whatever_the_method(client, method: str, target: str) -> None:
    response = await client.request(method, target)
    assert (response.status_code, response.json()["code"]) == (422, "nul_character")
    # %2500 is the text "%00", not a NUL: the request goes through.
    assert (await client.get("/conflict?actor=%2500")).status_code == 409


async def test_a_path_may_answer_the_guards_refusals_in_its_own_shape() -> None:
    from fastapi.responses import JSONResponse

    def oauth_shape(problem: Problem) -> JSONResponse | None:
        return None if problem.status == 413 else JSONResponse({"error": "invalid_request"}, status_code=400)

    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(BodyGuardMiddleware, max_bytes=64, answers={"/token": oauth_shape})

    @app.post("/token")
    async def token() -> dict:
        return {"ok": True}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        form = {"content-type": "application/x-www-form-urlencoded"}
        refused = await c.post("/token", content=b"username=admin%00&password=x", headers=form)
        assert (refused.status_code, refused.json()) == (400, {"error": "invalid_request"})
        too_big = await c.post("/token", content=b"x" * 100, headers=form)
        assert (too_big.status_code, too_big.json()["code"]) == (413, "payload_too_large")
        elsewhere = await c.post("/other%00")
        assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "nul_character")
        assert (await c.post("/token", content=b"username=admin", headers=form)).json() == {"ok": True}
