"""The merged OpenAPI document and docs page, and the first administrator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

from sqlalchemy import delete

from gateway.bootstrap import ensure_admin
from gateway.models import User
from gateway.openapi_merge import merge_service
from shared.db import make_engine, make_sessionmaker
from shared.migrations import upgrade
from tests.gateway.conftest import Stage

ECHO_DOC = {
    "openapi": "3.1.0",
    "info": {"title": "echo", "version": "1"},
    "paths": {
        "/api/v1/echo/persons": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/PersonIn"}}}},
            "responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page_PersonOut_"}}}},
                          "422": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}},
        }},
        "/oauth/token": {"post": {"responses": {"200": {"description": "an upstream may not claim this"}}}},
    },
    "components": {"schemas": {
        "PersonIn": {"type": "object", "properties": {"name": {"type": "string"}}},
        "PersonOut": {"type": "object", "properties": {"name": {"type": "string"}}},
        "Page_PersonOut_": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/PersonOut"}}}},
        "HTTPValidationError": {"type": "object", "properties": {"detail": {"type": "array"}}},
    }},
    "tags": [{"name": "persons"}],
}


async def test_merged_document_has_own_and_upstream_paths_with_prefixed_schemas(stage: Stage, anon) -> None:
    stage.echo.openapi = ECHO_DOC
    response = await anon.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    paths = doc["paths"]
    assert "/oauth/token" in paths and "/api/v1/admin/users" in paths and "/api/v1/calendar/deadline:evaluate" in paths
    assert paths["/oauth/token"]["post"]["responses"].get("200", {}).get("description") != "an upstream may not claim this"
    persons = paths["/api/v1/echo/persons"]["post"]
    assert persons["requestBody"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/echo.PersonIn"
    schemas = doc["components"]["schemas"]
    assert schemas["echo.Page_PersonOut_"]["properties"]["items"]["items"]["$ref"] == "#/components/schemas/echo.PersonOut"
    assert "echo.HTTPValidationError" in schemas and "HTTPValidationError" in schemas  # the gateway's own
    assert "down" in doc["x-unavailable"] and "echo" not in doc["x-unavailable"]
    docs = await anon.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "swagger" in docs.text.lower()


def test_merge_renames_conflicting_security_schemes() -> None:
    merged = {"paths": {}, "components": {"securitySchemes": {"HTTPBearer": {"type": "http", "scheme": "bearer"}}}}
    doc = {
        "paths": {"/api/v1/x/a": {"get": {"security": [{"HTTPBearer": []}], "responses": {}}}},
        "components": {"securitySchemes": {"HTTPBearer": {"type": "apiKey", "in": "header", "name": "k"}}},
    }
    merge_service(merged, "x", doc)
    assert merged["paths"]["/api/v1/x/a"]["get"]["security"] == [{"x.HTTPBearer": []}]
    assert merged["components"]["securitySchemes"]["HTTPBearer"]["type"] == "http"


async def test_ensure_admin_creates_the_administrator_once(databases) -> None:
    url = await databases.create("gwboot")
    await asyncio.to_thread(upgrade, "gateway", url)
    engine = make_engine(url, pool_size=1)
    try:
        sessions = make_sessionmaker(engine)
        password = await ensure_admin(sessions, None)
        assert password is not None and len(password) >= 16
        assert await ensure_admin(sessions, "another-password") is None
        async with sessions() as session:
            await session.execute(delete(User).where(User.username == "admin"))
            await session.commit()
    finally:
        await engine.dispose()
    # The command line prints the credential it created, once.
    env = {**os.environ, "GATEWAY_DATABASE_URL": url, "ADMIN_PASSWORD": f"pw-{uuid.uuid4().hex[:8]}"}
    run = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "gateway.bootstrap"], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert env["ADMIN_PASSWORD"] in run.stdout and "admin" in run.stdout
