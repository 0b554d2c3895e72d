"""Tamper-evident audit trail in CloudTrail format, with signed hourly digest chains.

``AuditTrail`` writes records and digests; ``verify`` checks them like
``aws cloudtrail validate-logs``; ``generate_signing_key`` makes a key pair to keep apart from
the logs.
"""

from __future__ import annotations

from bastion.observe.audit.records import UserIdentity, make_record
from bastion.observe.audit.signing import (
    Signer,
    fingerprint,
    generate_signing_key,
    load_public_key,
    string_to_sign,
)
from bastion.observe.audit.trail import AuditTrail
from bastion.observe.audit.verify import Problem, Report, verify

__all__ = [
    "AuditTrail",
    "Problem",
    "Report",
    "Signer",
    "UserIdentity",
    "fingerprint",
    "generate_signing_key",
    "load_public_key",
    "make_record",
    "string_to_sign",
    "verify",
]
