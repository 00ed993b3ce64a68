"""Writes protected by ``Idempotency-Key``: the same key and body replay the first answer, the
same key with another body is refused (422 ``idempotency_key_reused``).

The idempotency record commits in the same transaction as the write. Two requests racing with
the same key: the loser's commit fails on the record's primary key, and it then replays the
winner's answer instead of writing twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from shared.db import UnitOfWork
from shared.idempotency import Idempotency

REPLAYED_HEADER = "Idempotent-Replayed"


async def idempotent_write(
    uow_factory: Callable[[], UnitOfWork],
    *,
    key: str | None,
    scope: str,
    payload: Any,
    status_code: int,
    action: Callable[[UnitOfWork], Awaitable[BaseModel]],
    after_commit: Callable[[], None] | None = None,
) -> JSONResponse:
    """Run ``action`` in a unit of work and commit it with its idempotency record.

    ``action(uow)`` returns the response model; a Problem it raises is answered as usual and
    nothing is stored (no record either: the caller may retry with the same key). ``payload``
    (the request body as JSON, or a callable giving it) is only used when there is a ``key``.
    """
    # Without a key there is nothing to replay or record (and no body hash to compute).
    idem = Idempotency(key, scope=scope, payload=payload() if callable(payload) else payload) if key is not None else None
    for attempt in range(2):
        async with uow_factory() as uow:
            if idem is not None:
                replayed = await idem.replay(uow.session)
                if replayed is not None:
                    status, body = replayed
                    return JSONResponse(body, status_code=status, headers={REPLAYED_HEADER: "true"})
            result = await action(uow)
            body = result.model_dump(mode="json")
            if idem is not None:
                idem.record(uow.session, status_code, body)
            try:
                await uow.commit()
            except IntegrityError:
                if idem is None or attempt:
                    raise
                continue  # a concurrent request with the same key committed first: replay it
            if after_commit is not None:
                after_commit()
            return JSONResponse(body, status_code=status_code)
    raise AssertionError("unreachable")  # pragma: no cover
