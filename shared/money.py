"""Money: ``Decimal`` yuan in whole fen (0.01 yuan); never float (POLICY: money is stored exactly).

- :func:`parse_yuan` turns outside input into an exact two-place ``Decimal`` or refuses it.
- :func:`round_fen` rounds a computed amount half-up to the fen (e.g. R-PS amounts).
- :func:`format_yuan` gives the API's wire form, a string with two places (``"720.00"``).
- :func:`parse_wire_yuan` is the API contract (API.md): a JSON *string* matching
  ``^\d+(\.\d{1,2})?$`` (``-`` allowed where negative amounts are), nothing else.
- :data:`Yuan` / :data:`PositiveYuan` are pydantic v2 field types applying that contract, whose
  errors surface as pydantic errors typed by the ``MoneyError`` code (``not_a_string``,
  ``sub_fen`` …), so a 422 names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Annotated, Any, Literal

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

FEN = Decimal("0.01")
MAX_YUAN = Decimal("1000000000")  # default ceiling: no single figure in the suite comes near 1e9 yuan

MoneyErrorCode = Literal["sub_fen", "not_a_number", "negative", "too_large", "not_positive", "not_a_string"]

# Plain decimal notation only: no exponent, thousands separators or currency signs.
_PLAIN_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
# The wire form (API.md): digits, an optional "-", a point and decimals; no white space, no "+".
_WIRE_DECIMAL = re.compile(r"-?[0-9]+(\.([0-9]+))?")


class MoneyError(ValueError):
    """Refused money input; ``code``: sub_fen, not_a_number, negative, too_large (not_positive
    only from :data:`PositiveYuan`, not_a_string only from :func:`parse_wire_yuan`)."""

    def __init__(self, code: MoneyErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: MoneyErrorCode = code
        self.message = message


def parse_yuan(
    value: str | int | Decimal,
    *,
    allow_negative: bool = False,
    max_value: Decimal | None = MAX_YUAN,
) -> Decimal:
    """Exact yuan from a string, int or Decimal, quantized to two places (``"720"`` -> 720.00).

    Strings must be plain decimals (``"-12.5"``, ``"3000.000"``); trailing zeros beyond the fen are
    fine since the value is still whole fen. ``max_value`` bounds the absolute value (None: no
    bound). Raises :class:`MoneyError` with code ``not_a_number`` (float, bool, other types, NaN,
    Infinity, malformed string), ``negative`` (below 0 unless ``allow_negative``), ``too_large``
    (above ``max_value``) or ``sub_fen`` (not a whole number of fen, e.g. ``"3000.005"``).
    """
    amount = _to_decimal(value)
    if amount < 0 and not allow_negative:
        raise MoneyError("negative", f"amount must not be negative: {value}")
    if max_value is not None and abs(amount) > max_value:
        raise MoneyError("too_large", f"amount exceeds {format_yuan(max_value)} yuan")
    if not _is_whole_fen(amount):
        raise MoneyError("sub_fen", f"amount must be whole fen (at most 2 decimal places): {value}")
    return _quantize(amount, FEN)


def parse_wire_yuan(value: object, *, allow_negative: bool = False) -> Decimal:
    """Yuan from an API request: the decimal *string* of API.md, ``"720"``, ``"720.5"``, ``"720.00"``.

    A ``Decimal`` (built by our own code, never parsed from JSON) is accepted as by
    :func:`parse_yuan`. Raises :class:`MoneyError`: ``not_a_string`` (a JSON number or boolean —
    a float loses fen, and the contract is a string), ``not_a_number`` (anything but ``-?digits``
    with an optional point and decimals: white space, ``+``, exponents, separators), ``sub_fen``
    (more than two decimal places, even zeros), ``negative``, ``too_large`` as :func:`parse_yuan`.
    """
    if isinstance(value, Decimal):
        return parse_yuan(value, allow_negative=allow_negative)
    if isinstance(value, (bool, int, float)):
        raise MoneyError("not_a_string", 'money is a decimal string such as "720.00", not a JSON number')
    if not isinstance(value, str):
        raise MoneyError("not_a_number", f"{type(value).__name__} is not an amount")
    match = _WIRE_DECIMAL.fullmatch(value) if value.isascii() else None
    if match is None:
        raise MoneyError("not_a_number", f'not a decimal amount such as "720.00": {value!r}')
    if match.group(2) is not None and len(match.group(2)) > 2:
        raise MoneyError("sub_fen", f"amount must have at most 2 decimal places: {value}")
    return parse_yuan(value, allow_negative=allow_negative)


def round_fen(value: Decimal | int) -> Decimal:
    """Round half-up to the fen (ROUND_HALF_UP): 1.005 -> 1.01, -1.005 -> -1.01; two places.

    Raises TypeError for a float (it is already inexact) and MoneyError ``not_a_number`` for NaN
    or Infinity.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"round_fen expects Decimal or int, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise MoneyError("not_a_number", f"not a finite amount: {value}")
    return _quantize(amount, FEN, ROUND_HALF_UP)


