"""Where audit files live and how they are named, mirroring CloudTrail's S3 key scheme.

Log files and digests keep CloudTrail's object keys under a local directory that stands in for
the bucket, so ``digestS3Object`` is the path relative to that directory and the verifier can
tell a moved file from a valid one::

    AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/<acct>_CloudTrail_<region>_YYYYMMDDTHHmmZ_<u16>.json.gz
    AWSLogs/<acct>/CloudTrail-Digest/<region>/YYYY/MM/DD/
        <acct>_CloudTrail-Digest_<region>_<trail>_<region>_YYYYMMDDTHHmmssZ.json.gz  (+ ".sig")

The digest's signature lives in the ``.sig`` sidecar (CloudTrail keeps it in S3 object metadata).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = [
    "DIGEST_NAME",
    "LOG_NAME",
    "SIG_SUFFIX",
    "digest_key",
    "iso",
    "key_time",
    "log_key",
    "parse_iso",
]

SIG_SUFFIX = ".sig"
LOG_NAME = re.compile(
    r"^AWSLogs/(?P<acct>[^/]+)/CloudTrail/(?P<region>[^/]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=acct)_CloudTrail_(?P=region)_(?P<ts>\d{8}T\d{4}Z)_[0-9a-zA-Z]{16}\.json\.gz$"
)
DIGEST_NAME = re.compile(
    r"^AWSLogs/(?P<acct>[^/]+)/CloudTrail-Digest/(?P<region>[^/]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=acct)_CloudTrail-Digest_(?P=region)_(?P<trail>[^/_]+)_[^/_]+_"
    r"(?P<ts>\d{8}T\d{6}Z)\.json\.gz$"
)


def iso(t: float) -> str:
    """CloudTrail's timestamp form: UTC, second precision, ``Z`` suffix."""
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    """Parse an ISO-8601 time (``Z`` or offset; naive means UTC) to epoch seconds."""
    dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def log_key(account: str, region: str, delivered: float, unique: str) -> str:
    d = datetime.fromtimestamp(int(delivered), UTC)
    return (
        f"AWSLogs/{account}/CloudTrail/{region}/{d:%Y/%m/%d}/"
        f"{account}_CloudTrail_{region}_{d:%Y%m%dT%H%M}Z_{unique}.json.gz"
    )


def digest_key(account: str, region: str, trail: str, end: float) -> str:
    d = datetime.fromtimestamp(int(end), UTC)
    return (
        f"AWSLogs/{account}/CloudTrail-Digest/{region}/{d:%Y/%m/%d}/"
        f"{account}_CloudTrail-Digest_{region}_{trail}_{region}_{d:%Y%m%dT%H%M%S}Z.json.gz"
    )


def key_time(match: re.Match[str]) -> float:
    """Epoch seconds of the timestamp embedded in a log or digest key."""
    ts = match.group("ts")
    fmt = "%Y%m%dT%H%M%SZ" if len(ts) == 16 else "%Y%m%dT%H%MZ"
    return datetime.strptime(ts, fmt).replace(tzinfo=UTC).timestamp()
