"""Views of a wish's free text for the R-MW-2 personal-data screen (pure, no I/O).

A village officer's text can hold a phone or an ID number written so that an ASCII pattern misses
it: full-width digits (１３８１２３４５６７８), Chinese numerals (一三八一二三四五六七八, 壹叁捌…),
mixed with ASCII, split by spaces, full-width spaces or dashes, or with invisible characters
(zero-width space, soft hyphen) between the digits. The screen therefore matches its number
patterns on two *views* of the text, each character of which remembers its position in the
original text (so findings still point into what the officer typed):

- :func:`folded`: NFKC (full-width → ASCII, U+3000 → space, Kangxi radical ⼀ → 一), then the Chinese
  numerals 〇零一二三四五六七八九 and 壹贰叁肆伍陆柒捌玖 (貳參陸 too) → ASCII digits, invisible
  format characters (Unicode category Cf) dropped;
- :func:`compact`: :func:`folded` with every run of separators (whitespace, dashes, dots, ``·``,
  ``_``, ``、，/~()|``) that sits *between two digits* removed: ``138 1234 5678`` → ``13812345678``.
Any script's decimal digits (Arabic-Indic ١٣٨…) count as digits, and 幺 as 1.

Ordinary text keeps its meaning: 书包2个 → 书包2个, 三年级 → 3年级, 价格120元 → 价格120元; such short
numbers never reach the 11 digits of a phone or the 15/18 of an ID number.
"""

from __future__ import annotations

import unicodedata

_NUMERALS = {**dict.fromkeys("〇零", "0"), **dict(zip("一二三四五六七八九", "123456789", strict=True)),
             **dict(zip("壹贰叁肆伍陆柒捌玖", "123456789", strict=True)), "貳": "2", "參": "3", "陸": "6",
             "幺": "1"}  # 幺: "one" as it is read out in phone numbers
# Between two digits these only split a number: dashes, dots, and the list and path marks an
# officer may type inside a phone number (138、1234、5678 · 138/1234/5678 · (0595)87654321).
_DASHES = "-‐‑‒–—―−﹣_.·・、，,/／~～()（）|｜"

#: One view: the text and, for each of its characters, the index of the original character.
View = tuple[str, list[int]]


def folded(text: str) -> View:
    """NFKC per character, Chinese numerals → ASCII digits, format characters (Cf) dropped."""
    chars: list[str] = []
    where: list[int] = []
    for index, original in enumerate(text):
        for ch in unicodedata.normalize("NFKC", original):
            if unicodedata.category(ch) == "Cf":
                continue
            digit = unicodedata.decimal(ch, None)  # any script's decimal digit (٣, ३ …) → ASCII
            chars.append(str(digit) if digit is not None and not ch.isascii() else _NUMERALS.get(ch, ch))
            where.append(index)
    return "".join(chars), where


def _separator(ch: str) -> bool:
    return ch.isspace() or ch in _DASHES


def compact(text: str) -> View:
    """:func:`folded`, without the separators found between two ASCII digits."""
    chars, where = folded(text)
    out: list[str] = []
    out_where: list[int] = []
    i = 0
    while i < len(chars):
        if _separator(chars[i]) and out and out[-1] in "0123456789":
            j = i
            while j < len(chars) and _separator(chars[j]):
                j += 1
            if j < len(chars) and chars[j] in "0123456789":
                i = j  # a separator run inside a number: skip it
                continue
        out.append(chars[i])
        out_where.append(where[i])
        i += 1
    return "".join(out), out_where


def original_span(view: View, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that ``view[start:end]`` (end > start) came from."""
    where = view[1]
    return where[start], where[end - 1] + 1
