"""Apply migrations.

``python -m deploy.migrate <component> <database-url>`` — one component (the launcher uses it).
``python -m deploy.migrate all <server-url>`` — create the six databases if missing and migrate
each (the compose file's one-shot ``migrate`` job).
"""

import asyncio
import sys

from shared.migrations import upgrade


def main(argv: list[str]) -> None:
    component, url = argv[1], argv[2]
    if component != "all":
        upgrade(component, url)
        return
    from deploy.embedded import database_url, ensure_databases
    from deploy.suite import COMPONENTS

    asyncio.run(ensure_databases(url, list(COMPONENTS)))
    for name in COMPONENTS:
        upgrade(name, database_url(url, name))


if __name__ == "__main__":
    main(sys.argv)
