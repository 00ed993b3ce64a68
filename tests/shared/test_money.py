"""Money in whole fen: parsing, rounding, formatting and the pydantic field types."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from shared.money import (
    FEN,
    MoneyError,
    PositiveYuan,
    SignedYuan,
    Yuan,
    format_yuan,
    parse_wire_yuan,
    parse_yuan,
    round_fen,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("720", "720.00"),
        ("720.5", "720.50"),
        (" 3000.000 ", "3000.00"),
        (720, "720.00"),
        (Decimal("1E+3"), "1000.00"),
        (Decimal("0.10"), "0.10"),
        ("0", "0.00"),
        ("-0", "0.00"),
        ("1000000000", "1000000000.00"),
    ],
)
def test_parse_yuan(value: object, expected: str) -> None:
    result = parse_yuan(value)  # type: ignore[arg-type]
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("3000.005", "sub_fen"),
        (Decimal("0.001"), "sub_fen"),
        (720.0, "not_a_number"),
        (True, "not_a_number"),
        (None, "not_a_number"),
        ("NaN", "not_a_number"),
        ("Infinity", "not_a_number"),
        (Decimal("NaN"), "not_a_number"),
        (Decimal("-Infinity"), "not_a_number"),
        ("1e3", "not_a_number"),
        ("1,000", "not_a_number"),
        ("¥5", "not_a_number"),
        ("", "not_a_number"),
        ("-1", "negative"),
        ("1000000000.01", "too_large"),
    ],
)
def test_parse_yuan_refuses(value: object, code: str) -> None:
    with pytest.raises(MoneyError) as info:
        parse_yuan(value)  # type: ignore[arg-type]
    assert info.value.code == code


def test_parse_yuan_options() -> None:
    assert parse_yuan("-12.5", allow_negative=True) == Decimal("-12.50")
    assert parse_yuan("1" + "0" * 30, max_value=None) == Decimal("1" + "0" * 30)
    with pytest.raises(MoneyError) as info:
        parse_yuan("-5000.01", allow_negative=True, max_value=Decimal("5000"))
    assert info.value.code == "too_large"


def test_round_fen_half_up() -> None:
    assert round_fen(Decimal("1.005")) == Decimal("1.01")
    assert round_fen(Decimal("1.0049")) == Decimal("1.00")
    assert round_fen(Decimal("-1.005")) == Decimal("-1.01")
    assert str(round_fen(7)) == "7.00"
    with pytest.raises(TypeError):
        round_fen(1.5)  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        round_fen(Decimal("NaN"))


def test_format_yuan() -> None:
    assert format_yuan(Decimal("720")) == "720.00"
    assert format_yuan(Decimal("-3.5")) == "-3.50"
    assert format_yuan(Decimal("1E+12")) == "1000000000000.00"
    with pytest.raises(MoneyError) as info:
        format_yuan(Decimal("1.005"))
    assert info.value.code == "sub_fen"


finite_decimals = st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12)
fen_amounts = st.decimals(min_value=0, max_value=10**9, places=2)


@given(finite_decimals)
def test_round_fen_properties(x: Decimal) -> None:
    r = round_fen(x)
    assert round_fen(r) == r
    assert r.as_tuple().exponent >= -2  # type: ignore[operator]
    assert abs(r - x) <= Decimal("0.005")
    assert r == r.quantize(FEN)


@given(fen_amounts)
def test_format_parse_roundtrip(x: Decimal) -> None:
    text = format_yuan(x)
    assert parse_yuan(text) == x
    assert format_yuan(parse_yuan(text)) == text
    assert len(text.split(".")[1]) == 2


class Payment(BaseModel):
    amount: Yuan
    grant: PositiveYuan | None = None
    delta: SignedYuan = Decimal("0")


def test_pydantic_validates_and_serialises() -> None:
    p = Payment.model_validate_json('{"amount": "720", "grant": "3000", "delta": "-1.5"}')
    assert p.amount == Decimal("720.00") and p.grant == Decimal("3000.00") and p.delta == Decimal("-1.50")
    assert p.model_dump_json() == '{"amount":"720.00","grant":"3000.00","delta":"-1.50"}'
    assert p.model_dump(mode="json") == {"amount": "720.00", "grant": "3000.00", "delta": "-1.50"}
    assert p.model_dump()["amount"] == Decimal("720.00")
    # Our own code may hand a Decimal straight in (never parsed from JSON).
    assert Payment(amount=Decimal("720.5")).amount == Decimal("720.50")


@pytest.mark.parametrize(
    ("payload", "field", "code"),
    [
        ('{"amount": "3000.005"}', "amount", "sub_fen"),
        ('{"amount": "3000.000"}', "amount", "sub_fen"),
        ('{"amount": 0.30000000000000004}', "amount", "not_a_string"),
        ('{"amount": 1000}', "amount", "not_a_string"),
        ('{"amount": 720.5}', "amount", "not_a_string"),
        ('{"amount": "1.00\\n"}', "amount", "not_a_number"),
        ('{"amount": " 1.00"}', "amount", "not_a_number"),
        ('{"amount": "+1.00"}', "amount", "not_a_number"),
        ('{"amount": "1e3"}', "amount", "not_a_number"),
        ('{"amount": "-1"}', "amount", "negative"),
        ('{"amount": "1", "delta": "- 1"}', "delta", "not_a_number"),
        ('{"amount": "abc"}', "amount", "not_a_number"),
        ('{"amount": null}', "amount", "not_a_number"),
        ('{"amount": true}', "amount", "not_a_string"),
        ('{"amount": "2000000000"}', "amount", "too_large"),
        ('{"amount": "1", "grant": "0"}', "grant", "not_positive"),
    ],
)
def test_pydantic_error_type_is_the_code(payload: str, field: str, code: str) -> None:
    # FastAPI validates the parsed body (Python mode): both modes must refuse alike.
    for validate in (Payment.model_validate_json, lambda text: Payment.model_validate(json.loads(text))):
        with pytest.raises(ValidationError) as info:
            validate(payload)
        errors = info.value.errors()
        assert [(e["loc"][0], e["type"]) for e in errors] == [(field, code)]


@pytest.mark.parametrize(
    ("value", "code"),
    [(1000, "not_a_string"), (1.5, "not_a_string"), (False, "not_a_string"), ("1.00\n", "not_a_number"),
     (" 1.00", "not_a_number"), ("１", "not_a_number"), ("1.000", "sub_fen"), ("-0.5", "negative"), ([], "not_a_number")],
)
def test_parse_wire_yuan_refuses(value: object, code: str) -> None:
    with pytest.raises(MoneyError) as info:
        parse_wire_yuan(value)
    assert info.value.code == code


def test_parse_wire_yuan_accepts_the_documented_form() -> None:
    assert str(parse_wire_yuan("720")) == "720.00"
    assert str(parse_wire_yuan("720.5")) == "720.50"
    assert str(parse_wire_yuan("0.01")) == "0.01"
    assert str(parse_wire_yuan("-12.50", allow_negative=True)) == "-12.50"
    assert parse_wire_yuan(Decimal("7")) == Decimal("7.00")


def test_json_schema_is_a_decimal_string() -> None:
    schema = Payment.model_json_schema()
    assert schema["properties"]["amount"]["type"] == "string"
    assert Payment.model_json_schema(mode="serialization")["properties"]["amount"]["type"] == "string"
