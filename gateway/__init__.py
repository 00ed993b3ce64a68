"""The gateway: the suite's one public entry (auth, routing, rate limits, docs, clock, calendar)."""
