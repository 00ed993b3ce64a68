"""Versioned policy parameters of the wishes service (pledge_days, village_quota)."""
