"""``python -m deploy.migrate <component> <database-url>``: apply the component's migrations."""

import sys

from shared.migrations import upgrade

if __name__ == "__main__":
    upgrade(sys.argv[1], sys.argv[2])
