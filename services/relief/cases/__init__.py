"""Temporary relief cases (临时救助): intake, approval, payment, SLA and paperwork timers."""
