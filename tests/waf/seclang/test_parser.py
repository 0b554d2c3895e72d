from __future__ import annotations

from pathlib import Path

import pytest

from bastion.errors import ConfigError
from bastion.waf.seclang.lexer import logical_lines, split_words
from bastion.waf.seclang.parser import Parser
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.syntax import parse_actions, parse_operator, parse_targets


@pytest.mark.parametrize(
    ("line", "words"),
    [
        # Apache ap_getword_conf: \\ -> \ and \" -> " inside double quotes, others kept
        (r'SecRule ARGS "@rx a\\\\b" "id:1"', ["SecRule", "ARGS", r"@rx a\\b", "id:1"]),
        (r'SecRule ARGS "@rx \"x\" \d" "id:1"', ["SecRule", "ARGS", r'@rx "x" \d', "id:1"]),
        (r"SecRule ARGS '@rx it\'s' x", ["SecRule", "ARGS", "@rx it's", "x"]),
        (r"SecMarker END\\HERE", ["SecMarker", r"END\HERE"]),
        ('SecAction   "id:1,  pass"  ', ["SecAction", "id:1,  pass"]),
        (r'SecRule A "(?:^|[^\\\\])\\\\[cd]" "id:2"',
         ["SecRule", "A", r"(?:^|[^\\])\\[cd]", "id:2"]),
    ],
)
def test_words_follow_apache_quoting(line: str, words: list[str]) -> None:
    assert split_words(line) == words


def test_continuations_comments_and_line_numbers() -> None:
    text = ("# comment\n\nSecRule ARGS \"x\" \\\n    \"id:1,\\\n    pass\"\n"
            "  # indented\nSecMarker M\n")
    lines = list(logical_lines(text, "f.conf"))
    assert [(ln.line, ln.text) for ln in lines] == [
        (3, 'SecRule ARGS "x"     "id:1,    pass"'),
        (7, "SecMarker M"),
    ]


def test_targets_actions_and_operator_syntax() -> None:
    ts = parse_targets("ARGS|!ARGS:foo|&TX:x|REQUEST_COOKIES:/__utm/|XML:/*|TX:'/a\\/b/'")
    assert [t.render() for t in ts] == [
        "ARGS", "!ARGS:foo", "&TX:x", "REQUEST_COOKIES:/__utm/", "XML:/*", "TX:/a\\/b/"]
    assert ts[3].matches_key("x__UTMz") and ts[5].matches_key("A/B")
    acts = parse_actions("id:1,phase:2,t:none,t:lowercase,msg:'a, b \\'c\\'',setvar:tx.a=+%{x}")
    assert [(a.name, a.arg) for a in acts] == [
        ("id", "1"), ("phase", "2"), ("t", "none"), ("t", "lowercase"),
        ("msg", "a, b 'c'"), ("setvar", "tx.a=+%{x}")]
    assert parse_operator("!@eq 0") == ("eq", "0", True)
    assert parse_operator("^foo bar$") == ("rx", "^foo bar$", False)
    assert parse_operator("@unconditionalMatch") == ("unconditionalmatch", "", False)


def _parse(prims: Primitives, text: str, name: str = "t.conf") -> Parser:
    p = Parser(prims)
    p.parse_text(text, name, Path("."))
    p.finish()
    return p


def test_default_actions_chains_and_block(prims: Primitives) -> None:
    p = _parse(prims, """
SecDefaultAction "phase:2,log,auditlog,pass,t:lowercase"
SecRule ARGS "@rx a" "id:10,phase:2,block,msg:'m',tag:'x',tag:'y',chain"
    SecRule ARGS_NAMES "@rx b" "t:none,setvar:tx.a=1"
SecRule ARGS "@rx c" "id:11,phase:2,deny,nolog,t:urlDecodeUni"
""")
    r10, r11 = p.config.rules
    assert r10.effective_disruptive == "pass" and r10.log and r10.tags == ("x", "y")
    assert r10.transformations == ("lowercase",)
    assert r10.chain is not None and r10.chain.transformations == ()
    assert r10.chain.is_link and r10.chain.actions[0].arg == "tx.a=1"
    assert r11.transformations == ("lowercase", "urldecodeuni")
    assert r11.effective_disruptive == "deny" and not r11.log


def test_config_time_exclusions(prims: Primitives) -> None:
    p = _parse(prims, """
SecRule ARGS "@rx a" "id:1,phase:2,pass,tag:'attack-sqli',msg:'SQL thing'"
SecRule ARGS "@rx a" "id:2,phase:2,pass,tag:'attack-xss'"
SecRule ARGS "@rx a" "id:3,phase:2,pass,msg:'other'"
SecRule ARGS "@rx a" "id:4,phase:2,pass,severity:'CRITICAL'"
SecRule ARGS "@rx a" "id:5,phase:2,pass"
SecRuleUpdateTargetById 1 "!ARGS:password"
SecRuleUpdateTargetByTag "attack-xss" "!ARGS:/^json\\./"
SecRuleUpdateActionById 4 "severity:'WARNING',msg:'changed'"
SecRuleRemoveById 3
SecRuleRemoveByMsg "^SQL"
SecRuleRemoveById 6-10
""")
    ids = [r.id for r in p.config.rules]
    assert ids == [2, 4, 5]
    r2, r4, _ = p.config.rules
    assert [t.render() for t in r2.targets] == ["ARGS", "!ARGS:/^json\\./"]
    assert r4.severity == 4 and r4.msg == "changed"


