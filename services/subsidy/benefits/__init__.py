"""Monthly amounts of the recurring benefits the roster pays (dibao, tekun, orphans, veterans)."""
