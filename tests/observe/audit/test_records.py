from __future__ import annotations

import pytest

from bastion.observe.audit import UserIdentity, make_record
from bastion.observe.audit.records import HIDDEN


def test_record_fields_and_hidden_secrets() -> None:
    rec = make_record(
        event_time=1_767_225_600, event_source="iam.bastion.local", event_name="CreateAccessKey",
        identity=UserIdentity(type="IAMUser", user_name="ops", access_key_id="AKIDEXAMPLE",
                              account_id="123456789012", principal_id="AIDA1",
                              arn="arn:aws:iam::123456789012:user/ops"),
        region="local", account_id="123456789012", user_agent="bastion-cli",
        request_parameters={"userName": "svc"},
        response_elements={"accessKey": {"accessKeyId": "AKID2", "secretAccessKey": "wJalr",
                                         "sessionToken": "tok"}})
    for key in ("eventVersion", "userIdentity", "eventTime", "eventSource", "eventName",
                "awsRegion", "sourceIPAddress", "userAgent", "requestParameters",
                "responseElements", "requestID", "eventID", "eventType", "readOnly",
                "managementEvent", "recipientAccountId", "eventCategory"):
        assert key in rec
    assert rec["eventTime"] == "2026-01-01T00:00:00Z" and rec["eventType"] == "AwsApiCall"
    assert rec["userIdentity"]["accessKeyId"] == "AKIDEXAMPLE"
    key = rec["responseElements"]["accessKey"]
    assert key == {"accessKeyId": "AKID2", "secretAccessKey": HIDDEN, "sessionToken": HIDDEN}


def test_data_event_and_enums() -> None:
    rec = make_record(event_time=0, event_source="execute-api.bastion.local", event_name="Invoke",
                      identity=UserIdentity(), region="local", account_id="1",
                      management_event=False, read_only=True, error_code="AccessDenied")
    assert rec["eventCategory"] == "Data" and rec["errorCode"] == "AccessDenied"
    with pytest.raises(ValueError):
        make_record(event_time=0, event_source="s", event_name="n", identity=UserIdentity(),
                    region="r", account_id="1", event_type="Nope")
    with pytest.raises(ValueError):
        UserIdentity(type="Robot").to_json()