def test_update_target_then_remove_by_tag(prims: Primitives) -> None:
    p = _parse(prims, """
SecRule ARGS "@rx a" "id:1,phase:2,pass,tag:'a'"
SecRuleUpdateTargetById 1 "!ARGS:x"
SecRuleRemoveByTag "^a$"
""")
    assert p.config.rules == []


def test_settings_directives(prims: Primitives) -> None:
    p = _parse(prims, """
SecRuleEngine DetectionOnly
SecRequestBodyAccess On
SecRequestBodyLimit 1000
SecRequestBodyNoFilesLimit 500
SecRequestBodyLimitAction ProcessPartial
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain application/json
SecResponseBodyLimit 2000
SecPcreMatchLimit 5000
SecPcreMatchLimitRecursion 5000
SecArgumentSeparator ;
SecCookieFormat 1
SecComponentSignature "OWASP_CRS/3.3.4"
SecCollectionTimeout 600
SecAuditEngine RelevantOnly
SecAuditLogParts ABIJDEFHZ
SecTmpDir /tmp
SecDataDir /tmp
SecDebugLogLevel 0
""")
    s = p.config.settings
    assert (s.rule_engine, s.request_body_access, s.request_body_limit) == ("DetectionOnly",
                                                                            True, 1000)
    assert s.request_body_no_files_limit == 500
    assert s.request_body_limit_action == "ProcessPartial"
    assert s.response_body_mime_types == ("text/plain", "application/json")
    assert (s.pcre_match_limit, s.argument_separator, s.cookie_format) == (5000, ";", 1)
    assert s.component_signatures == ["OWASP_CRS/3.3.4"] and s.collection_timeout == 600


def test_includes_with_globs_relative_to_file(prims: Primitives, tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "b.conf").write_text('SecAction "id:2,phase:1,pass"\n')
    (tmp_path / "conf.d" / "a.conf").write_text('SecAction "id:1,phase:1,pass"\n')
    (tmp_path / "main.conf").write_text(
        "Include conf.d/*.conf\nIncludeOptional missing/*.conf\n")
    p = Parser(prims)
    p.parse_file(tmp_path / "main.conf")
    assert [r.id for r in p.finish().rules] == [1, 2]
    (tmp_path / "wrapped.conf").write_text(
        '<IfModule security2_module>\n  SecAction "id:3,phase:1,pass"\n</IfModule>\n'
        "Include conf.d\n")
    p = Parser(prims)
    p.parse_file(tmp_path / "wrapped.conf")
    assert [r.id for r in p.finish().rules] == [3, 1, 2]
    (tmp_path / "bad.conf").write_text("Include nothing-here.conf\n")
    with pytest.raises(ConfigError) as ei:
        Parser(prims).parse_file(tmp_path / "bad.conf")
    assert ei.value.file == str(tmp_path / "bad.conf") and ei.value.line == 1


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('SecAction "id:1,phase:1,pass"\nSecFoo bar\n', 2, "unknown directive"),
        ('\n\nSecRule ARGS "@rx a" "phase:1,pass"\n', 3, "no id"),
        ('SecRule ARGS "@nope a" "id:1,pass"\n', 1, "unknown operator"),
        ('SecRule ARGS "@rx a" "id:1,t:nope"\n', 1, "unknown transformation"),
        ('SecRule ARGS "@rx a" "id:1,frobnicate"\n', 1, "unknown action"),
        ('SecRule ARGS "@rx a" "id:1,msg:\'open"\n', 1, "closing quote"),
        ('SecAction "id:1,pass"\nSecAction "id:1,pass"\n', 2, "duplicate rule id"),
        ('SecRule ARGS "@rx a" "id:1,chain"\n', 1, "chain"),
        ('SecRule ARGS "@rx a" "id:1,chain"\n  SecRule ARGS "@rx b" "id:2"\n', 2, "starter"),
        ('SecRule ARGS "@rx a" "id:1,chain"\n  SecRule ARGS "@rx b" "deny"\n', 2, "starter"),
        ('SecRule "" "@rx a" "id:1"\n', 1, "variable"),
        ('SecRuleEngine Maybe\n', 1, "DetectionOnly"),
        ('SecDefaultAction "log,pass"\n', 1, "phase"),
        ('SecRule ARGS "@rx (" "id:1"\n', 1, ""),
        ('<LocationMatch /x>\n', 1, "not supported"),
    ],
)
def test_errors_name_file_and_line(prims: Primitives, text: str, line: int,
                                   fragment: str) -> None:
    with pytest.raises(ConfigError) as ei:
        _parse(prims, text, "rules/x.conf")
    assert ei.value.file == "rules/x.conf"
    assert ei.value.line == line
    assert fragment in ei.value.message


def test_parses_the_whole_crs(prims: Primitives, crs_layout: object) -> None:
    from bastion.waf.seclang.crs import CrsLayout

    assert isinstance(crs_layout, CrsLayout)
    p = Parser(prims)
    for f in crs_layout.files():
        p.parse_file(f)
    rules = p.finish().rules
    markers = [r for r in rules if r.marker is not None]
    chained = [r for r in rules if r.chain is not None]
    assert len(markers) == 40 and len(chained) == 115
    assert len(rules) - len(markers) == 634 - 0  # every rule id of the active config
    r = next(r for r in rules if r.id == 920460)
    assert r.operator is not None and r.operator.param.startswith(r"(?:^|[^\\])\\[")
