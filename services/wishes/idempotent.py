"""Writes protected by ``Idempotency-Key``: the same key and body replay the first answer, the
same key with another body is refused (422 ``idempotency_key_reused``).

The idempotency record commits in the same transaction as the write. Two requests racing with
the same key are serialized by the key's advisory lock (``shared.idempotency``, taken by
``replay`` in that transaction): the second waits for the first to commit, then replays its
answer; if the first rolled back, the second runs itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel

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
    async with uow_factory() as uow:
        if idem is not None:
            replayed = await idem.replay(uow.session)  # waits for a concurrent request with the key
            if replayed is not None:
                status, body = replayed
                return JSONResponse(body, status_code=status, headers={REPLAYED_HEADER: "true"})
        result = await action(uow)
        body = result.model_dump(mode="json")
        if idem is not None:
            idem.record(uow.session, status_code, body)
        await uow.commit()
    if after_commit is not None:
        after_commit()
    return JSONResponse(body, status_code=status_code)
