"""Tiered approval and the towns' reserve funds (备用金) of temporary relief (R-TR-3, R-TR-4)."""
