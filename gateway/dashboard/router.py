"""The staff dashboard (工作看板): ``GET /dashboard`` and its script and style sheet.

One static page served by the gateway, in Chinese. Its script signs the user in through
``POST /oauth/token`` (password grant; the token is kept in ``sessionStorage`` of the tab) and then
reads, with that token, only what the API offers every client:

- ``GET /api/v1/admin/clock`` — the demo clock, whose year (Asia/Shanghai) is the default year;
- ``GET /api/v1/reports/kpis?year=`` — the KPI report (POLICY.md, "KPIs on one page"), shown as a
  table per area (district first, then the towns) with target and 达标/未达标, and as bar charts;
- ``GET /api/v1/relief/cases?sla_state=at_risk|breached`` — relief cases at risk or past the
  R-TR-2 deadline at the clock's now, whatever their year (a warning list: the year selector
  does not apply to it; no applicant data shown);
- ``GET /api/v1/subsidy/runs?year=`` — the payment runs of the selected year (aggregates only).

Every figure on the page carries ``data-kpi="<area_code>:<kpi_id>"`` and ``data-field`` (``value``,
``numerator``, ``denominator``, ``target``, ``met``) with the API's raw value in ``data-raw``;
case and run rows carry ``data-testid`` and their id. The page holds no personal data: the
server sends the same bytes to everyone, and the script never shows names, ID numbers, phones
or addresses.

The page needs no login to load (the data does). It is sent with a strict Content-Security-Policy
(scripts, styles and requests from the gateway itself only; no inline script or style; no
framing), so an injected string can neither run nor leave the page.
"""

from __future__ import annotations

import hashlib
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["dashboard"])

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    # The sign-in form is sent by the script; a form that would be submitted natively (script
    # not loaded) must not put the password in a URL.
    "form-action 'none'",
    "frame-ancestors 'none'",
])
_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def _read(name: str) -> bytes:
    return resources.files("gateway.dashboard").joinpath(name).read_bytes()


def _version(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:12]


_SCRIPT = _read("dashboard.js")
_STYLE = _read("dashboard.css")
# The asset URLs carry a hash of their content, so a changed file is never served from a cache.
_PAGE = (
    _read("index.html").decode("utf-8")
    .replace("{{script_version}}", _version(_SCRIPT))
    .replace("{{style_version}}", _version(_STYLE))
    .encode("utf-8")
)


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> Response:
    """The dashboard page (text/html; no login needed to load it, the data needs a staff token)."""
    return Response(
        _PAGE, media_type="text/html; charset=utf-8",
        headers={**_COMMON_HEADERS, "Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


@router.get("/dashboard/static/dashboard.js", include_in_schema=False)
async def dashboard_script() -> Response:
    """The page's script (no third-party code: the charts are SVG it draws itself)."""
    return Response(
        _SCRIPT, media_type="text/javascript; charset=utf-8",
        headers={**_COMMON_HEADERS, "Cache-Control": "public, max-age=86400"},
    )


@router.get("/dashboard/static/dashboard.css", include_in_schema=False)
async def dashboard_style() -> Response:
    """The page's style sheet."""
    return Response(
        _STYLE, media_type="text/css; charset=utf-8",
        headers={**_COMMON_HEADERS, "Cache-Control": "public, max-age=86400"},
    )
