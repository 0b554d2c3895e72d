"""cmdLine.

Description (ModSecurity v2): made for command-injection rules. The value ends at the first NUL
(v2 walks a C string); ``\\ " ' ^`` are deleted; runs of ``space , ; \\t \\r \\n`` become one
space; a space before ``/`` or ``(`` is removed; ASCII letters are lowercased.
Example: ``"C^OMMAND /C DIR"`` -> ``"command/c dir"``.
"""

from __future__ import annotations

import re

from bastion.waf.seclang.transformations.case import lowercase
from bastion.waf.seclang.transformations.registry import register

_DELETE = str.maketrans("", "", "\\\"'^")
_SEPARATORS = re.compile("[ ,;\t\r\n]+")
_SPACE_BEFORE = re.compile(" (?=[/(])")


def cmd_line(value: str) -> str:
    """Normalise a command line."""
    nul = value.find("\x00")
    if nul >= 0:
        value = value[:nul]
    value = _SEPARATORS.sub(" ", value.translate(_DELETE))
    return lowercase(_SPACE_BEFORE.sub("", value))


register("cmdLine", cmd_line)
