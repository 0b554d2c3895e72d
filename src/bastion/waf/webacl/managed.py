"""AWS Managed Rules by their AWS names, as Bastion-native rule groups (and the CRS hook).

Each group is written in WAFv2 JSON and compiled by the same compiler as user rules, so the
groups exercise exactly the statements users get. Rule names and labels are AWS's published
ones (``SizeRestrictions_BODY`` labels ``awswaf:managed:aws:core-rule-set:SizeRestrictions_Body``);
the detection inside each rule is Bastion's own (AWS does not publish its patterns). The mapping
is documented in docs/webacl-managed-groups.md.

"OWASP CRS" (VendorName ``OWASP``, Name ``CoreRuleSet``, Version ``PL1``..``PL4`` for the
paranoia level) delegates to a ``CrsInspector``, the seam where the SecLang engine plugs in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bastion.waf.webacl.compiler import Env, ManagedGroup, compile_rules
from bastion.waf.webacl.ipranges import IPRanges
from bastion.waf.webacl.issues import Issues
from bastion.waf.webacl.jsonnode import Node
from bastion.waf.webacl.model import CrsInspector, RuleGroup
from bastion.waf.webacl.reputation import IPReputationList

__all__ = ["AWS_GROUPS", "CRS_NAME", "CRS_VENDOR", "ManagedCatalog"]

CRS_VENDOR = "OWASP"
CRS_NAME = "CoreRuleSet"
Json = dict[str, Any]


def _tt(*types: str) -> list[Json]:
    return [{"Priority": i, "Type": t} for i, t in enumerate(types or ("NONE",))]


URI: Json = {"UriPath": {}}
QS: Json = {"QueryString": {}}
ARGS: Json = {"AllQueryArguments": {}}
BODY: Json = {"Body": {"OversizeHandling": "CONTINUE"}}
COOKIE: Json = {"SingleHeader": {"Name": "cookie"}}
HEADERS: Json = {"Headers": {"MatchPattern": {"All": {}}, "MatchScope": "VALUE",
                             "OversizeHandling": "CONTINUE"}}


def _hdr(name: str) -> Json:
    return {"SingleHeader": {"Name": name}}


def _rx(field: Json, pattern: str, *tt: str) -> Json:
    return {"RegexMatchStatement": {"RegexString": pattern, "FieldToMatch": field,
                                    "TextTransformations": _tt(*tt)}}


def _size(field: Json, op: str, n: int) -> Json:
    return {"SizeConstraintStatement": {"FieldToMatch": field, "ComparisonOperator": op,
                                        "Size": n, "TextTransformations": _tt()}}


def _sqli(field: Json) -> Json:
    return {"SqliMatchStatement": {"FieldToMatch": field, "SensitivityLevel": "LOW",
                                   "TextTransformations": _tt("URL_DECODE",
                                                              "HTML_ENTITY_DECODE")}}


def _xss(field: Json) -> Json:
    return {"XssMatchStatement": {"FieldToMatch": field,
                                  "TextTransformations": _tt("URL_DECODE",
                                                             "HTML_ENTITY_DECODE")}}


def _iplist(name: str) -> Json:
    return {"BastionIPListStatement": {"List": name}}


_DEC = ("URL_DECODE", "HTML_ENTITY_DECODE", "LOWERCASE")

# Bastion's detection patterns (bytes regexes after the listed transformations).
_BAD_BOTS = r"nessus|nmap|nikto|sqlmap|masscan|zgrab|dirbuster|gobuster|wpscan|acunetix|" \
            r"netsparker|w3af|havij|nuclei|jaeles|openvas|fimap"
_SSRF = r"169\.254\.169\.254|fd00:ec2::254|\[fd00:ec2::254\]|metadata\.google\.internal|" \
        r"100\.100\.100\.200|instance-data"
_LFI = r"(?:^|[/\\=])\.\.(?:[/\\]|$)"
_EXT = r"\.(?:log|ini|cfg|conf|bak|backup|old|sql|swp|htaccess|htpasswd|ds_store|env)$"
_RFI = r"(?:https?|ftps?)://(?:\d{1,3}\.){3}\d{1,3}"
_SQLI_EXT = (r"\bunion\b[\s\S]{0,40}\bselect\b|\b(?:sleep|benchmark|pg_sleep)\s*\(|"
             r"waitfor\s+delay|\binformation_schema\b|\bload_file\s*\(|\binto\s+(?:out|dump)file\b"
             r"|'\s*(?:or|and)\s+'?\d+'?\s*=\s*'?\d+")
_JAVA = r"rO0AB|\xac\xed\x00\x05|(?i:java\.lang\.(?:runtime|processbuilder|reflect))"
_LOCALHOST = r"^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\]|::1)(?::\d+)?$"
_EXPLOITABLE = r"/(?:web-inf|meta-inf)(?:/|$)|/\.git/|/\.svn/|/actuator/|/wp-config\.php|" \
               r"/phpmyadmin/|/server-status"
_LOG4J = r"\$\{\s*(?:jndi|(?:lower|upper|env|sys|date|::-)[^}]*\})"
_LINUX_LFI = r"/etc/(?:passwd|shadow|group|hosts|issue)|/proc/(?:self|\d+)/" \
             r"(?:environ|cmdline|fd|maps)|/var/log/"
_UNIX = r"(?:[;|&`]|\$\(|\|\|)\s*(?:cat|ls|id|whoami|uname|wget|curl|nc|ncat|bash|sh|zsh|chmod" \
        r"|rm|echo|ping|sleep|python|perl)\b|\$\{?ifs\b|/bin/(?:ba|z|da)?sh\b"
_PHP = r"\b(?:system|exec|shell_exec|passthru|popen|proc_open|eval|assert|phpinfo|" \
       r"create_function|call_user_func)\s*\(|\$_(?:get|post|cookie|request|server|env|files)\b" \
       r"|php://(?:input|filter)"


def _rule(i: int, name: str, label: str, ns: str, statement: Json,
          action: str = "Block") -> Json:
    return {"Name": name, "Priority": i, "Statement": statement, "Action": {action: {}},
            "RuleLabels": [{"Name": f"awswaf:managed:aws:{ns}:{label}"}],
            "VisibilityConfig": {"SampledRequestsEnabled": True,
                                 "CloudWatchMetricsEnabled": True, "MetricName": name}}


def _group(ns: str, rows: list[tuple[str, str, Json] | tuple[str, str, Json, str]]) -> list[Json]:
    out = []
    for i, row in enumerate(rows):
        action = row[3] if len(row) == 4 else "Block"
        out.append(_rule(i, row[0], row[1], ns, row[2], action))
    return out


def _crs_rules() -> list[Json]:
    ns = "core-rule-set"
    return _group(ns, [
        ("NoUserAgent_HEADER", "NoUserAgent_Header",
         {"NotStatement": {"Statement": _size(_hdr("user-agent"), "GT", 0)}}),
        ("UserAgent_BadBots_HEADER", "BadBots_Header", _rx(_hdr("user-agent"), _BAD_BOTS,
                                                           *_DEC)),
        ("SizeRestrictions_QUERYSTRING", "SizeRestrictions_QueryString", _size(QS, "GT", 2048)),
        ("SizeRestrictions_Cookie_HEADER", "SizeRestrictions_Cookie_Header",
         _size(COOKIE, "GT", 10240)),
        ("SizeRestrictions_BODY", "SizeRestrictions_Body",
         _size({"Body": {"OversizeHandling": "MATCH"}}, "GT", 8192)),
        ("SizeRestrictions_URIPATH", "SizeRestrictions_URIPath", _size(URI, "GT", 1024)),
        ("EC2MetaDataSSRF_BODY", "EC2MetaDataSSRF_Body", _rx(BODY, _SSRF, *_DEC)),
        ("EC2MetaDataSSRF_COOKIE", "EC2MetaDataSSRF_Cookie", _rx(COOKIE, _SSRF, *_DEC)),
        ("EC2MetaDataSSRF_URIPATH", "EC2MetaDataSSRF_URIPath", _rx(URI, _SSRF, *_DEC)),
        ("EC2MetaDataSSRF_QUERYARGUMENTS", "EC2MetaDataSSRF_QueryArguments",
         _rx(ARGS, _SSRF, *_DEC)),
        ("GenericLFI_QUERYARGUMENTS", "GenericLFI_QueryArguments", _rx(ARGS, _LFI, *_DEC)),
        ("GenericLFI_URIPATH", "GenericLFI_URIPath", _rx(URI, _LFI, "URL_DECODE")),
        ("GenericLFI_BODY", "GenericLFI_Body", _rx(BODY, _LFI, *_DEC)),
        ("RestrictedExtensions_URIPATH", "RestrictedExtensions_URIPath",
         _rx(URI, _EXT, "URL_DECODE", "LOWERCASE")),
        ("RestrictedExtensions_QUERYARGUMENTS", "RestrictedExtensions_QueryArguments",
         _rx(ARGS, _EXT, "URL_DECODE", "LOWERCASE")),
        ("GenericRFI_QUERYARGUMENTS", "GenericRFI_QueryArguments", _rx(ARGS, _RFI, *_DEC)),
        ("GenericRFI_BODY", "GenericRFI_Body", _rx(BODY, _RFI, *_DEC)),
        ("GenericRFI_URIPATH", "GenericRFI_URIPath", _rx(URI, _RFI, *_DEC)),
        ("CrossSiteScripting_COOKIE", "CrossSiteScripting_Cookie", _xss(COOKIE)),
        ("CrossSiteScripting_QUERYARGUMENTS", "CrossSiteScripting_QueryArguments", _xss(ARGS)),
        ("CrossSiteScripting_BODY", "CrossSiteScripting_Body", _xss(BODY)),
        ("CrossSiteScripting_URIPATH", "CrossSiteScripting_URIPath", _xss(URI)),
    ])


def _sqli_rules() -> list[Json]:
    ns = "sql-database"
    return _group(ns, [
        ("SQLi_QUERYARGUMENTS", "SQLi_QueryArguments", _sqli(ARGS)),
        ("SQLiExtendedPatterns_QUERYARGUMENTS", "SQLiExtendedPatterns_QueryArguments",
         _rx(ARGS, _SQLI_EXT, *_DEC, "REPLACE_COMMENTS", "COMPRESS_WHITE_SPACE")),
        ("SQLi_BODY", "SQLi_Body", _sqli(BODY)),
        ("SQLiExtendedPatterns_BODY", "SQLiExtendedPatterns_Body",
         _rx(BODY, _SQLI_EXT, *_DEC, "REPLACE_COMMENTS", "COMPRESS_WHITE_SPACE")),
        ("SQLi_COOKIE", "SQLi_Cookie", _sqli(COOKIE)),
        ("SQLi_URIPATH", "SQLi_URIPath", _sqli(URI)),
    ])


def _bad_inputs_rules() -> list[Json]:
    ns = "known-bad-inputs"
    return _group(ns, [
        ("JavaDeserializationRCE_HEADER", "JavaDeserializationRCE_Header",
         _rx(HEADERS, _JAVA, "URL_DECODE")),
        ("JavaDeserializationRCE_BODY", "JavaDeserializationRCE_Body",
         _rx(BODY, _JAVA, "URL_DECODE")),
        ("JavaDeserializationRCE_URIPATH", "JavaDeserializationRCE_URIPath",
         _rx(URI, _JAVA, "URL_DECODE")),
        ("JavaDeserializationRCE_QUERYSTRING", "JavaDeserializationRCE_QueryString",
         _rx(QS, _JAVA, "URL_DECODE")),
        ("Host_localhost_HEADER", "Host_Localhost_Header",
         _rx(_hdr("host"), _LOCALHOST, "LOWERCASE", "TRIM")),
        ("PROPFIND_METHOD", "Propfind_Method",
         {"ByteMatchStatement": {"SearchString": "PROPFIND", "FieldToMatch": {"Method": {}},
                                 "PositionalConstraint": "EXACTLY",
                                 "TextTransformations": _tt("UPPERCASE")}}),
        ("ExploitablePaths_URIPATH", "ExploitablePaths_URIPath",
         _rx(URI, _EXPLOITABLE, "URL_DECODE", "NORMALIZE_PATH", "LOWERCASE")),
        ("Log4JRCE_HEADER", "Log4JRCE_Header", _rx(HEADERS, _LOG4J, *_DEC)),
        ("Log4JRCE_QUERYSTRING", "Log4JRCE_QueryString", _rx(QS, _LOG4J, *_DEC)),
        ("Log4JRCE_BODY", "Log4JRCE_Body", _rx(BODY, _LOG4J, *_DEC)),
        ("Log4JRCE_URIPATH", "Log4JRCE_URIPath", _rx(URI, _LOG4J, *_DEC)),
    ])


def _linux_rules() -> list[Json]:
    t = ("URL_DECODE", "NORMALIZE_PATH", "LOWERCASE")
    return _group("linux-os", [
        ("LFI_URIPATH", "LFI_URIPath", _rx(URI, _LINUX_LFI, *t)),
        ("LFI_QUERYSTRING", "LFI_QueryString", _rx(QS, _LINUX_LFI, *t)),
        ("LFI_HEADER", "LFI_Header", _rx(HEADERS, _LINUX_LFI, *t)),
    ])


def _unix_rules() -> list[Json]:
    t = ("URL_DECODE", "CMD_LINE_UNIX")
    return _group("posix-os", [
        ("UNIXShellCommandsVariables_QUERYARGUMENTS", "UNIXShellCommandsVariables_QueryArguments",
         _rx(ARGS, _UNIX, *t)),
        ("UNIXShellCommandsVariables_BODY", "UNIXShellCommandsVariables_Body",
         _rx(BODY, _UNIX, *t)),
        ("UNIXShellCommandsVariables_HEADER", "UNIXShellCommandsVariables_Header",
         _rx(HEADERS, _UNIX, *t)),
    ])


def _php_rules() -> list[Json]:
    return _group("php-app", [
        ("PHPHighRiskMethodsVariables_HEADER", "PHPHighRiskMethodsVariables_Header",
         _rx(HEADERS, _PHP, *_DEC)),
        ("PHPHighRiskMethodsVariables_QUERYSTRING", "PHPHighRiskMethodsVariables_QueryString",
         _rx(QS, _PHP, *_DEC)),
        ("PHPHighRiskMethodsVariables_BODY", "PHPHighRiskMethodsVariables_Body",
         _rx(BODY, _PHP, *_DEC)),
    ])


def _amazon_ip_rules() -> list[Json]:
    return _group("amazon-ip-list", [
        ("AWSManagedIPReputationList", "AWSManagedIPReputationList",
         _iplist("AWSManagedIPReputationList")),
        ("AWSManagedReconnaissanceList", "AWSManagedReconnaissanceList",
         _iplist("AWSManagedReconnaissanceList")),
        ("AWSManagedIPDDoSList", "AWSManagedIPDDoSList", _iplist("AWSManagedIPDDoSList"),
         "Count"),
    ])


def _anonymous_rules() -> list[Json]:
    return _group("anonymous-ip-list", [
        ("AnonymousIPList", "AnonymousIPList", _iplist("AnonymousIPList")),
        ("HostingProviderIPList", "HostingProviderIPList", _iplist("HostingProviderIPList")),
    ])


# name -> (label namespace, rule builder, IP lists it reads)
AWS_GROUPS: dict[str, tuple[str, Callable[[], list[Json]], tuple[str, ...]]] = {
    "AWSManagedRulesCommonRuleSet": ("core-rule-set", _crs_rules, ()),
    "AWSManagedRulesSQLiRuleSet": ("sql-database", _sqli_rules, ()),
    "AWSManagedRulesKnownBadInputsRuleSet": ("known-bad-inputs", _bad_inputs_rules, ()),
    "AWSManagedRulesLinuxRuleSet": ("linux-os", _linux_rules, ()),
    "AWSManagedRulesUnixRuleSet": ("posix-os", _unix_rules, ()),
    "AWSManagedRulesPHPRuleSet": ("php-app", _php_rules, ()),
    "AWSManagedRulesAmazonIpReputationList": (
        "amazon-ip-list", _amazon_ip_rules,
        ("AWSManagedIPReputationList", "AWSManagedReconnaissanceList", "AWSManagedIPDDoSList")),
    "AWSManagedRulesAnonymousIpList": ("anonymous-ip-list", _anonymous_rules,
                                       ("AnonymousIPList", "HostingProviderIPList")),
}

_EMPTY = IPRanges()


class ManagedCatalog:
    """Resolves ManagedRuleGroupStatements. ``ip_lists`` maps AWS list names
    (``AWSManagedIPReputationList``, ``AnonymousIPList`` ...) to reloadable lists; ``crs`` is
    the OWASP CRS hook. Compiled groups are cached: every Web ACL shares them."""

    def __init__(self, *, ip_lists: Mapping[str, IPReputationList] | None = None,
                 crs: CrsInspector | None = None) -> None:
        self.ip_lists = dict(ip_lists or {})
        self.crs = crs
        self._cache: dict[str, RuleGroup] = {}

    def names(self) -> list[str]:
        return [*AWS_GROUPS, f"{CRS_VENDOR}/{CRS_NAME}"]

    def group(self, name: str) -> RuleGroup:
        """The compiled AWS group ``name`` (raises KeyError for an unknown name)."""
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        ns_part, build, _lists = AWS_GROUPS[name]
        ns = f"awswaf:managed:aws:{ns_part}:"
        issues = Issues(f"<managed {name}>")
        sources: dict[str, Callable[[], IPRanges]] = {}
        for lst in _lists:
            rep = self.ip_lists.get(lst)
            sources[lst] = rep.ranges if rep is not None else (lambda: _EMPTY)
        env = Env(namespace=ns, internal=True, in_group=True, ip_lists=sources)
        nodes = [Node(r, f"{name}.Rules[{i}]", issues) for i, r in enumerate(build())]
        rules = compile_rules(nodes, env)
        issues.raise_if(strict=True)  # a bug in Bastion's own definitions
        group = RuleGroup(name, f"AWS#{name}", ns, rules, name)
        self._cache[name] = group
        return group

    def __call__(self, node: Node, vendor: str, name: str,
                 version: str | None) -> ManagedGroup | None:
        if vendor == CRS_VENDOR and name == CRS_NAME:
            return self._crs(node, version)
        if vendor != "AWS" or name not in AWS_GROUPS:
            node.issues.unsupported(node.path, f"managed rule group {vendor}/{name} is not "
                                    "shipped by Bastion (see docs/webacl-managed-groups.md)")
            return None
        if version is not None:
            node.issues.warning(node.at("Version"), f"Bastion ships one version of {name}; "
                                f"{version} is evaluated with it")
        for lst in AWS_GROUPS[name][2]:
            if lst not in self.ip_lists:
                node.issues.warning(node.path, f"IP list {lst} is not configured: its rule "
                                    "never matches")
        return ManagedGroup(self.group(name))

    def _crs(self, node: Node, version: str | None) -> ManagedGroup | None:
        level = 1
        if version is not None:
            if version.upper() in ("PL1", "PL2", "PL3", "PL4"):
                level = int(version[2])
            else:
                node.issues.error(node.at("Version"), "the OWASP CRS group takes Version "
                                  "PL1, PL2, PL3 or PL4 (the paranoia level)")
        if self.crs is None:
            node.issues.unsupported(node.path, "the OWASP CRS engine is not connected")
            return None
        ns = "awswaf:managed:owasp:core-rule-set:"
        group = RuleGroup(CRS_NAME, f"{CRS_VENDOR}#{CRS_NAME}", ns, (), CRS_NAME)
        return ManagedGroup(group, self.crs, level)
