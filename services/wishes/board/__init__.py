"""The public wish board (no login) and the campaign's progress (R-MW-2)."""
