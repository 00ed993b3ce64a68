"""Resident ID numbers (居民身份证号码), GB 11643-1999.

An 18-character number is: 6-digit region code, 8-digit birth date ``YYYYMMDD``, 3-digit order
code (its last digit odd for a man, even for a woman) and an ISO 7064 MOD 11-2 check character
(``0``-``9`` or ``X``). Legacy 15-digit numbers (``YYMMDD``, always 19xx, no check character) are
still on old documents; :func:`parse_id_number` converts them to 18.

Errors carry a stable ``code`` that the API returns as the problem ``code`` (API.md): ``format``,
``length``, ``birth_date``, ``checksum`` — checked in that order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["male", "female"]
IdErrorCode = Literal["format", "length", "checksum", "birth_date"]

# Weight of position i (0-based, left to right) is 2**(17-i) mod 11 — ISO 7064 MOD 11-2.
_WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
# Check character for (weighted sum mod 11) = 0..10.
_CHECK_CHARS = "10X98765432"
# Digits, and an X only as the last character (a lower-case x is upper-cased before this).
_FORMAT = re.compile(r"[0-9]*[0-9X]")
_EARLIEST_BIRTH_YEAR = 1900
# Full-width digits and X (a Chinese input method in full-width mode types them) read as ASCII;
# the digits of other scripts stay refused.
_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "Ｘ": "X", "ｘ": "X"})


class IdNumberError(ValueError):
    """An invalid resident ID number; ``code`` is one of format, length, birth_date, checksum."""

    def __init__(self, code: IdErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: IdErrorCode = code
        self.message = message


@dataclass(frozen=True)
class ResidentId:
    """A valid, normalised resident ID number and what it encodes."""

    number: str  # 18 characters, upper-case X
    birth_date: date
    sex: Sex
    region_code: str  # first 6 digits (administrative division at issue)


def check_character(first17: str) -> str:
    """The MOD 11-2 check character (``"0"``-``"9"`` or ``"X"``) for 17 digits.

    Raises ValueError unless ``first17`` is exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected 17 digits")
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS))
    return _CHECK_CHARS[total % 11]


def parse_id_number(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate and normalise a resident ID number (GB 11643-1999).

    ``raw``: 18 characters (last may be ``x``/``X``) or a legacy 15-digit number; surrounding white
    space (also the ideographic space) is ignored and full-width digits and X read as ASCII. ``today``: when given, a birth date after it is refused (callers pass their
    injected clock's date; this module never reads the system time).

    Returns a :class:`ResidentId` with the 18-character number. Raises :class:`IdNumberError` with
    ``code`` ``format`` (characters other than digits and a final X), ``length`` (not 15 or 18),
    ``birth_date`` (no such date, before 1900 or after ``today``) or ``checksum``.
    """
    if not isinstance(raw, str):
        raise IdNumberError("format", "ID number must be a string")
    text = raw.strip().translate(_FULL_WIDTH)
    if text.endswith("x"):
        text = text[:-1] + "X"
    # ASCII only: str.isdigit() would let full-width and other Unicode digits through.
    if not text.isascii() or _FORMAT.fullmatch(text) is None:
        raise IdNumberError("format", "ID number may contain only digits and a final X")
    if len(text) not in (15, 18):
        raise IdNumberError("length", f"ID number must have 18 characters (or 15 legacy digits), not {len(text)}")
    if len(text) == 15:
        if text.endswith("X"):
            raise IdNumberError("format", "a 15-digit ID number has no check character")
        # The legacy form has a 2-digit year, always 19xx, and no check character.
        first17 = text[:6] + "19" + text[6:]
        text = first17 + check_character(first17)

    birth = _birth_date(text[6:14], today)
    if check_character(text[:17]) != text[17]:
        raise IdNumberError("checksum", "ID number check character does not match")
    return ResidentId(
        number=text,
        birth_date=birth,
        sex="male" if int(text[16]) % 2 == 1 else "female",
        region_code=text[:6],
    )


def _birth_date(yyyymmdd: str, today: date | None) -> date:
    try:
        birth = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise IdNumberError("birth_date", f"ID number birth date {yyyymmdd} does not exist") from None
    if birth.year < _EARLIEST_BIRTH_YEAR:
        raise IdNumberError("birth_date", f"ID number birth date {birth.isoformat()} is before 1900")
    if today is not None and birth > today:
        raise IdNumberError("birth_date", f"ID number birth date {birth.isoformat()} is in the future")
    return birth


def mask_id_number(number: str) -> str:
    """Mask an ID number for display and logs: ``"350***********1234"``.

    Keeps the first 3 and last 4 characters and replaces the rest with ``*`` (length preserved).
    Never raises: a string of 7 characters or fewer is masked entirely, since it cannot be shown
    partly without revealing most of it.
    """
    text = str(number).strip()
    if len(text) <= 7:
        return "*" * len(text)
    return text[:3] + "*" * (len(text) - 7) + text[-4:]


def make_id_number(region_code: str, birth: date, sequence: int, sex: Sex) -> str:
    """A valid synthetic 18-character ID number (tests and demo data).

    ``region_code``: 6 digits. ``birth``: 1900-01-01 or later. ``sequence``: 0..499, the index of
    the person among those of that sex born that day in that region; the 3-digit order code is
    ``2 * sequence + 1`` for a man and ``2 * sequence`` for a woman, so its last digit encodes sex.
    Raises ValueError on out-of-range arguments.
    """
    if len(region_code) != 6 or not region_code.isascii() or not region_code.isdigit():
        raise ValueError("region_code must be 6 digits")
    if birth.year < _EARLIEST_BIRTH_YEAR:
        raise ValueError("birth date must be in 1900 or later")
    if not 0 <= sequence <= 499:
        raise ValueError("sequence must be in 0..499")
    if sex not in ("male", "female"):
        raise ValueError("sex must be 'male' or 'female'")
    order = 2 * sequence + (1 if sex == "male" else 0)
    first17 = f"{region_code}{birth:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)
