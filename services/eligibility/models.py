"""Tables of the eligibility service (its own database).

``Base`` is declared first; the table modules of each domain area are imported at the bottom so
Alembic (``migrations/env.py`` imports this module) sees every table, together with the
infrastructure tables every service database holds (outbox, inbox, dead letters, idempotency
records, loaded calendar years).
"""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


# Every table module, so that importing this module registers them all.
import shared.calendar_store  # noqa: E402,F401
import shared.events.models  # noqa: E402,F401
import shared.idempotency  # noqa: E402,F401
from services.eligibility.decisions import models as _decisions  # noqa: E402,F401
from services.eligibility.departments import models as _departments  # noqa: E402,F401
from services.eligibility.monitoring import models as _monitoring  # noqa: E402,F401
from services.eligibility.parameters import models as _parameters  # noqa: E402,F401
from services.eligibility.registry import models as _registry  # noqa: E402,F401
from services.eligibility.workflow import models as _workflow  # noqa: E402,F401
