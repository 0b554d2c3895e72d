"""What a transaction reports: the interruption (if any) and the matched-rule records."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Interruption", "MatchedRule"]


@dataclass(frozen=True, slots=True)
class Interruption:
    """The engine decided to stop the exchange (like Coraza's ``types.Interruption``).

    ``action`` is ``deny``, ``drop``, ``redirect`` or ``proxy``; ``status`` the HTTP status to
    answer with; ``data`` the redirect/proxy target if any.
    """

    rule_id: int
    action: str
    status: int
    data: str = ""


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """One logged rule match: enough to explain a block without the raw request."""

    id: int
    phase: int
    msg: str
    logdata: str
    matched_var_name: str
    matched_var_value: str
    severity: int | None
    tags: tuple[str, ...]
    disruptive: str
    file: str
    line: int

    def log_line(self) -> str:
        """A ModSecurity-style error-log line (``[id "942100"] [msg "..."]``)."""
        parts = [f'[file "{self.file}"]', f'[line "{self.line}"]', f'[id "{self.id}"]']
        if self.msg:
            parts.append(f'[msg "{self.msg}"]')
        if self.logdata:
            parts.append(f'[data "{self.logdata}"]')
        if self.severity is not None:
            parts.append(f'[severity "{self.severity}"]')
        parts.extend(f'[tag "{t}"]' for t in self.tags)
        return "ModSecurity: Warning. Matched " + " ".join(parts)
