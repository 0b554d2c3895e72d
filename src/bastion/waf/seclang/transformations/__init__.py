"""SecLang transformations (``t:NAME``), with ModSecurity v2 byte semantics.

Call ``get(name)`` (case-insensitive; ``KeyError`` if unknown) to obtain a
``Transformation = Callable[[str], str]``; values are latin-1 ``str`` (one char per byte).
``t:none`` is handled by the engine and is not registered here.
"""

from __future__ import annotations

from bastion.waf.seclang.transformations import (  # noqa: F401 - imported to register
    base64,
    case,
    cmdline,
    comments,
    css_decode,
    escape_seq,
    hashes,
    hex,
    html_entity,
    js_decode,
    nulls,
    parity,
    path,
    url,
    utf8_unicode,
    whitespace,
)
from bastion.waf.seclang.transformations.registry import Transformation, get, names

__all__ = ["Transformation", "get", "names"]
