"""Pure pieces of the gateway: URL building, header filtering, user placement rules."""

from __future__ import annotations

import httpx
import pytest

from gateway.auth.users import check_assignment
from gateway.proxy import response_headers
from gateway.transport import fast_url
from shared.errors import Problem

BASE = httpx.URL("http://127.0.0.1:8101")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (b"/api/v1/x/persons?name=%E7%8E%8B", "http://127.0.0.1:8101/api/v1/x/persons?name=%E7%8E%8B"),
        (b"/api/v1/x/a:evaluate", "http://127.0.0.1:8101/api/v1/x/a:evaluate"),
        ("/api/v1/x/王?n=𠮷 y".encode(), "http://127.0.0.1:8101/api/v1/x/%E7%8E%8B?n=%F0%A0%AE%B7%20y"),
    ],
)
def test_fast_url_matches_httpx(target: bytes, expected: str) -> None:
    url = fast_url(BASE, target)
    assert str(url) == expected
    assert url == httpx.URL(expected)


def test_response_headers_drop_hop_by_hop_and_connection_listed() -> None:
    response = httpx.Response(200, headers=[
        ("Connection", "X-Secret"), ("X-Secret", "1"), ("Keep-Alive", "5"), ("Transfer-Encoding", "chunked"),
        ("Content-Length", "3"), ("Date", "x"), ("X-Request-ID", "r"), ("Content-Type", "text/plain"), ("Set-Cookie", "a=1"),
    ])
    kept = {k.decode().lower() for k, _ in response_headers(response, keep_length=True)}
    assert kept == {"content-length", "content-type", "set-cookie"}
    assert "content-length" not in {k.decode().lower() for k, _ in response_headers(response, keep_length=False)}


def test_check_assignment() -> None:
    assert check_assignment(["village_officer"], None, "350505100001") == ("350505100", "350505100001")
    assert check_assignment(["district_admin"], None, None) == (None, None)
    with pytest.raises(Problem) as refused:
        check_assignment(["town_approver", "village_officer"], None, None)
    assert {e["code"] for e in refused.value.errors} == {"town_required", "village_required"}
    with pytest.raises(Problem):
        check_assignment(["care_worker"], "350505100", "350505100001")  # village only for officers
