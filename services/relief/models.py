"""Tables of the relief service (its own database).

``Base`` is defined first; the table modules of each domain area are imported at the bottom so
that Alembic (``migrations/env.py`` imports this module) sees every table, together with the
infrastructure tables every service database holds (outbox/inbox/dead letters, idempotency
records, loaded calendar years).
"""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


# Every table module, so Base.metadata is complete whoever imports this first.
import shared.calendar_store  # noqa: E402,F401 - calendar_years
import shared.events.models  # noqa: E402,F401 - outbox, inbox, dead letters
import shared.idempotency  # noqa: E402,F401 - idempotency_records
from services.relief import audit  # noqa: E402,F401
from services.relief.cases import models as _cases  # noqa: E402,F401
from services.relief.funds import models as _funds  # noqa: E402,F401
from services.relief.parameters import models as _parameters  # noqa: E402,F401
from services.relief.registry import models as _registry  # noqa: E402,F401
