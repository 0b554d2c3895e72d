"""Apache-style configuration lexing: logical lines and ``ap_getword_conf`` words.

ModSecurity v2 runs inside Apache, so its rule files are read by Apache's config reader: a
physical line ending in a backslash continues on the next one (the backslash goes, the next
line's leading blanks stay), a logical line whose first non-blank character is ``#`` is a
comment, and arguments are split into words by ``ap_getword_conf``. Inside a quoted word
``\\\\`` becomes ``\\`` and an escaped quote becomes the quote; every other backslash is kept.
CRS's regexes rely on exactly this (crs-engine §4.1), so we copy it byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bastion.errors import ConfigError

__all__ = ["LogicalLine", "getword_conf", "logical_lines", "split_words"]

#: Longest logical line accepted; Apache's own limit is 16 MiB, real rules stay far below.
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One directive's text with the file and the line it starts on."""

    text: str
    file: str
    line: int


def logical_lines(text: str, file: str) -> Iterator[LogicalLine]:
    """Join continuation lines and drop blank lines and comments."""
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not buf:
            start = number
        line = raw.rstrip("\r\n")
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            buf.append(stripped[:-1])
            if sum(len(b) for b in buf) > MAX_LINE:
                raise ConfigError("logical line too long", file=file, line=start)
            continue
        buf.append(line)
        joined = "".join(buf).strip()
        buf = []
        if not joined or joined.startswith("#"):
            continue
        yield LogicalLine(joined, file, start)
    if buf:
        joined = "".join(buf).strip()
        if joined and not joined.startswith("#"):
            yield LogicalLine(joined, file, start)


def _unescape(body: str, quote: str | None) -> str:
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c == "\\" and i + 1 < n and (body[i + 1] == "\\" or (quote and body[i + 1] == quote)):
            out.append(body[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def getword_conf(text: str, pos: int) -> tuple[str, int]:
    """Read one word starting at ``pos`` (blanks skipped); return it and the next position."""
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    if pos >= n:
        return "", pos
    quote = text[pos]
    if quote in "\"'":
        end = pos + 1
        while end < n and text[end] != quote:
            if text[end] == "\\" and end + 1 < n and text[end + 1] in (quote, "\\"):
                end += 2
            else:
                end += 1
        word = _unescape(text[pos + 1:end], quote)
        if end < n:
            end += 1
    else:
        end = pos
        while end < n and not text[end].isspace():
            end += 1
        word = _unescape(text[pos:end], None)
    while end < n and text[end].isspace():
        end += 1
    return word, end


def split_words(text: str) -> list[str]:
    """All words of a logical line, the Apache way."""
    words: list[str] = []
    pos = 0
    while True:
        n = len(text)
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return words
        word, pos = getword_conf(text, pos)
        words.append(word)
