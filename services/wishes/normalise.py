"""Views of a wish's free text for the R-MW-2 personal-data screen (pure, no I/O).

R-MW-2: a published wish never shows a name, ID number, phone or address. A village officer's
text can hold a phone or an ID number written so that an ASCII pattern misses it: full-width
digits (１３８１２３４５６７８), Chinese numerals (一三八一二三四五六七八, 壹叁捌…, 十 for "10"),
mixed with ASCII, split by spaces, dashes, brackets, invisible characters (zero-width space, soft
hyphen, Hangul filler, combining grapheme joiner), HTML tags (138<br>1234<b>5678</b>,
1<script>x</script>38…) or character references (138&nbsp;1234&#53;678). The screen therefore
matches its number patterns on several *views* of the text (:func:`views`), each character of which
remembers the span of the original text it came from (findings point into what the officer typed):

- :func:`folded`, the text as stored (and sent by the board's API): NFKC (full-width → ASCII,
  U+3000 → space, Kangxi radical ⼀ → 一), Chinese numerals 〇零一二三四五六七八九, 壹…玖 (貳參陸),
  幺 and any script's decimal digits → ASCII digits, invisible characters dropped (below), and 十/拾
  read as digits inside a phone-like run (below). Markup stays as typed, so digits in an attribute
  or in an invalid reference (``&#13812345678;``) still count;
- :func:`compact`, the text as a browser shows it: tags, comments and the content of script, style,
  template and noscript elements dropped (tags as the HTML tokenizer reads them: ``<`` then a
  letter, ``>`` inside a quoted attribute value does not end the tag, ``<138>`` and ``< b >`` are
  text), character references decoded (``html.unescape``), then folded, and every run of
  separators (whitespace, dashes, dots, brackets, ``·``, ``_``, ``、，/~|``) between two digits
  removed — also before an ID number's final X: ``138 1234 5678`` → ``13812345678``;
- ``compact(text, lenient=True)``, the same for a sloppier reader or renderer: anything tag-like
  (``< b >``, ``<b title='a>``) dropped, element content kept (a browser without scripts shows
  ``<noscript>``).

Invisible: format characters (category Cf), combining marks (Mn, Me: nothing to see between two
digits), Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt, Unicode 15:
Hangul fillers U+115F, U+1160, U+3164, U+FFA0, U+034F, variation selectors, …) and the braille
blank U+2800, which shows as a space.

十 is ambiguous: in 五十元, 第十个 or 十斤 it is a number word, but an officer spelling out digits
may write 十 for "10" (一三八十二三四五六七 = 13810234567) or for the teen 十一 = "11"
(一三五十二三四五六七八 = 13512345678). It is read as a digit only inside a run of numerals (split at
most by separators) with at least :data:`TEN_RUN` digits besides 十: such a run is a phone or ID
number being spelled out, never a price, date or count. Each view comes in both readings: 十 as
``10`` everywhere, and (``teens=True``) 十 followed by a numeral as ``1``, else ``10``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import partial

_NUMERALS = {**dict.fromkeys("〇零", "0"), **dict(zip("一二三四五六七八九", "123456789", strict=True)),
             **dict(zip("壹贰叁肆伍陆柒捌玖", "123456789", strict=True)), "貳": "2", "參": "3", "陸": "6",
             "幺": "1", "拾": "十"}  # 幺: "one" as read out in phone numbers; 拾: 十 of 壹贰叁
# Between two digits these only split a number: dashes, dots, brackets, and the list and path marks
# an officer may type inside a phone number (138、1234、5678 · 138/1234/5678 · (0595)87654321 · <138>…).
_DASHES = "-‐‑‒–—―−﹣_.·・、，,/／~～()（）|｜<>[]〈〉《》【】"
_DIGITS = "0123456789"
_SEP = rf"[\s{re.escape(_DASHES)}]"
#: Digits (besides 十) a run of numerals needs before its 十 is read as digits: a 7-digit local
#: number is the shortest phone-like run, while prices, dates and counts stay well below.
TEN_RUN = 7
_RUN = re.compile(rf"[0-9十](?:{_SEP}*[0-9十])*")
_TEEN = re.compile(rf"{_SEP}*[0-9]")
# Default_Ignorable_Code_Point (Unicode 15 DerivedCoreProperties.txt) plus the braille blank.
_IGNORABLE = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3"
                        "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")
_REF = r"(?P<ref>&(?:#[0-9]+|#[xX][0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);?)"
# A tag's attributes: a value quoted after "=" may hold ">"; unambiguous, so no backtracking blow-up.
_ATTRS = r"""(?:[^>"'=]|=\s*"[^"]*"|=\s*'[^']*'|=\s*(?=[^"'\s])|["'])*"""
# What a browser does not show: script/style/template/noscript elements, comments, bogus comments
# (<!x>, <?x>, </1>), tags (< then an ASCII letter, so "价格<100元" is text) and character references.
_BROWSER = re.compile("|".join((
    rf"<(?P<hidden>script|style|template|noscript)(?=[\s/>]){_ATTRS}>.*?(?:</(?P=hidden)(?=[\s/>])[^>]*>|\Z)",
    r"<!--(?:-?>|.*?(?:--!?>|\Z))", r"<[!?][^>]*>", r"</(?:[^A-Za-z>][^>]*)?>", rf"</?[A-Za-z]{_ATTRS}>", _REF,
)), re.DOTALL | re.IGNORECASE)
_LENIENT = re.compile(rf"<!--.*?(?:-->|\Z)|<[\s!?/]*[A-Za-z][^<>]*>|{_REF}", re.DOTALL)

#: One view: the text and, for each of its characters, the span ``(start, end)`` of the original
#: text it came from (one character, a whole character reference, or 十 for both digits of "10").
View = tuple[str, list[tuple[int, int]]]


def _rendered(text: str, markup: re.Pattern[str]) -> Iterator[tuple[str, int, int]]:
    """``text`` in ``(piece, start, end)`` without what ``markup`` matches, references decoded."""
    pos = 0
    for match in markup.finditer(text):
        yield from ((ch, i, i + 1) for i, ch in enumerate(text[pos:match.start()], pos))
        if match["ref"] is not None:
            yield html.unescape(match[0]), match.start(), match.end()
        pos = match.end()
    yield from ((ch, i, i + 1) for i, ch in enumerate(text[pos:], pos))


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cf", "Mn", "Me") or _IGNORABLE.match(ch) is not None


def _fold(pieces: Iterable[tuple[str, int, int]], teens: bool) -> View:
    chars: list[str] = []
    spans: list[tuple[int, int]] = []
    for piece, start, end in pieces:
        for ch in unicodedata.normalize("NFKC", piece):
            if _invisible(ch):
                continue
            digit = unicodedata.decimal(ch, None)  # any script's decimal digit (٣, ३ …) → ASCII
            chars.append(str(digit) if digit is not None and not ch.isascii() else _NUMERALS.get(ch, ch))
            spans.append((start, end))
    text = "".join(chars)
    tens = {m.start() + i: "1" if teens and _TEEN.match(m[0], i + 1) else "10" for m in _RUN.finditer(text)
            if sum(c in _DIGITS for c in m[0]) >= TEN_RUN for i, c in enumerate(m[0]) if c == "十"}
    out = "".join(tens.get(i, c) for i, c in enumerate(text))
    return out, [s for i, s in enumerate(spans) for _ in tens.get(i, "x")]


def folded(text: str, *, teens: bool = False) -> View:
    """R-MW-2 view of the text as stored: NFKC, numerals → ASCII digits, invisibles dropped, markup kept."""
    return _fold(((ch, i, i + 1) for i, ch in enumerate(text)), teens)


def _separator(ch: str) -> bool:
    return ch.isspace() or ch in _DASHES


def compact(text: str, *, lenient: bool = False, teens: bool = False) -> View:
    """R-MW-2 view of the text as shown: markup dropped (as a browser does, or anything tag-like if
    ``lenient``), references decoded, folded, and without separators between two digits (or
    between a digit and an ID number's final X)."""
    chars, spans = _fold(_rendered(text, _LENIENT if lenient else _BROWSER), teens)
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


def views(text: str) -> tuple[View, ...]:
    """Every R-MW-2 view of ``text``, rendered ones first (their match spans a whole number where
    the stored view may see only the part between two tags), each with 十 read both ways."""
    return tuple(view(text, teens=teens) for view in (compact, partial(compact, lenient=True), folded)
                 for teens in (False, True))


def original_span(view: View, start: int, end: int) -> tuple[int, int]:
    """The span of the original text that ``view[start:end]`` (end > start) came from."""
    spans = view[1]
    return spans[start][0], spans[end - 1][1]
