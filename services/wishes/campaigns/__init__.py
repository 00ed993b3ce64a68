"""Campaigns, their village quotas, and wishes from entry to closing (R-MW-1, R-MW-2, R-MW-4)."""
