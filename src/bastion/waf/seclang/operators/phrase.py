"""@pm, @pmFromFile (alias @pmf): case-insensitive multi-phrase match (Aho-Corasick).

Description (ModSecurity v2): ``@pm`` takes space-separated phrases (after the ``|hex|`` /
escape syntax of ``parse_pm_content``); ``@pmFromFile`` takes space-separated file names,
relative to the rule file's directory, with one phrase per line (trimmed; empty lines and
lines starting with ``#`` skipped). Matching is ASCII case-insensitive, anywhere in the value;
an empty value never matches. Matching and the TX.0 text follow v2's automaton exactly (see
``acmp``): with ``capture``, TX.0 is the text v2 reports for the first hit.
Example: ``@pm foo bar`` matches ``"xxBARxx"``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from bastion.waf.seclang.cbytes import C_SPACE
from bastion.waf.seclang.operators.acmp import PhraseMatcher
from bastion.waf.seclang.operators.base import OperatorError, OperatorOptions, OperatorTx
from bastion.waf.seclang.operators.pm_content import PmContentError, parse_pm_content
from bastion.waf.seclang.operators.registry import register

__all__ = ["PmOperator", "pm", "pm_from_file", "read_phrase_file"]


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
    """The phrases of one data file.

    v2 quirk kept: its trimming loop treats a one-character line as empty, so one-character
    phrases in files are dropped.
    """
    phrases = []
    with path.open("rb") as fh:
        for raw in fh:
            phrase = _line_phrase(raw.decode("latin-1"))
            if len(phrase) > 1 and not phrase.startswith("#"):
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
