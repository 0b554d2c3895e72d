"""Load a Web ACL from the JSON AWS prints, with the IP sets, regex pattern sets and rule
groups it references, into a frozen ``WebAcl``.

Accepted shapes for every document: the ``get-*`` envelope (``{"WebACL": {...}, "LockToken":
...}``, ``{"IPSet": {...}}`` ...) or the bare object. A Web ACL document may also carry the
referenced resources inline, as a bundle: ``"IPSets"``, ``"RegexPatternSets"``, ``"RuleGroups"``
lists next to ``"WebACL"``.

``SearchString`` is a blob in the WAFv2 model: the CLI prints it base64-encoded while the console's
JSON editor shows plain text. ``search_strings="auto"`` (the default) reads it as base64 inside a
``get-web-acl`` envelope and as plain text in a bare WebACL object.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from bastion.waf.webacl.compiler import (
    Env,
    compile_action,
    compile_bodies,
    compile_regex,
    compile_rules,
    compile_visibility,
    immunity,
)
from bastion.waf.webacl.ipranges import IPRanges, parse_network
from bastion.waf.webacl.issues import Issues
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.managed import ManagedCatalog
from bastion.waf.webacl.model import Action, RuleGroup, WebAcl
from bastion.waf.webacl.regex import Pattern

__all__ = ["load_web_acl", "parse_web_acl"]

_BODY_LIMITS = {"KB_8": 8192, "KB_16": 16384, "KB_32": 32768, "KB_48": 49152, "KB_64": 65536}
# What AWS applies to API Gateway when AssociationConfig does not say otherwise.
DEFAULT_BODY_LIMIT = 16384

_ENVELOPE_INFO = frozenset({"LockToken", "ApplicationIntegrationURL", "NextLockToken"})
ACL_INFORMATIONAL = frozenset({"Id", "Description", "Capacity", "ManagedByFirewallManager",
                       "RetrofittedByFirewallManager", "ApplicationConfig", "AnalyticsConfig",
                       "ARN"})
ACL_UNSUPPORTED = {
    "DataProtectionConfig": "log field redaction (DataProtectionConfig) is not supported",
    "OnSourceDDoSProtectionConfig": "ALB low-reputation DDoS mode is not supported",
    "MonetizationConfig": "Monetize (CloudFront payments) is not supported",
    "PreProcessFirewallManagerRuleGroups": "Firewall Manager rule groups are not supported",
    "PostProcessFirewallManagerRuleGroups": "Firewall Manager rule groups are not supported",
}


def _read(path: str | Path) -> Any:
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        issues = Issues(str(p))
        issues.error("", f"cannot read: {exc.strerror}")
        issues.raise_if(strict=False)
    except ValueError as exc:
        issues = Issues(str(p))
        issues.error("", f"not JSON: {exc}")
        issues.raise_if(strict=False)
    raise AssertionError("unreachable")


def _unwrap(doc: Any, key: str, issues: Issues, path: str,
            more: frozenset[str] = frozenset()) -> tuple[Node | None, bool]:
    """(the resource node, whether it came in a get-* envelope). Envelope keys other than
    ``key``, ``LockToken`` and the like are reported, like any other unread field."""
    if isinstance(doc, dict) and key in doc:
        env = Node(doc, path, issues)
        inner = env.obj(key)
        env.finish(informational=_ENVELOPE_INFO | more)
        return inner, True
    return Node.of(doc, path, issues), False


def _labelled(item: Any, default: str) -> tuple[str, Any]:
    """A resource given as ``(file name, document)`` reports its findings under that name."""
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return f"{item[0]}:", item[1]
    return default, item


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[4] else "000000000000"


def _ip_set(node: Node, out: dict[str, IPRanges]) -> None:
    arn = node.get("ARN", str, required=True)
    node.get("Name", str, required=True)
    version = node.enum("IPAddressVersion", ("IPV4", "IPV6"), required=True)
    addrs = node.strs("Addresses", required=True)
    node.finish(informational=frozenset({"Id", "Description"}))
    nets = []
    for i, a in enumerate(addrs):
        try:
            net = parse_network(a)
        except ValueError:
            node.issues.error(f"{node.at('Addresses')}[{i}]", f"{a!r} is not an IP/CIDR")
            continue
        if version and net.version != (4 if version == "IPV4" else 6):
            node.issues.error(f"{node.at('Addresses')}[{i}]", f"{a!r} is not {version}")
            continue
        nets.append(net)
    if arn:
        out[arn] = IPRanges(nets)


def _regex_set(node: Node, out: dict[str, tuple[Pattern, ...]]) -> None:
    arn = node.get("ARN", str, required=True)
    pats: list[Pattern] = []
    for r in node.objs("RegularExpressionList", required=True):
        s = r.get("RegexString", str, required=True)
        r.finish()
        if s is None:
            continue
        pat = compile_regex(r.issues, r.at("RegexString"), s)
        if pat is not None:
            pats.append(pat)
    node.finish(informational=frozenset({"Id", "Name", "Description"}))
    if arn:
        out[arn] = tuple(pats)


def _rule_group_builder(node: Node, env: Env) -> tuple[str | None, Callable[[], RuleGroup | None]]:
    arn = node.get("ARN", str)
    name = node.get("Name", str, required=True) or "rulegroup"
    ns = node.get("LabelNamespace", str) or f"awswaf:{_account(arn or '')}:rulegroup:{name}:"
    if not ns.endswith(":"):
        ns += ":"
    cache: list[RuleGroup | None] = []

    def build() -> RuleGroup | None:
        if cache:
            return cache[0]
        bodies = compile_bodies(node)
        genv = env.child(namespace=ns, bodies=bodies, in_group=True)
        rules = compile_rules(node.objs("Rules"), genv)
        metric = compile_visibility(node.obj("VisibilityConfig", required=True))
        node.finish(informational=frozenset({"Id", "Capacity", "Description", "AvailableLabels",
                                             "ConsumedLabels"}),
                    known_unsupported={"MonetizationConfig": "Monetize is not supported"})
        group = RuleGroup(name, arn or name, ns, rules, metric or name)
        cache.append(group)
        return group

    return arn, build


def parse_web_acl(
    doc: Any,
    *,
    file: str | None = None,
    ip_sets: Sequence[Any] = (),
    regex_sets: Sequence[Any] = (),
    rule_groups: Sequence[Any] = (),
    managed: ManagedCatalog | None = None,
    search_strings: Literal["auto", "base64", "plain"] = "auto",
    resource_type: str = "API_GATEWAY",
    body_limit: int | None = None,
    strict: bool = True,
    issues: Issues | None = None,
) -> WebAcl:
    """Compile a parsed Web ACL document (plus referenced resources, parsed) into a WebAcl.

    Raises ``ConfigErrors`` listing every error (and, when ``strict``, every unsupported field);
    the remaining findings are on ``WebAcl.issues``.
    """
    issues = issues if issues is not None else Issues(file)
    extra_ip = list(ip_sets)
    extra_rx = list(regex_sets)
    extra_rg = list(rule_groups)
    bundle_info: set[str] = set()
    if isinstance(doc, dict) and "WebACL" in doc:
        for key, into in (("IPSets", extra_ip), ("RegexPatternSets", extra_rx),
                          ("RuleGroups", extra_rg)):
            if key in doc:
                bundle_info.add(key)
                items = doc[key]
                if isinstance(items, list):
                    into.extend(items)
                else:
                    issues.error(key, "expected a list")
    acl_node, enveloped = _unwrap(doc, "WebACL", issues, "", frozenset(bundle_info))
    use_b64 = search_strings == "base64" or (search_strings == "auto" and enveloped)
    if acl_node is None:
        issues.raise_if(strict=False)
        raise AssertionError("unreachable")
    acl_node.path = "WebACL" if enveloped else ""

    ipd: dict[str, IPRanges] = {}
    for i, d in enumerate(extra_ip):
        label, d = _labelled(d, f"IPSets[{i}]")
        n, _ = _unwrap(d, "IPSet", issues, label)
        if n is not None:
            _ip_set(n, ipd)
    rxd: dict[str, tuple[Pattern, ...]] = {}
    for i, d in enumerate(extra_rx):
        label, d = _labelled(d, f"RegexPatternSets[{i}]")
        n, _ = _unwrap(d, "RegexPatternSet", issues, label)
        if n is not None:
            _regex_set(n, rxd)

    name = acl_node.get("Name", str, required=True) or "webacl"
    arn = acl_node.get("ARN", str, required=True) or ""
    acl_id = acl_node.get("Id", str, required=True) or ""
    ns = acl_node.get("LabelNamespace", str) or f"awswaf:{_account(arn)}:webacl:{name}:"
    if not ns.endswith(":"):
        ns += ":"
    bodies = compile_bodies(acl_node)
    cap = immunity(acl_node, "CaptchaConfig", 300)
    chal = immunity(acl_node, "ChallengeConfig", 300)
    limit = body_limit or _body_limit(acl_node, resource_type)
    tokens = tuple(acl_node.strs("TokenDomains"))
    for key in ("PreProcessFirewallManagerRuleGroups", "PostProcessFirewallManagerRuleGroups"):
        if acl_node.raw(key) not in (None, []):
            issues.unsupported(acl_node.at(key), ACL_UNSUPPORTED[key])

    env = Env(namespace=ns, bodies=bodies, ip_sets=ipd, regex_sets=rxd, managed=managed or
              ManagedCatalog(), search_base64=use_b64, captcha_immunity=cap,
              challenge_immunity=chal)
    groups: dict[str, Callable[[], RuleGroup | None]] = {}
    for i, d in enumerate(extra_rg):
        label, d = _labelled(d, f"RuleGroups[{i}]")
        n, _ = _unwrap(d, "RuleGroup", issues, label)
        if n is not None:
            garn, build = _rule_group_builder(n, env)
            if garn:
                groups[garn] = build
    env.rule_groups = groups

    da_node = acl_node.obj("DefaultAction", required=True)
    default = compile_action(da_node, env, default=True) if da_node is not None else None
    rules = compile_rules(acl_node.objs("Rules"), env)
    metric = compile_visibility(acl_node.obj("VisibilityConfig", required=True))
    acl_node.finish(ACL_UNSUPPORTED, informational=ACL_INFORMATIONAL)
    for garn, build in groups.items():  # groups nobody referenced are still validated
        build()
        del garn
    issues.raise_if(strict=strict)
    return WebAcl(name, acl_id, arn, ns, default or Action("ALLOW"), rules, metric or name,
                  limit, cap, chal, tokens, tuple(issues))


def _body_limit(acl: Node, resource_type: str) -> int:
    """The body inspection limit: 16 KB unless AssociationConfig raises it for this resource
    type; fixed at 8 KB for Application Load Balancers and AppSync, as on AWS."""
    fixed = resource_type in ("APPLICATION_LOAD_BALANCER", "APPSYNC")
    default = 8192 if fixed else DEFAULT_BODY_LIMIT
    assoc = acl.obj("AssociationConfig")
    if assoc is None:
        return default
    limit = default
    rb = assoc.obj("RequestBody")
    if rb is not None:
        for rtype in list(rb.keys()):
            cfg = rb.obj(rtype)
            if cfg is None:
                continue
            val = cfg.enum("DefaultSizeInspectionLimit", tuple(_BODY_LIMITS), required=True)
            cfg.finish()
            if val and rtype == resource_type and not fixed:
                limit = _BODY_LIMITS[val]
        rb.finish(informational=frozenset(rb.keys()))
    assoc.finish({"ChallengeJavascriptSdkInjection": "automatic challenge SDK injection is "
                  "not supported"})
    return limit


def load_web_acl(
    path: str | Path,
    *,
    ip_sets: Sequence[str | Path] = (),
    regex_sets: Sequence[str | Path] = (),
    rule_groups: Sequence[str | Path] = (),
    managed: ManagedCatalog | None = None,
    search_strings: Literal["auto", "base64", "plain"] = "auto",
    resource_type: str = "API_GATEWAY",
    body_limit: int | None = None,
    strict: bool = True,
    issues: Issues | None = None,
) -> WebAcl:
    """Read and compile a Web ACL file (and the files of the resources it references)."""
    doc = _read(path)
    return parse_web_acl(
        doc, file=str(path),
        ip_sets=[(str(p), _read(p)) for p in ip_sets],
        regex_sets=[(str(p), _read(p)) for p in regex_sets],
        rule_groups=[(str(p), _read(p)) for p in rule_groups],
        managed=managed, search_strings=search_strings, resource_type=resource_type,
        body_limit=body_limit, strict=strict, issues=issues,
    )


