"""The KPI report's CSV (gateway/reports/export.py): text cells a spreadsheet would run as a formula
are '-prefixed (H2, OWASP CSV injection); the figures are written exactly as in the JSON."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from gateway.reports.export import HEADER, report_csv
from gateway.reports.schemas import Area, Kpi, KpiReport


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://evil.example\")", "+1", "-1", "@SUM(A1)"])
def test_text_cells_are_prefixed_and_figures_kept(name: str) -> None:
    kpi = Kpi(id="dibao_coverage", label=name, rule="R-KPI-1", value="-2.35", unit="percent", numerator="-47",
              denominator="2000", target="1.00", comparison=">=", met=False)
    report = KpiReport(year=2020, generated_at=datetime(2020, 12, 31, 10, tzinfo=UTC), sources={"eligibility": "ok"},
                       areas=[Area(code="350505100", name=name, level="town", kpis=[kpi])])
    text = report_csv(report)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == list(HEADER)
    assert rows[1] == ["2020", "350505100", "'" + name, "town", "dibao_coverage", "'" + name, "R-KPI-1", "-2.35", "percent",
                       "-47", "2000", "1.00", "false"]
