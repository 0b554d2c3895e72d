"""Turn the Athena WAF log DDL (Hive types) into a JSON Schema for the records we emit.

Hive/OpenX semantics: column names are case-insensitive, so each lower-case DDL name maps back to
the camelCase key AWS writes; ``string`` columns hold any JSON scalar (the SerDe stringifies
numbers); ``int``/``bigint`` hold integers or digit strings; every column may be null. On top of
the DDL go the few constraints the AWS docs state in prose: the required keys and the enums.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "waflog"

CAMEL = {n.lower(): n for n in (
    "timestamp formatVersion webaclId terminatingRuleId terminatingRuleType action "
    "terminatingRuleMatchDetails conditionType sensitivityLevel location matchedData "
    "httpSourceName httpSourceId ruleGroupList ruleGroupId terminatingRule ruleId "
    "ruleMatchDetails nonTerminatingMatchingRules overriddenAction challengeResponse "
    "captchaResponse responseCode solveTimestamp excludedRules rateBasedRuleList "
    "rateBasedRuleId rateBasedRuleName limitKey limitValue maxRateAllowed evaluationWindowSec "
    "customValues key name value requestHeadersInserted responseCodeSent httpRequest clientIp "
    "country headers uri args httpVersion httpMethod requestId fragment scheme host labels "
    "failureReason ja3Fingerprint ja4Fingerprint oversizeFields requestBodySize "
    "requestBodySizeInspectedByWAF"
).split()}

REQUIRED = {
    "": ["timestamp", "formatVersion", "webaclId", "terminatingRuleId", "terminatingRuleType",
         "action", "httpSourceName", "httpSourceId", "ruleGroupList", "rateBasedRuleList",
         "nonTerminatingMatchingRules", "httpRequest"],
    "httpRequest": ["clientIp", "country", "headers", "uri", "args", "httpVersion",
                    "httpMethod", "requestId"],
}
ENUMS = {
    "action": ["ALLOW", "BLOCK", "CAPTCHA", "CHALLENGE"],
    "terminatingRuleType": ["REGULAR", "RATE_BASED", "GROUP", "MANAGED_RULE_GROUP"],
}
SCALAR = {
    "string": {"type": ["string", "number", "boolean", "null"]},
    "int": {"anyOf": [{"type": ["integer", "null"]}, {"type": "string", "pattern": "^-?[0-9]+$"}]},
}
SCALAR["bigint"] = SCALAR["int"]


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[<>,:]", text)
        self.i = 0

    def take(self, want: str | None = None) -> str:
        tok = self.toks[self.i]
        if want is not None and tok != want:
            raise ValueError(f"expected {want!r}, got {tok!r}")
        self.i += 1
        return tok

    def type_(self, path: str) -> dict[str, Any]:
        kind = self.take().lower()
        if kind == "array":
            self.take("<")
            items = self.type_(path)
            self.take(">")
            return {"type": ["array", "null"], "items": items}
        if kind == "struct":
            self.take("<")
            props: dict[str, Any] = {}
            while True:
                name = CAMEL[self.take().lower()]
                self.take(":")
                props[name] = self.type_(name)
                if self.take() == ">":
                    break
            return _struct(path, props)
        return dict(SCALAR[kind])


def _struct(path: str, props: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ["object", "null"], "properties": props}
    if path in REQUIRED:
        out["required"] = REQUIRED[path]
        out["type"] = "object"
    return out


def schema_from_ddl(ddl: str) -> dict[str, Any]:
    body = "\n".join(line for line in ddl.splitlines() if not line.lstrip().startswith("--"))
    cols = body[body.index("(") + 1: body.rindex(")")]
    props: dict[str, Any] = {}
    for m in re.finditer(r"`(\w+)`\s+([^`]+?)(?:,\s*(?=`)|\s*$)", cols.strip()):
        name = CAMEL[m.group(1).lower()]
        props[name] = _Parser(m.group(2)).type_(name)
    for name, values in ENUMS.items():
        props[name] = {"type": "string", "enum": values}
    schema = _struct("", props)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "AWS WAF log record (from the Athena waf_logs DDL)"
    return schema


def generate() -> str:
    return json.dumps(schema_from_ddl((VECTORS / "waf_logs.ddl").read_text()), indent=1) + "\n"


if __name__ == "__main__":
    (VECTORS / "waf-log.schema.json").write_text(generate())
    sys.stdout.write("written\n")
