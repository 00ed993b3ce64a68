"""Forwarding: what reaches the upstream (text intact, hop-by-hop headers gone, ids forwarded),
what comes back, and the failures: 404 unknown service, 504 then recovery, 502, 413."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import quote

from tests.gateway.conftest import Stage

PROBLEM = "application/problem+json"


def upstream_headers(response) -> dict[str, list[str]]:  # noqa: ANN001
    out: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        out.setdefault(name, []).append(value)
    return out


async def test_chinese_and_non_bmp_text_arrives_intact(anon) -> None:
    response = await anon.get("/api/v1/echo/persons", params={"name": "王秀英"})
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["path"] == "/api/v1/echo/persons"
    assert echoed["query_string"] == "name=" + quote("王秀英")
    body = {"name": "王𠮷", "note": "𠮷野家 ∑ é"}
    posted = await anon.post("/api/v1/echo/persons", params={"name": "王𠮷"}, json=body)
    assert posted.status_code == 200, posted.text
    assert posted.json()["query_string"] == "name=" + quote("王𠮷")
    assert json.loads(posted.json()["body"]) == body
    assert posted.json()["method"] == "POST"


async def test_raw_utf8_in_the_request_line_is_percent_encoded_upstream(stage: Stage) -> None:
    # A client that does not percent-encode: the bytes of 王 straight in the request target.
    host, port = "127.0.0.1", int(stage.gateway.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(host, port)
    writer.write("GET /api/v1/echo/raw?name=王 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if head.startswith(b"HTTP/1.1 200"):
        assert json.loads(body)["query_string"] == "name=" + quote("王")
    else:  # the HTTP server may refuse such a request line outright; it must not be a 5xx
        assert head.split()[1].startswith(b"4")


async def test_hop_by_hop_headers_never_reach_the_upstream_and_ids_do(anon) -> None:
    response = await anon.get("/api/v1/echo/headers", headers={
        "Connection": "X-Custom, keep-alive",
        "X-Custom": "drop me",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "websocket",
        "Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA==",
        "X-Request-ID": "caller-request-1",
        "X-End-To-End": "keep me",
    })
    assert response.status_code == 200, response.text
    seen = upstream_headers(response)
    for hop in ("connection", "x-custom", "keep-alive", "te", "upgrade", "proxy-authorization", "transfer-encoding"):
        assert hop not in seen, hop
    assert seen["x-end-to-end"] == ["keep me"]
    assert seen["x-request-id"] == ["caller-request-1"] == [response.headers["x-request-id"]]
    assert seen["x-correlation-id"] == ["caller-request-1"]
    # The client address as uvicorn resolved it (its --forwarded-allow-ips decides whom to trust).
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    # And on the way back: the upstream's hop-by-hop headers are dropped, one x-request-id.
    assert "x-upstream-hop" not in response.headers
    assert response.headers.get_list("x-request-id") == ["caller-request-1"]
    assert response.headers["content-length"] == str(len(response.content))


async def test_the_gateway_request_id_is_forwarded_when_the_caller_sends_none(anon) -> None:
    response = await anon.get("/api/v1/echo/ids")
    seen = upstream_headers(response)
    assert seen["x-request-id"] == [response.headers["x-request-id"]]
    assert len(seen["x-request-id"][0]) >= 16


async def test_the_bearer_token_is_forwarded_and_anonymous_requests_pass(api, anon, admin_token: str) -> None:
    signed = await api.get("/api/v1/echo/board")
    assert upstream_headers(signed)["authorization"] == [f"Bearer {admin_token}"]
    anonymous = await anon.get("/api/v1/echo/board")
    assert anonymous.status_code == 200 and "authorization" not in upstream_headers(anonymous)


async def test_set_cookie_of_one_caller_is_not_replayed_to_another(anon) -> None:
    first = await anon.get("/api/v1/echo/a")
    assert first.headers.get("set-cookie") == "upstream=1"  # relayed to the caller …
    anon.cookies.clear()
    second = await anon.get("/api/v1/echo/b")
    assert "cookie" not in upstream_headers(second)  # … but never kept by the gateway's pool


async def test_large_responses_stream_through_intact(anon) -> None:
    async with anon.stream("GET", "/api/v1/echo/big") as response:
        assert response.status_code == 200
        size = 0
        async for chunk in response.aiter_bytes():
            assert set(chunk) <= {ord("x")}
            size += len(chunk)
    assert size == 16 * 65536


async def test_a_caller_leaving_mid_stream_does_not_leak_the_upstream_connection(stage: Stage) -> None:
    port = int(stage.gateway.url.rsplit(":", 1)[1])
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /api/v1/echo/big HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.read(1024)  # the answer has started; hang up
        writer.close()
    async with stage.gateway.client() as client:
        assert (await client.get("/api/v1/echo/after")).status_code == 200


async def test_unknown_service_is_a_404_problem(anon) -> None:
    for path in ("/api/v1/nosuch/thing", "/api/v1/nosuch", "/api/v1/admin/nosuch"):
        response = await anon.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == PROBLEM


async def test_hanging_upstream_gives_504_then_the_pool_recovers(stage: Stage, anon) -> None:
    slow = await anon.get("/api/v1/hang/slow")
    assert slow.status_code == 504, slow.text
    assert slow.headers["content-type"] == PROBLEM and slow.json()["code"] == "upstream_timeout"
    fast = await anon.get("/api/v1/hang/fast")
    assert fast.status_code == 200 and fast.json() == {"ok": True}
    concurrent = await asyncio.gather(*(anon.get("/api/v1/hang/fast") for _ in range(10)))
    assert all(r.status_code == 200 for r in concurrent)


async def test_down_upstream_gives_502(anon) -> None:
    for _ in range(2):
        response = await anon.get("/api/v1/down/anything")
        assert response.status_code == 502, response.text
        assert response.headers["content-type"] == PROBLEM and response.json()["code"] == "upstream_unavailable"


async def test_a_10_mb_body_is_refused_with_413(anon) -> None:
    response = await anon.post("/api/v1/echo/upload", content=b"0" * (10 * 1024 * 1024), headers={"content-type": "application/octet-stream"})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


async def test_proxy_metrics_are_exported(anon) -> None:
    await anon.get("/api/v1/echo/metrics-probe")
    metrics = (await anon.get("/metrics")).text
    assert 'gateway_upstream_responses_total{service="echo",status="200"}' in metrics
    assert 'gateway_upstream_responses_total{service="hang",status="timeout"}' in metrics or "gateway_upstream_duration_seconds" in metrics


async def test_the_library_transport_behaves_the_same(library_gateway, admin_token: str) -> None:
    async with library_gateway.client(headers={"Authorization": f"Bearer {admin_token}"}) as client:
        echoed = await client.post("/api/v1/echo/p", params={"name": "王𠮷"}, json={"name": "王𠮷"}, headers={"Connection": "X-Custom", "X-Custom": "1"})
        assert echoed.status_code == 200 and echoed.json()["query_string"] == "name=" + quote("王𠮷")
        assert json.loads(echoed.json()["body"]) == {"name": "王𠮷"} and "x-custom" not in upstream_headers(echoed)
        assert (await client.get("/api/v1/hang/slow")).json()["code"] == "upstream_timeout"
        assert (await client.get("/api/v1/hang/fast")).status_code == 200
        assert (await client.get("/api/v1/down/x")).json()["code"] == "upstream_unavailable"
        async with client.stream("GET", "/api/v1/echo/big") as big:
            assert sum([len(c) async for c in big.aiter_bytes()]) == 16 * 65536


async def test_a_streamed_request_body_of_unknown_length_arrives_whole(anon) -> None:
    # DELETE is not buffered by the body guard: the body goes upstream as it arrives, chunked.
    async def chunks():
        for i in range(64):
            yield bytes([97 + i % 26]) * 16384

    response = await anon.request("DELETE", "/api/v1/echo/stream", content=chunks())
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["method"] == "DELETE"
    assert echoed["body"] == "".join(chr(97 + i % 26) * 16384 for i in range(64))
    seen = upstream_headers(response)
    assert seen["transfer-encoding"] == ["chunked"] and "content-length" not in seen


async def test_head_keeps_the_length_and_sends_no_body(anon) -> None:
    head = await anon.head("/api/v1/echo/same")
    assert head.status_code == 200 and head.content == b""
    # The upstream's answer to HEAD announces the length its GET body would have.
    assert head.headers["content-type"] == "application/json" and int(head.headers["content-length"]) > 100
    again = await anon.get("/api/v1/echo/same")
    assert again.status_code == 200 and again.json()["method"] == "GET"


# --- keep-alive connections the upstream has closed (gateway/transport.py H1Pool) ---------------


def _seen(stage: Stage, path: str) -> list[int]:
    """The connections on which the ``closing`` upstream read a request for ``path``."""
    return [conn for conn, _, seen in stage.closing.seen if seen == path]


async def test_a_connection_answered_with_connection_close_is_not_reused(stage: Stage, anon) -> None:
    first = await anon.get("/api/v1/closing/a/close-header")
    assert first.status_code == 200, first.text
    conn = first.json()["conn"]
    # The upstream keeps that socket open and would never answer on it: a reuse would be a 504.
    following = await anon.get("/api/v1/closing/a/after-close-header")
    assert following.status_code == 200, following.text
    assert following.json()["conn"] != conn
    assert [c for c, _, _ in stage.closing.seen].count(conn) == 1


async def test_no_502_after_the_upstream_closed_the_connection_behind_its_answer(anon) -> None:
    # POST without Idempotency-Key: never retried, so it only succeeds if the closed connection
    # (EOF right after the answer) was not handed out again.
    for i in range(20):
        closed = await anon.get(f"/api/v1/closing/b{i}/close-after")
        assert closed.status_code == 200, closed.text
        posted = await anon.post(f"/api/v1/closing/b{i}/create", json={"i": i})
        assert posted.status_code == 200, posted.text
        assert posted.json()["conn"] != closed.json()["conn"]


async def test_no_502_from_uvicorn_closing_after_an_unhandled_exception(anon) -> None:
    # The newcomer's case: a 500 from an exception, then good requests (relief never got some).
    for i in range(20):
        assert (await anon.get("/api/v1/crash/boom")).status_code == 500
        posted = await anon.post("/api/v1/crash/cases", json={"i": i})
        assert posted.status_code == 200, posted.text
        assert json.loads(posted.json()["body"]) == {"i": i}
        assert (await anon.get("/api/v1/crash/boom")).status_code == 500
        assert (await anon.get("/api/v1/crash/cases")).status_code == 200


async def test_a_repeatable_request_is_retried_once_on_a_fresh_connection(stage: Stage, anon) -> None:
    requests = [("GET", {}), ("HEAD", {}), ("OPTIONS", {}), ("PUT", {"content": b'{"a":1}'}), ("DELETE", {}),
                ("POST", {"content": b'{"a":1}', "headers": {"Idempotency-Key": "k-retry-1"}})]
    for method, kwargs in requests:
        path = f"/api/v1/closing/c-{method}/x"
        primed = await anon.get(f"/api/v1/closing/c-{method}/drop-next")
        assert primed.status_code == 200
        # The most recently released connection is taken first: the one about to drop.
        response = await anon.request(method, path, **kwargs)
        assert response.status_code == 200, (method, response.text)
        seen = _seen(stage, path)
        assert len(seen) == 2 and seen[0] == primed.json()["conn"] != seen[1], method
        if method not in ("HEAD", "OPTIONS", "DELETE", "GET"):
            assert response.json()["body"] == '{"a":1}'


async def test_a_post_without_idempotency_key_is_never_sent_twice(stage: Stage, anon) -> None:
    await anon.get("/api/v1/closing/d/drop-next")
    response = await anon.post("/api/v1/closing/d/create", json={"amount": "800.00"})
    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == PROBLEM and response.json()["code"] == "upstream_unavailable"
    assert len(_seen(stage, "/api/v1/closing/d/create")) == 1  # the upstream may have acted on it: not again


async def test_no_retry_once_answer_bytes_arrived(stage: Stage, anon) -> None:
    await anon.get("/api/v1/closing/e/half-next")
    response = await anon.get("/api/v1/closing/e/read")
    assert response.status_code == 502, response.text
    assert len(_seen(stage, "/api/v1/closing/e/read")) == 1
    assert (await anon.get("/api/v1/closing/e/again")).status_code == 200
