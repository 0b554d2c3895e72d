"""length, md5, sha1.

Description: ``length`` is the decimal byte count; ``md5``/``sha1`` give the RAW digest bytes
(CRS follows ``sha1`` with ``hexEncode``).
Example: length ``"abc"`` -> ``"3"``; sha1 ``""`` -> 20 raw bytes ``"\\xda9\\xa3..."``.
"""

from __future__ import annotations

import hashlib

from bastion.waf.seclang.transformations.registry import register


def length(value: str) -> str:
    """Number of bytes, in decimal."""
    return str(len(value))


def md5(value: str) -> str:
    """Raw 16-byte MD5 digest (used for hashing, not for security)."""
    return hashlib.md5(value.encode("latin-1"), usedforsecurity=False).digest().decode("latin-1")


def sha1(value: str) -> str:
    """Raw 20-byte SHA-1 digest (used for hashing, not for security)."""
    return hashlib.sha1(value.encode("latin-1"), usedforsecurity=False).digest().decode("latin-1")


register("length", length)
register("md5", md5)
register("sha1", sha1)
