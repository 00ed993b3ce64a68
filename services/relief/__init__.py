"""Temporary relief (临时救助): cases, tiered approval, town reserve funds and the 5-working-day SLA."""
