"""Versioned policy parameters of the relief service (R-TR-2..5): numbers are data, not code."""
