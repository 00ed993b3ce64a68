"""Donors, pledges and their expiry (R-MW-3, R-MW-4)."""
