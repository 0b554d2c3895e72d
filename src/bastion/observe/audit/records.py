"""CloudTrail-shaped audit records (eventVersion 1.08 field names and enums).

Bastion audits control-plane changes (config reload, key created/rotated/disabled, credential
issued, auto-mitigation rule deployed) as ``AwsApiCall``/``AwsServiceEvent`` management events and,
when configured, data-plane invocations as ``Data`` events. Field names are CloudTrail's so that
tooling written for CloudTrail (Athena DDL, SIEM parsers) reads ours unchanged.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bastion.observe.audit.layout import iso
from bastion.observe.redact import Redactor

_REDACTOR = Redactor()
HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"   # CloudTrail's own placeholder


def _hide(value: Any) -> Any:
    """Replace secret-named keys (secretAccessKey, sessionToken, password, ...) at any depth."""
    if isinstance(value, dict):
        return {k: HIDDEN if _REDACTOR.is_secret_field(str(k)) else _hide(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    return value

__all__ = [
    "EVENT_TYPES",
    "EVENT_VERSION",
    "HIDDEN",
    "IDENTITY_TYPES",
    "UserIdentity",
    "make_record",
]

EVENT_VERSION = "1.08"
EVENT_TYPES = frozenset({
    "AwsApiCall", "AwsServiceEvent", "AwsConsoleAction", "AwsConsoleSignIn",
    "AwsCloudTrailInsight",
})
IDENTITY_TYPES = frozenset({
    "Root", "IAMUser", "AssumedRole", "Role", "FederatedUser", "Directory", "AWSAccount",
    "AWSService", "Unknown", "SAMLUser", "WebIdentityUser",
})


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """Who made the call; ``access_key_id`` is the SigV4 key id, never a secret."""

    type: str = "Unknown"
    principal_id: str | None = None
    arn: str | None = None
    account_id: str | None = None
    access_key_id: str | None = None
    user_name: str | None = None
    invoked_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        if self.type not in IDENTITY_TYPES:
            raise ValueError(f"unknown userIdentity.type {self.type!r}")
        out: dict[str, Any] = {"type": self.type}
        for name, value in (("principalId", self.principal_id), ("arn", self.arn),
                            ("accountId", self.account_id), ("accessKeyId", self.access_key_id),
                            ("userName", self.user_name), ("invokedBy", self.invoked_by)):
            if value is not None:
                out[name] = value
        return out


def make_record(
    *,
    event_time: float,
    event_source: str,
    event_name: str,
    identity: UserIdentity,
    region: str,
    account_id: str,
    source_ip: str = "127.0.0.1",
    user_agent: str | None = None,
    request_parameters: dict[str, Any] | None = None,
    response_elements: dict[str, Any] | None = None,
    request_id: str | None = None,
    event_type: str = "AwsApiCall",
    read_only: bool = False,
    management_event: bool = True,
    error_code: str | None = None,
    error_message: str | None = None,
    resources: list[dict[str, str]] | None = None,
    additional_event_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build one CloudTrail record; ``eventID`` is a fresh GUID usable as a primary key.

    Secret-named keys in ``requestParameters``/``responseElements`` (an issued credential's
    ``secretAccessKey``, a ``sessionToken``, a ``password``) become
    ``HIDDEN_DUE_TO_SECURITY_REASONS``, as CloudTrail writes them.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown eventType {event_type!r}")
    rec: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity.to_json(),
        "eventTime": iso(event_time),
        "eventSource": event_source,
        "eventName": event_name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
        "requestParameters": _hide(request_parameters),
        "responseElements": _hide(response_elements),
        "requestID": request_id or str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": event_type,
        "managementEvent": management_event,
        "recipientAccountId": account_id,
        "eventCategory": "Management" if management_event else "Data",
    }
    if user_agent is None:
        del rec["userAgent"]
    if error_code is not None:
        rec["errorCode"] = error_code
    if error_message is not None:
        rec["errorMessage"] = error_message
    if resources is not None:
        rec["resources"] = resources
    if additional_event_data is not None:
        rec["additionalEventData"] = additional_event_data
    return rec
