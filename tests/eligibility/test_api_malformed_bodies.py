"""Bodies the eligibility intakes parse themselves (JSON or CSV batches) that cannot be parsed are
400 problems with a stable code, never a 500, and store nothing: JSON nested deeper than Python's
stack (``malformed_json``), a CSV field over the csv module's 131,072-character limit
(``malformed_csv``). Through the gateway, with the suite's own clients."""

from __future__ import annotations

import pytest

from tests.eligibility.conftest import TOWN_A, new_id_number

E = "/api/v1/eligibility"
DEEP_JSON = b'{"rows": ' + b"[" * 5000 + b"]" * 5000 + b"}"
HUGE_FIELD = "x" * 131_073


def _problem(response, status: int, code: str) -> None:  # noqa: ANN001
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


@pytest.mark.parametrize(("who", "path"), [
    ("public_security", f"{E}/departments/deaths"),
    ("caseworker_a", f"{E}/households:bulk"),
])
async def test_json_nested_too_deep_is_400_malformed_json(clients, who: str, path: str) -> None:
    body = DEEP_JSON if "departments" in path else DEEP_JSON.replace(b'"rows"', b'"households"')
    response = await clients[who].post(path, content=body, headers={"Content-Type": "application/json"})
    _problem(response, 400, "malformed_json")


async def test_department_csv_with_an_oversized_field_is_400_malformed_csv(clients) -> None:
    csv_text = f"id_number,died_on,reference\n350505198001011234,2020-08-01,{HUGE_FIELD}\n"
    response = await clients["public_security"].post(f"{E}/departments/deaths", content=csv_text.encode(),
                                                      headers={"Content-Type": "text/csv"})
    _problem(response, 400, "malformed_csv")


async def test_bulk_csv_with_an_oversized_field_is_400_and_stores_nothing(clients) -> None:
    good = new_id_number()
    csv_text = (
        "household_ref,town,village,address,id_number,name,relation\n"
        f"h1,{TOWN_A},350505100002,沙格村1号,{good},陈一,head\n"
        f"h2,{TOWN_A},350505100002,{HUGE_FIELD},{new_id_number()},陈二,head\n"
    )
    response = await clients["caseworker_a"].post(f"{E}/households:bulk", content=csv_text.encode(),
                                                  headers={"Content-Type": "text/csv"})
    _problem(response, 400, "malformed_csv")
    found = (await clients["caseworker_a"].get(f"{E}/persons", params={"id_number": good})).json()["items"]
    assert found == []  # the readable first household was not registered either
