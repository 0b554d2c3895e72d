"""SecLang: a ModSecurity-v2-compatible rule language engine (runs OWASP CRS 3.3.x).

Values are ``str`` whose every character is one byte (U+0000-U+00FF, bytes decoded as latin-1),
so the engine keeps ModSecurity's byte semantics while using Python's fast ``str`` methods.
"""

from __future__ import annotations
