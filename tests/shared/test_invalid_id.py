"""A malformed id gives 422 ``invalid_id`` in every service (relief's convention), not pydantic's
``uuid_parsing``."""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import BaseModel

from shared.errors import install_problem_handlers


class Link(BaseModel):
    household_id: uuid.UUID


async def test_malformed_uuid_is_invalid_id() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/households/{household_id}")
    async def get(household_id: uuid.UUID) -> dict:
        return {"id": str(household_id)}

    @app.post("/links")
    async def post(link: Link) -> dict:
        return {"id": str(link.household_id)}

    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        for response in (await client.get("/households/not-a-uuid"),
                         await client.post("/links", json={"household_id": "x"}),
                         await client.post("/links", json={"household_id": 12})):
            assert response.status_code == 422
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "invalid_id"
            assert response.json()["errors"][0]["code"] == "invalid_id"
        good = str(uuid.uuid4())
        assert (await client.get(f"/households/{good}")).json() == {"id": good}
