"""Relief KPIs for the district's one-page report (R-TR-2 SLA compliance, R-TR-4 fund usage)."""
