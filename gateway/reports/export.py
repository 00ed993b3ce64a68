"""The KPI report as CSV (``format=csv``): UTF-8 with a BOM, so Excel opens the Chinese labels.

One row per area × KPI in the JSON order, under the header :data:`HEADER`; a null is an empty
field, ``met`` is ``true`` / ``false`` / empty. The text columns (area, KPI id, label, rule,
unit) pass through :func:`shared.csvcells.safe_cell` against spreadsheet formula injection; the
decimal strings (``value``, ``numerator``, ``denominator``, ``target``) are our own figures and
are written as they are, so a negative figure stays a number.
"""

from __future__ import annotations

import csv
import io

from gateway.reports.schemas import KpiReport
from shared.csvcells import safe_cell

HEADER = ("year", "area_code", "area_name", "level", "kpi", "label", "rule", "value", "unit",
          "numerator", "denominator", "target", "met")
BOM = "\ufeff"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def report_csv(report: KpiReport) -> str:
    """The CSV text of ``report`` (BOM first, CRLF line ends as RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for area in report.areas:
        for kpi in area.kpis:
            text = [safe_cell(v) for v in (area.code, area.name, area.level, kpi.id, kpi.label, kpi.rule)]
            writer.writerow([_cell(v) for v in (
                report.year, *text, kpi.value, safe_cell(kpi.unit),
                kpi.numerator, kpi.denominator, kpi.target, kpi.met,
            )])
    return BOM + out.getvalue()
