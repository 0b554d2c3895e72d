"""@pm, @pmFromFile (alias @pmf): case-insensitive multi-phrase match (Aho-Corasick).

Description (ModSecurity v2): ``@pm`` takes space-separated phrases (after the ``|hex|`` /
escape syntax of ``parse_pm_content``); ``@pmFromFile`` takes space-separated file names,
relative to the rule file's directory, with one phrase per line (trimmed; empty lines and
lines starting with ``#`` skipped). Matching is ASCII case-insensitive, anywhere in the value;
an empty value never matches. With ``capture``, TX.0 is the phrase (as written) that matched
first while scanning the value.
Example: ``@pm foo bar`` matches ``"xxBARxx"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bastion.waf.seclang.cbytes import C_SPACE
from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.pm_content import PmContentError, parse_pm_content
from bastion.waf.seclang.operators.registry import register
from bastion.waf.seclang.transformations.case import lowercase

try:
    import ahocorasick as _ahocorasick  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    _ahocorasick = None

__all__ = ["PhraseMatcher", "PmOperator", "pm", "pm_from_file"]


class PhraseMatcher:
    """An ASCII case-insensitive phrase automaton returning the first phrase found.

    Uses ``pyahocorasick`` when installed (leftmost end position, longest phrase there, as an
    Aho-Corasick scan reports it); otherwise a regex alternation (same yes/no answer, the
    captured phrase may differ when phrases overlap).
    """

    __slots__ = ("_automaton", "_regex", "_table", "min_length", "size")

    def __init__(self, phrases: Iterable[str]) -> None:
        table: dict[str, str] = {}
        for phrase in phrases:
            if phrase:
                table.setdefault(lowercase(phrase), phrase)
        self.size = len(table)
        self.min_length = min((len(k) for k in table), default=0)
        self._automaton: Any = None
        self._regex: re.Pattern[str] | None = None
        self._table = table
        if not table:
            return
        if _ahocorasick is not None:
            automaton = _ahocorasick.Automaton()
            for key, phrase in table.items():
                automaton.add_word(key, phrase)
            automaton.make_automaton()
            self._automaton = automaton
        else:  # pragma: no cover
            keys = sorted(table, key=len, reverse=True)
            self._regex = re.compile("|".join(re.escape(k) for k in keys))

    def first(self, value: str) -> str | None:
        """The first phrase found in ``value``, or None."""
        if not self.size or len(value) < self.min_length:
            return None
        text = lowercase(value)
        if self._automaton is not None:
            for _end, phrase in self._automaton.iter(text):
                return str(phrase)
            return None
        assert self._regex is not None  # pragma: no cover
        m = self._regex.search(text)  # pragma: no cover
        return None if m is None else self._table[m.group(0)]  # pragma: no cover


class PmOperator:
    """A compiled @pm / @pmFromFile."""

    __slots__ = ("matcher",)

    def __init__(self, phrases: Iterable[str]) -> None:
        self.matcher = PhraseMatcher(phrases)

    def evaluate(self, tx: OperatorTx, value: str) -> bool:
        """Match; with capture, TX.0 is the phrase."""
        if not value:
            return False
        phrase = self.matcher.first(value)
        if phrase is None:
            return False
        if tx.capture:
            tx.set_captures([phrase])
        return True


def _split(text: str) -> list[str]:
    return [p for p in re.split(f"[{re.escape(C_SPACE)}]+", text) if p]


def pm(argument: str, options: OperatorOptions) -> PmOperator:
    """Factory of @pm."""
    if not argument:
        raise OperatorError("@pm: missing parameter")
    try:
        text = parse_pm_content(argument)
    except PmContentError:
        text = argument  # v2 falls back to the raw parameter
    return PmOperator(_split(text))


def _line_phrase(line: str) -> str:
    try:
        text = parse_pm_content(line)
    except PmContentError:
        text = line
    return text.strip(C_SPACE)


def read_phrase_file(path: Path) -> list[str]:
    """The phrases of one data file."""
    phrases = []
    with path.open("rb") as fh:
        for raw in fh:
            phrase = _line_phrase(raw.decode("latin-1"))
            if phrase and not phrase.startswith("#"):
                phrases.append(phrase)
    return phrases


def pm_from_file(argument: str, options: OperatorOptions) -> PmOperator:
    """Factory of @pmFromFile: files relative to ``options.base_dir``."""
    files = _split(argument)
    if not files:
        raise OperatorError("@pmFromFile: missing parameter")
    phrases: list[str] = []
    for name in files:
        path = Path(name)
        if not path.is_absolute():
            path = options.base_dir / path
        try:
            phrases.extend(read_phrase_file(path))
        except OSError as exc:
            raise OperatorError(f"@pmFromFile: could not open phrase file {str(path)!r}: "
                                f"{exc.strerror or exc}", file=str(path)) from None
    return PmOperator(phrases)


register("pm", pm)
register("pmFromFile", pm_from_file)
register("pmf", pm_from_file)
