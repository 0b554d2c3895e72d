"""ARNs: parsing, segment-wise wildcard matching, and execute-api ARN helpers.

``arn:partition:service:region:account:resource`` — matching compares the first five segments
one by one (a ``*`` never crosses ``:`` there) and the resource segment as a whole, where ``*``
crosses ``/`` and ``:`` (IAM:reference_policies_elements_resource). ARNs are case-sensitive.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ._patterns import Glob, Piece, glob_regex

__all__ = [
    "Arn",
    "account_of",
    "arn_matches",
    "execute_api_arn",
    "expand_execute_api_shorthand",
    "parse_arn",
]

_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(text: str) -> Arn | None:
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    return Arn(parts[1], parts[2], parts[3], parts[4], parts[5])


def account_of(principal_arn: str | None) -> str | None:
    """The account of a principal ARN (or a bare 12-digit account id)."""
    if principal_arn is None:
        return None
    if _ACCOUNT.match(principal_arn):
        return principal_arn
    arn = parse_arn(principal_arn)
    return arn.account if arn and arn.account else None


def _split_pieces(pieces: Sequence[Piece]) -> list[list[Piece]]:
    """Split pieces into at most six ARN segments on ``:`` (a colon in the resource segment
    stays part of it)."""
    segments: list[list[Piece]] = [[]]
    for text, literal in pieces:
        chunks = text.split(":")
        for i, chunk in enumerate(chunks):
            if i > 0:
                if len(segments) < 6:
                    segments.append([])
                else:
                    segments[-1].append((":", True))
            if chunk:
                segments[-1].append((chunk, literal))
    return segments


@lru_cache(maxsize=8192)
def _segment_regexes(pattern: tuple[Piece, ...]) -> tuple[Glob, ...]:
    return tuple(glob_regex(p) for p in _split_pieces(pattern))


def arn_matches(pattern: Sequence[Piece], value: str) -> bool:
    """Does ARN ``value`` match the pattern (``*`` alone matches anything)?"""
    if len(pattern) == 1 and pattern[0] == ("*", False):
        return True
    pat_segments = _segment_regexes(tuple(pattern))
    val_segments = value.split(":", 5)
    if len(pat_segments) > len(val_segments):
        return False
    # A shorter pattern's last segment is matched against the rest of the value.
    if len(pat_segments) < len(val_segments):
        if len(pat_segments) < 2:
            return False
        val_segments = [*val_segments[: len(pat_segments) - 1],
                        ":".join(val_segments[len(pat_segments) - 1:])]
    return all(
        g.match(v) for g, v in zip(pat_segments, val_segments, strict=True)
    )


def execute_api_arn(
    region: str, account: str, api_id: str, stage: str, method: str, path: str,
    partition: str = "aws",
) -> str:
    """``arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{METHOD}/{path}``.

    ``path`` is the actual request path; the root path gives ``.../GET/`` (gateway-semantics §3.1).
    """
    return (f"arn:{partition}:execute-api:{region}:{account}:{api_id}/{stage}/"
            f"{method.upper()}/{path.lstrip('/')}")


def expand_execute_api_shorthand(
    resource: str, region: str, account: str, api_id: str, partition: str = "aws"
) -> str:
    """``execute-api:/stage/METHOD/path`` -> the full ARN, as API Gateway does on import."""
    if not resource.startswith("execute-api:/"):
        return resource
    rest = resource[len("execute-api:"):]
    return f"arn:{partition}:execute-api:{region}:{account}:{api_id}{rest}"
