"""Tables of the wishes service (its own database).

``Base`` is defined first; the table modules of every domain area are imported at the bottom so
that Alembic (and anyone importing this module) sees every table, together with the
infrastructure tables every service database holds (outbox, inbox, dead letters, idempotency
records, calendar years).
"""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


# Every table module (after Base exists) and the shared infrastructure tables.
import shared.calendar_store  # noqa: E402,F401
import shared.events.models  # noqa: E402,F401
import shared.idempotency  # noqa: E402,F401
from services.wishes.campaigns import models as _campaigns  # noqa: E402,F401
from services.wishes.families import models as _families  # noqa: E402,F401
from services.wishes.pairings import models as _pairings  # noqa: E402,F401
from services.wishes.parameters import models as _parameters  # noqa: E402,F401
from services.wishes.pledges import models as _pledges  # noqa: E402,F401
