"""The gateway's own reports (``/api/v1/reports``): the KPI report merged from the five services'
KPI endpoints, and the household assistance chain projected from their events."""
