"""Versioned policy parameters (POLICY.md: "Policy is data"): defaults seeded by a migration,
read by anyone authenticated, changed by the district administrator through the API."""
