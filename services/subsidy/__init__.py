"""Recurring benefits: rosters, monthly payment runs, cross-checks, bank files and returns."""
