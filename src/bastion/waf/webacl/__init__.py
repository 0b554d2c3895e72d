"""AWS WAFv2-compatible Web ACLs: load the JSON ``aws wafv2 get-web-acl`` prints, evaluate
requests exactly as AWS documents (with exact rate-based rules), log in AWS's WAF log schema.

Typical use::

    acl = load_web_acl("webacl.json", managed=ManagedCatalog(ip_lists=...))
    waf = WebAclEvaluator(acl, clock=clock, store=storage, tokens=TokenService(secret, clock))
    result = await waf.evaluate(request)      # bastion.pipeline.Request or WafRequest
    record = result.to_log_record(web_acl_arn=acl.arn, request=..., timestamp_ms=...)
"""

from __future__ import annotations

from bastion.waf.webacl.context import (
    CountryLookup,
    Detectors,
    LibinjectionDetectors,
    MaxMindCountryLookup,
)
from bastion.waf.webacl.evaluator import WebAclEvaluator
from bastion.waf.webacl.ipranges import IPRanges
from bastion.waf.webacl.issues import Issue, Issues
from bastion.waf.webacl.loader import load_web_acl, parse_web_acl
from bastion.waf.webacl.managed import AWS_GROUPS, CRS_NAME, CRS_VENDOR, ManagedCatalog
from bastion.waf.webacl.model import CrsInspector, CrsVerdict, CustomResponse, WebAcl
from bastion.waf.webacl.ratelimit import GuardedRateStore, MemoryRateStore, RateStore
from bastion.waf.webacl.reputation import IPReputationList
from bastion.waf.webacl.request import WafRequest
from bastion.waf.webacl.result import Evaluation, RuleCounters
from bastion.waf.webacl.tokens import TOKEN_COOKIE, TokenService
from bastion.waf.webacl.transforms import TRANSFORMS

__all__ = [
    "AWS_GROUPS",
    "CRS_NAME",
    "CRS_VENDOR",
    "TOKEN_COOKIE",
    "TRANSFORMS",
    "CountryLookup",
    "CrsInspector",
    "CrsVerdict",
    "CustomResponse",
    "Detectors",
    "Evaluation",
    "GuardedRateStore",
    "IPRanges",
    "IPReputationList",
    "Issue",
    "Issues",
    "LibinjectionDetectors",
    "ManagedCatalog",
    "MaxMindCountryLookup",
    "MemoryRateStore",
    "RateStore",
    "RuleCounters",
    "TokenService",
    "WafRequest",
    "WebAcl",
    "WebAclEvaluator",
    "load_web_acl",
    "parse_web_acl",
]
