"""Views of a wish's free text for the R-MW-2 personal-data screen (pure, no I/O).

R-MW-2: a published wish never shows a name, ID number, phone or address. A village officer's
text can hold a phone or an ID number written so that an ASCII pattern misses it: full-width
digits (１３８１２３４５６７８), Chinese numerals (一三八一二三四五六七八, 壹叁捌…, 十 for "10"),
mixed with ASCII, split by spaces, dashes, invisible characters (zero-width space, soft hyphen),
HTML tags (138<br>1234<b>5678</b>) or character references (138&nbsp;1234&#53;678). The screen
therefore matches its number patterns on two *views* of the text, each character of which
remembers the span of the original text it came from (findings point into what the officer typed):

- :func:`folded`, the text as stored (and sent by the board's API): NFKC (full-width → ASCII,
  U+3000 → space, Kangxi radical ⼀ → 一), Chinese numerals 〇零一二三四五六七八九, 壹…玖 (貳參陸),
  幺 and any script's decimal digits → ASCII digits, format characters (category Cf) dropped,
  and 十/拾 → ``10`` inside a phone-like run (below). Markup stays as typed, so digits in an
  attribute or in an invalid reference (``&#13812345678;``) still count;
- :func:`compact`, the text as a browser shows it: tags and comments dropped, character
  references decoded (``html.unescape``), then folded, and every run of separators (whitespace,
  dashes, dots, ``·``, ``_``, ``、，/~()|``) between two digits removed — also before an ID
  number's final X: ``138 1234 5678`` → ``13812345678``.

十 is ambiguous: in 五十元, 第十个 or 十斤 it is a number word, but an officer spelling out
digits may write 十 for "10" (一三八十二三四五六七 = 13810234567). It becomes ``10`` only inside a
run of numerals (split at most by separators) with at least :data:`TEN_RUN` digits besides 十:
such a run is a phone or ID number being spelled out, never a price, date or count.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator

_NUMERALS = {**dict.fromkeys("〇零", "0"), **dict(zip("一二三四五六七八九", "123456789", strict=True)),
             **dict(zip("壹贰叁肆伍陆柒捌玖", "123456789", strict=True)), "貳": "2", "參": "3", "陸": "6",
             "幺": "1", "拾": "十"}  # 幺: "one" as read out in phone numbers; 拾: 十 of 壹贰叁
# Between two digits these only split a number: dashes, dots, and the list and path marks an
# officer may type inside a phone number (138、1234、5678 · 138/1234/5678 · (0595)87654321).
_DASHES = "-‐‑‒–—―−﹣_.·・、，,/／~～()（）|｜"
_DIGITS = "0123456789"
#: Digits (besides 十) a run of numerals needs before its 十 is read as "10": a 7-digit local
#: number is the shortest phone-like run, while prices, dates and counts stay well below.
TEN_RUN = 7
_RUN = re.compile(rf"[0-9十](?:[\s{re.escape(_DASHES)}]*[0-9十])*")
# Markup a browser would not show: comments and tags (only ASCII <…> starting with a letter, so
# "价格<100元" is text), and character references, with or without the closing semicolon.
_MARKUP = re.compile(r"(?P<tag><!--.*?-->|<[!?/]?[A-Za-z][^<>]*>)"
                     r"|&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);?", re.DOTALL)

#: One view: the text and, for each of its characters, the span ``(start, end)`` of the original
#: text it came from (one character, a whole character reference, or 十 for both digits of "10").
View = tuple[str, list[tuple[int, int]]]


def _rendered(text: str) -> Iterator[tuple[str, int, int]]:
    """``text`` as a browser shows it, in ``(piece, start, end)``: tags dropped, references decoded."""
    pos = 0
    for match in _MARKUP.finditer(text):
        yield from ((ch, i, i + 1) for i, ch in enumerate(text[pos:match.start()], pos))
        if match["tag"] is None:
            yield html.unescape(match[0]), match.start(), match.end()
        pos = match.end()
    yield from ((ch, i, i + 1) for i, ch in enumerate(text[pos:], pos))


def _fold(pieces: Iterable[tuple[str, int, int]]) -> View:
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for piece, start, end in pieces:
        for ch in unicodedata.normalize("NFKC", piece):
            if unicodedata.category(ch) == "Cf":
                continue  # zero-width space/joiners, word joiner, BOM, soft hyphen: invisible
            digit = unicodedata.decimal(ch, None)  # any script's decimal digit (٣, ३ …) → ASCII
            chars.append(str(digit) if digit is not None and not ch.isascii() else _NUMERALS.get(ch, ch))
            spans.append((start, end))
    folded_text = "".join(chars)
    tens = {m.start() + i for m in _RUN.finditer(folded_text)
            if sum(c in _DIGITS for c in m[0]) >= TEN_RUN for i, c in enumerate(m[0]) if c == "十"}
    out = "".join("10" if i in tens else c for i, c in enumerate(folded_text))
    return out, [s for i, s in enumerate(spans) for _ in range(2 if i in tens else 1)]


def folded(text: str) -> View:
    """R-MW-2 view of the text as stored: NFKC, numerals → ASCII digits, Cf dropped, markup kept."""
    return _fold((ch, i, i + 1) for i, ch in enumerate(text))


def _separator(ch: str) -> bool:
    return ch.isspace() or ch in _DASHES


def compact(text: str) -> View:
    """R-MW-2 view of the text as shown: tags dropped, references decoded, folded, and without
    separators between two digits (or between a digit and an ID number's final X)."""
    chars, spans = _fold(_rendered(text))
    out: list[str] = []
    out_spans: list[tuple[int, int]] = []
    i = 0
    while i < len(chars):
        if _separator(chars[i]) and out and out[-1] in _DIGITS:
            j = i
            while j < len(chars) and _separator(chars[j]):
                j += 1
            if j < len(chars) and chars[j] in _DIGITS + "Xx":
                i = j  # a separator run inside a number: skip it
                continue
        out.append(chars[i])
        out_spans.append(spans[i])
        i += 1
    return "".join(out), out_spans


def original_span(view: View, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that ``view[start:end]`` (end > start) came from."""
    spans = view[1]
    return spans[start][0], spans[end - 1][1]
