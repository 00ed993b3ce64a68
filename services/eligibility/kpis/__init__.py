"""R-DB-8 KPIs of the eligibility service: dibao coverage and per-capita benefit growth."""
