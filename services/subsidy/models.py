"""Tables of the subsidy service (its own database).

Every table module is imported here so Alembic's autogenerate sees them all, along with the
infrastructure tables every service database holds (outbox/inbox/dead letters, idempotency
records, calendar years).
"""

from sqlalchemy.orm import DeclarativeBase

import shared.calendar_store  # noqa: F401 - infra table calendar_years
import shared.events.models  # noqa: F401 - infra tables outbox/inbox/dead letters
import shared.idempotency  # noqa: F401 - infra table idempotency_records
from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


# Domain tables (imported after Base exists; each module defines its tables on it).
from services.subsidy import audit as _audit  # noqa: E402,F401
from services.subsidy.housing import models as _housing  # noqa: E402,F401
from services.subsidy.parameters import models as _parameters  # noqa: E402,F401
from services.subsidy.price import models as _price  # noqa: E402,F401
from services.subsidy.roster import models as _roster  # noqa: E402,F401
from services.subsidy.runs import models as _runs  # noqa: E402,F401
