"""Tables of the care service (its own database).

``Base`` is the declarative base of every care table; :func:`import_all` imports each domain
area's table module so Alembic and the app see the whole schema (plus the infrastructure tables
every service database holds: outbox, inbox, dead letters, idempotency records, calendar years).
"""

from sqlalchemy.orm import DeclarativeBase

from shared.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


def import_all() -> None:
    """Register every table on the metadata (idempotent)."""
    import shared.calendar_store  # noqa: F401
    import shared.events.models  # noqa: F401
    import shared.idempotency  # noqa: F401
    from services.care.devices import models as _devices  # noqa: F401
    from services.care.dispersed import models as _dispersed  # noqa: F401
    from services.care.leftbehind import models as _leftbehind  # noqa: F401
    from services.care.parameters import models as _parameters  # noqa: F401
    from services.care.persons import models as _persons  # noqa: F401
    from services.care.pilots import models as _pilots  # noqa: F401
    from services.care.placement import models as _placement  # noqa: F401
    from services.care.selfcare import models as _selfcare  # noqa: F401
    from services.care.visits import models as _visits  # noqa: F401


import_all()
