"""An unhandled exception's 500 leaves the keep-alive connection open (shared.app's outermost
wrapper), so a pooling client such as the gateway never sends the next request on a connection
uvicorn is closing; the exception is logged exactly once, with its traceback.

A real uvicorn server on a free port, the suite's app factory, one raw TCP connection."""

from __future__ import annotations

import asyncio
import json

import pytest
import uvicorn
from fastapi import APIRouter

from deploy.embedded import free_port
from shared.app import KeepConnectionOnError, ServiceSpec, create_service_app
from shared.settings import ServiceSettings


def _app():  # noqa: ANN202
    router = APIRouter()

    @router.post("/boom")
    async def boom() -> dict:
        raise RuntimeError("a bug in a handler")

    @router.post("/fine")
    async def fine() -> dict:
        return {"ok": True}

    return create_service_app(ServiceSpec(name="keepalive", settings=ServiceSettings(), routers=[router]))


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str) -> tuple[int, dict[str, str], bytes]:
    """One POST on the open connection; (status, headers, body) of its answer."""
    writer.write(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(status_line.split()[1]), headers, body


@pytest.fixture
async def served():  # noqa: ANN201
    app = _app()
    port = free_port()
    # log_config=None: keep the suite's logging (configured by the factory) for uvicorn's records.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.025)
    yield port
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def test_500_then_200_on_the_same_connection_and_one_log_line(served, capsys) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    try:
        status, headers, body = await _exchange(reader, writer, "/boom")
        assert status == 500 and headers["content-type"] == "application/problem+json"
        assert json.loads(body)["code"] == "internal_error"
        assert headers.get("connection", "").lower() != "close"
        status, _, body = await _exchange(reader, writer, "/fine")  # same socket: still open
        assert status == 200 and json.loads(body) == {"ok": True}
    finally:
        writer.close()
    await asyncio.sleep(0.1)  # let uvicorn finish its side of the connection
    out = capsys.readouterr()
    text = out.out + out.err
    assert text.count("http.request.failed") == 1, text[-3000:]
    failed_line = next(line for line in text.splitlines() if "http.request.failed" in line)
    assert '"request_id"' in failed_line or "request_id=" in failed_line, failed_line  # findable at 3 a.m.
    assert "Traceback" in text and "RuntimeError: a bug in a handler" in text
    assert "Exception in ASGI application" not in text


async def test_an_exception_before_the_response_started_still_propagates() -> None:
    async def app(scope, receive, send) -> None:  # noqa: ANN001
        raise RuntimeError("nothing sent")

    async def send(message) -> None:  # noqa: ANN001
        raise AssertionError("nothing should be sent")

    with pytest.raises(RuntimeError, match="nothing sent"):
        await KeepConnectionOnError(app)({"type": "http"}, None, send)


async def test_an_exception_after_the_response_started_is_not_propagated() -> None:
    sent: list[dict] = []

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})
        raise RuntimeError("re-raised by ServerErrorMiddleware")

    async def send(message) -> None:  # noqa: ANN001
        sent.append(message)

    await KeepConnectionOnError(app)({"type": "http"}, None, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
