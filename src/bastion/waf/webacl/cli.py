"""``bastion waf import FILE.json``: validate an exported Web ACL and report what Bastion cannot
enforce. Exit 0 when it loads with at most warnings, 1 when any field is unsupported or invalid.

Every finding names the file and the JSON path (``WebACL.Rules[3].Statement...``), so a user
can see at a glance which part of the AWS configuration would behave differently locally.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bastion.clock import SystemClock
from bastion.errors import ConfigError, ConfigErrors
from bastion.waf.webacl.issues import Issues
from bastion.waf.webacl.loader import load_web_acl
from bastion.waf.webacl.managed import AWS_GROUPS, ManagedCatalog
from bastion.waf.webacl.model import CrsVerdict, GroupRef, RateBased, WebAcl
from bastion.waf.webacl.reputation import IPReputationList
from bastion.waf.webacl.request import WafRequest

__all__ = ["add_import_parser", "add_parser", "run"]


def add_import_parser(waf_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import`` to an existing ``bastion waf`` subparsers object."""
    p: argparse.ArgumentParser = waf_subparsers.add_parser(
        "import", help="validate an AWS WAFv2 Web ACL export",
        description="Load a Web ACL as `aws wafv2 get-web-acl` prints it (or the bare WebACL "
                    "object, or a bundle with IPSets/RegexPatternSets/RuleGroups) and report "
                    "every field Bastion does not support. Exit 0 OK (warnings allowed), 1 "
                    "unsupported or invalid fields.")
    p.add_argument("file", metavar="FILE.json")
    p.add_argument("--ip-set", action="append", default=[], metavar="F.json",
                   help="an IP set (get-ip-set output); repeat for several")
    p.add_argument("--regex-set", action="append", default=[], metavar="F.json",
                   help="a regex pattern set (get-regex-pattern-set output)")
    p.add_argument("--rule-group", action="append", default=[], metavar="F.json",
                   help="a rule group (get-rule-group output)")
    p.add_argument("--ip-list", action="append", default=[], metavar="NAME=FILE",
                   help="a managed IP list file, e.g. AWSManagedIPReputationList=drop.txt")
    p.add_argument("--search-strings", choices=("auto", "base64", "plain"), default="auto",
                   help="how ByteMatch SearchString is encoded (auto: base64 inside a "
                        "get-web-acl envelope, plain text in a bare WebACL object)")
    p.add_argument("--resource-type", default="API_GATEWAY",
                   help="AssociationConfig entry that sets the body inspection limit")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(handler=run, func=run)
    return p


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``waf`` (with its ``import`` subcommand) to a ``bastion`` subparsers object."""
    waf: argparse.ArgumentParser = subparsers.add_parser("waf", help="Web ACL tools")
    sub = waf.add_subparsers(dest="waf_command", required=True)
    add_import_parser(sub)
    return waf


def _no_crs(request: WafRequest, paranoia: int, excluded: frozenset[str]) -> CrsVerdict:
    return CrsVerdict()  # validation only: the CRS engine is connected by `bastion serve`


def _summary(acl: WebAcl) -> list[str]:
    out = [f"Web ACL {acl.name}: {len(acl.rules)} rules, default action "
           f"{acl.default_action.kind}, body inspection limit {acl.body_limit // 1024} KB"]
    for r in acl.rules:
        body = r.body
        if isinstance(body, GroupRef):
            kind = f"{body.rule_type.lower()} {body.group.name}"
            act = "override Count" if r.override_count else "override None"
        elif isinstance(body, RateBased):
            kind = f"rate-based {body.limit}/{body.window_s}s by {body.key_type}"
            act = r.action.kind if r.action else "-"
        else:
            kind = type(body).__name__
            act = r.action.kind if r.action else "-"
        out.append(f"  {r.priority:>5}  {r.name:<40} {kind} [{act}]")
    return out


def _ip_lists(specs: list[str]) -> dict[str, IPReputationList] | None:
    known = {n for _, _, lists in AWS_GROUPS.values() for n in lists}
    out: dict[str, IPReputationList] = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if name not in known or not path:
            print(f"error: --ip-list {spec!r}: expected NAME=FILE with NAME one of "
                  f"{', '.join(sorted(known))}", file=sys.stderr)
            return None
        if not Path(path).is_file():
            print(f"error: --ip-list {spec!r}: file not found", file=sys.stderr)
            return None
        out.setdefault(name, IPReputationList(name, [path], SystemClock()))
    return out


def run(args: argparse.Namespace) -> int:
    issues = Issues(args.file)
    acl: WebAcl | None = None
    lists = _ip_lists(args.ip_list)
    if lists is None:
        return 1
    try:
        acl = load_web_acl(args.file, ip_sets=args.ip_set, regex_sets=args.regex_set,
                           rule_groups=args.rule_group,
                           managed=ManagedCatalog(ip_lists=lists, crs=_no_crs),
                           search_strings=args.search_strings,
                           resource_type=args.resource_type, strict=False, issues=issues)
    except ConfigErrors as exc:
        if not issues.items:  # a file that could not be read or parsed
            for e in exc.errors:
                print(f"error: {e.render()}", file=sys.stderr)
            return 1
    except ConfigError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        return 1
    findings = list(issues)
    bad = [i for i in findings if i.severity in ("error", "unsupported")]
    if args.json:
        print(json.dumps({"ok": not bad, "webAcl": acl.name if acl else None,
                          "rules": len(acl.rules) if acl else None,
                          "findings": [{"severity": i.severity, "file": i.file, "path": i.path,
                                        "message": i.message} for i in findings]}, indent=2))
    else:
        if acl is not None:
            print("\n".join(_summary(acl)))
        for i in findings:
            print(i.render(), file=sys.stderr if i.severity != "warning" else sys.stdout)
        counts = {s: sum(1 for i in findings if i.severity == s)
                  for s in ("error", "unsupported", "warning")}
        verdict = "OK" if not bad else "NOT ENFORCEABLE AS EXPORTED"
        print(f"{args.file}: {verdict} ({counts['error']} errors, {counts['unsupported']} "
              f"unsupported, {counts['warning']} warnings)")
    return 1 if bad else 0
