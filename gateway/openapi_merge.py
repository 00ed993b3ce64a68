"""The merged OpenAPI document (``GET /openapi.json``) and the Swagger UI page (``GET /docs``).

The gateway's own routes plus each upstream's ``/openapi.json``. Paths are kept as they are (a
service mounts under ``/api/v1/<service>/``; anything else an upstream lists is ignored, so it
cannot claim the gateway's paths). An upstream's components are renamed ``<service>.<Name>``
(every ``$ref`` rewritten), so two services' ``Page_CaseOut_`` or ``HTTPValidationError`` never
collide. An upstream that does not answer is skipped and named in ``x-unavailable``. The result is
cached for ``openapi_cache_seconds`` (a partial one for at most 5 s).
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Any

import httpx
import structlog
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.upstreams import Upstream

log = structlog.get_logger("gateway.openapi")
router = APIRouter()
_FETCH_TIMEOUT = 15.0  # an upstream builds its schema on first request; slow on a busy host
_PARTIAL_CACHE_SECONDS = 5.0
# Component kinds that are referenced by $ref (securitySchemes are referenced by name).
_REF_KINDS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "links", "callbacks", "pathItems")

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
    "oauth2": {
        "type": "oauth2",
        "flows": {
            "password": {"tokenUrl": "/oauth/token", "scopes": {}},
            "clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}},
        },
    },
}


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    """A copy of ``node`` with every ``$ref`` found in ``renames`` replaced."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = renames.get(value, value)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def _rename_security(node: Any, renames: dict[str, str]) -> Any:
    """Security requirement lists with renamed scheme names."""
    return [{renames.get(name, name): scopes for name, scopes in req.items()} for req in node]


def merge_service(merged: dict[str, Any], service: str, doc: dict[str, Any]) -> None:
    """Add upstream ``service``'s document ``doc`` to ``merged`` (in place)."""
    prefix = f"/api/v1/{service}"
    components = doc.get("components") or {}
    renames: dict[str, str] = {}
    for kind in _REF_KINDS:
        for name in components.get(kind) or {}:
            renames[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{service}.{name}"
    target = merged.setdefault("components", {})
    for kind in _REF_KINDS:
        for name, value in (components.get(kind) or {}).items():
            target.setdefault(kind, {})[f"{service}.{name}"] = _rewrite_refs(value, renames)
    scheme_renames: dict[str, str] = {}
    schemes = target.setdefault("securitySchemes", {})
    for name, scheme in (components.get("securitySchemes") or {}).items():
        if name in schemes and schemes[name] != scheme:
            scheme_renames[name] = f"{service}.{name}"
        schemes[scheme_renames.get(name, name)] = scheme
    paths = merged.setdefault("paths", {})
    for path, item in (doc.get("paths") or {}).items():
        if not (path == prefix or path.startswith(prefix + "/")):
            continue
        item = _rewrite_refs(item, renames)
        if scheme_renames:
            for operation in item.values():
                if isinstance(operation, dict) and "security" in operation:
                    operation["security"] = _rename_security(operation["security"], scheme_renames)
        paths[path] = item
    known = {t["name"] for t in merged.get("tags", [])}
    for tag in doc.get("tags") or []:
        if tag.get("name") not in known:
            merged.setdefault("tags", []).append(tag)
            known.add(tag.get("name"))


async def _fetch(upstream: Upstream) -> dict[str, Any] | None:
    try:
        response = await upstream.client.get("/openapi.json", timeout=_FETCH_TIMEOUT)
        if response.is_success:
            doc = response.json()
            if isinstance(doc, dict):
                return doc
        log.warning("gateway.openapi.upstream_refused", service=upstream.name, status=response.status_code)
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("gateway.openapi.upstream_unavailable", service=upstream.name, error=type(exc).__name__)
    return None


class MergedOpenAPI:
    """Builds and caches the merged document of one gateway app."""

    def __init__(self, cache_seconds: float) -> None:
        self.cache_seconds = cache_seconds
        self._doc: dict[str, Any] | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def document(self, request: Request) -> dict[str, Any]:
        if self._doc is not None and time.monotonic() < self._expires:
            return self._doc
        async with self._lock:
            if self._doc is not None and time.monotonic() < self._expires:
                return self._doc
            doc = await self._build(request)
            ttl = self.cache_seconds if not doc.get("x-unavailable") else min(self.cache_seconds, _PARTIAL_CACHE_SECONDS)
            self._doc, self._expires = doc, time.monotonic() + ttl
            return doc

    async def _build(self, request: Request) -> dict[str, Any]:
        app = request.app
        merged = copy.deepcopy(app.openapi())
        merged["info"] = {
            "title": "Quangang social assistance API",
            "version": app.version,
            "description": "Every service of the suite through its gateway. Sign in at /oauth/token.",
        }
        merged["servers"] = [{"url": app.state.settings.base_url}]
        merged.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        upstreams: dict[str, Upstream] = app.state.upstreams
        docs = await asyncio.gather(*(_fetch(u) for u in upstreams.values()))
        unavailable = []
        for name, doc in zip(upstreams, docs, strict=True):
            if doc is None:
                unavailable.append(name)
            else:
                merge_service(merged, name, doc)
        merged["x-unavailable"] = unavailable
        return merged


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> JSONResponse:
    """The merged OpenAPI document of the whole suite."""
    doc = await request.app.state.merged_openapi.document(request)
    return JSONResponse(doc, headers={"Cache-Control": "public, max-age=30"})


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI on the merged document."""
    return get_swagger_ui_html(openapi_url="/openapi.json", title="Quangang social assistance API")
