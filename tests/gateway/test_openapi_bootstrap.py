"""The merged OpenAPI document and docs page, and the first administrator."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
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


def unresolved_refs(doc: dict) -> list[str]:
    """Every ``$ref`` of ``doc`` that does not point at something in ``doc``."""
    refs: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref" and isinstance(value, str):
                    refs.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    missing = []
    for ref in sorted(refs):
        node: object = doc
        for part in ref.removeprefix("#/").split("/") if ref.startswith("#/") else [None]:
            key = part.replace("~1", "/").replace("~0", "~") if part is not None else None
            node = node.get(key) if isinstance(node, dict) and key is not None else None
        if node is None:
            missing.append(ref)
    return missing


async def test_every_ref_of_the_merged_document_resolves(stage: Stage, anon) -> None:
    stage.echo.openapi = ECHO_DOC
    doc = (await anon.get("/openapi.json")).json()
    assert "/api/v1/echo/persons" in doc["paths"]
    assert unresolved_refs(doc) == []
    assert unresolved_refs({"components": {"schemas": {}}, "x": {"$ref": "#/components/schemas/Nowhere"}}) == [
        "#/components/schemas/Nowhere"]


async def test_every_ref_of_the_whole_suites_document_resolves(gateway_url: str) -> None:
    # The real services behind the real gateway: subsidy's CSV-or-JSON bodies (CpiIntakeIn,
    # BankReturnIn) were referenced and never defined, and Swagger UI could not show them.
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        doc = (await client.get("/openapi.json")).json()
    assert doc["x-unavailable"] == []
    assert unresolved_refs(doc) == []
    body = doc["paths"]["/api/v1/subsidy/cpi-figures"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/subsidy.CpiIntakeIn"}
    assert doc["components"]["schemas"]["subsidy.CpiIntakeIn"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/subsidy.CpiRowIn"}
    returns = doc["paths"]["/api/v1/subsidy/bank-returns"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert returns == {"$ref": "#/components/schemas/subsidy.BankReturnIn"}


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
