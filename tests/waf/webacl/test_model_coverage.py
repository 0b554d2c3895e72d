"""Every member the WAFv2 model defines is either implemented or reported as unsupported, so a
botocore update that adds a statement type or a field shows up here, not in production."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from bastion.waf.webacl.compile_base import STATEMENT_MEMBERS
from bastion.waf.webacl.compile_statements import KEY_MEMBERS
from bastion.waf.webacl.fields import FIELD_MEMBERS
from bastion.waf.webacl.loader import ACL_INFORMATIONAL, ACL_UNSUPPORTED
from bastion.waf.webacl.transforms import PRE_PARSE_TYPES


@pytest.fixture(scope="module")
def shapes() -> dict[str, Any]:
    import botocore

    root = Path(botocore.__file__).parent / "data" / "wafv2"
    model = json.loads(gzip.open(next(root.glob("*/service-2.json.gz"))).read())
    return dict(model["shapes"])


def members(shapes: dict[str, Any], name: str) -> set[str]:
    return set(shapes[name]["members"])


def test_statements(shapes: dict[str, Any]) -> None:
    assert members(shapes, "Statement") == set(STATEMENT_MEMBERS)


def test_fields_to_match(shapes: dict[str, Any]) -> None:
    assert members(shapes, "FieldToMatch") == set(FIELD_MEMBERS)


def test_rate_based_custom_keys(shapes: dict[str, Any]) -> None:
    assert members(shapes, "RateBasedStatementCustomKey") == set(KEY_MEMBERS)


def test_pre_parse_transformations(shapes: dict[str, Any]) -> None:
    assert set(shapes["PreParseTextTransformationType"]["enum"]) == PRE_PARSE_TYPES


def test_rule_actions(shapes: dict[str, Any]) -> None:
    assert members(shapes, "RuleAction") == {"Allow", "Block", "Count", "Captcha", "Challenge",
                                             "Monetize"}  # Monetize: reported unsupported
    assert members(shapes, "DefaultAction") == {"Allow", "Block"}
    assert members(shapes, "OverrideAction") == {"Count", "None"}


READ = {"Name", "Id", "ARN", "DefaultAction", "Rules", "VisibilityConfig", "LabelNamespace",
        "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains",
        "AssociationConfig"}


def test_web_acl_members(shapes: dict[str, Any]) -> None:
    known = READ | set(ACL_INFORMATIONAL) | set(ACL_UNSUPPORTED)
    assert members(shapes, "WebACL") <= known
    assert not (READ & set(ACL_UNSUPPORTED))


def test_rule_members(shapes: dict[str, Any]) -> None:
    assert members(shapes, "Rule") == {"Name", "Priority", "Statement", "Action",
                                       "OverrideAction", "RuleLabels", "VisibilityConfig",
                                       "CaptchaConfig", "ChallengeConfig"}