def format_yuan(value: str | int | Decimal) -> str:
    """The wire form, a plain string with exactly two places: ``Decimal("720") -> "720.00"``.

    Never rounds (round with :func:`round_fen` first): raises MoneyError as :func:`parse_yuan`
    does (negative amounts and any size allowed).
    """
    amount = parse_yuan(value, allow_negative=True, max_value=None)
    return format(amount, "f")  # "f" avoids exponent notation for large or tiny values


def _to_decimal(value: object) -> Decimal:
    # bool is an int subclass; JSON true is not an amount.
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError("not_a_number", f"{type(value).__name__} is not an exact amount; use a decimal string")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise MoneyError("not_a_number", f"not a finite amount: {value}")
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text.isascii() or _PLAIN_DECIMAL.fullmatch(text) is None:
            raise MoneyError("not_a_number", f"not a decimal amount: {value!r}")
        return Decimal(text)
    raise MoneyError("not_a_number", f"{type(value).__name__} is not an amount")


def _is_whole_fen(amount: Decimal) -> bool:
    # Exact test on the digits, no arithmetic: every digit past the second decimal place is 0.
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # finite, checked by the caller
    extra = -exponent - 2
    return extra <= 0 or all(d == 0 for d in digits[-extra:])


def _quantize(amount: Decimal, exp: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    # Enough precision that quantize never fails for large amounts; -0.00 becomes 0.00.
    with localcontext() as ctx:
        ctx.prec = max(28, amount.adjusted() + 4)
        try:
            result = amount.quantize(exp, rounding=rounding)
        except InvalidOperation:  # pragma: no cover - prec above makes this unreachable
            raise MoneyError("too_large", f"amount too large: {amount}") from None
        return result + 0 if result.is_zero() else result


# --- pydantic v2 field types ----------------------------------------------------------------


@dataclass(frozen=True)
class _YuanField:
    """Pydantic annotation: validate via :func:`parse_wire_yuan`, serialise JSON as ``"720.00"``."""

    positive: bool = False
    allow_negative: bool = False

    def validate(self, value: Any) -> Decimal:
        try:
            amount = parse_wire_yuan(value, allow_negative=self.allow_negative)
            if self.positive and amount <= 0:
                raise MoneyError("not_positive", "amount must be greater than 0")
        except MoneyError as exc:
            raise PydanticCustomError(exc.code, exc.message) from None
        return amount

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            # Python mode keeps the Decimal; JSON mode (FastAPI responses) gives the string.
            serialization=core_schema.plain_serializer_function_ser_schema(format_yuan, when_used="json"),
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": r"^-?\d+(\.\d{1,2})?$" if self.allow_negative else r"^\d+(\.\d{1,2})?$",
            "examples": ["720.00"],
            "description": "yuan, a decimal string with at most two places (whole fen)",
        }


Yuan = Annotated[Decimal, _YuanField()]
"""Yuan >= 0, whole fen, at most 1e9; a decimal string (``"720.00"``) or, from our own code, a
Decimal. JSON numbers are refused (``not_a_string``), as is white space (``not_a_number``)."""

PositiveYuan = Annotated[Decimal, _YuanField(positive=True)]
"""Yuan > 0 (error type ``not_positive``), otherwise as :data:`Yuan`."""

SignedYuan = Annotated[Decimal, _YuanField(allow_negative=True)]
"""Yuan of either sign (adjustments, balances' deltas), otherwise as :data:`Yuan`."""
