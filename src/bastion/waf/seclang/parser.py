"""SecLang directives -> an ordered list of compiled rules plus engine settings.

The parser reads files (with Include/IncludeOptional and globs, relative to the including
file), dispatches directives, merges SecDefaultAction into each rule, attaches chain links to
their starter, and applies configuration-time edits (SecRuleRemove*, SecRuleUpdate*). Every
error names the file and line of the directive at fault.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from bastion.errors import ConfigError
from bastion.waf.seclang.directives import IGNORED_DIRECTIVES, SETTING_DIRECTIVES, Settings
from bastion.waf.seclang.lexer import LogicalLine, logical_lines, split_words
from bastion.waf.seclang.registry import Primitives
from bastion.waf.seclang.rules import Action, OperatorSpec, Rule, Target
from bastion.waf.seclang.syntax import (
    SyntaxProblem,
    parse_actions,
    parse_operator,
    parse_targets,
)

__all__ = ["NeverMatch", "ParsedConfig", "Parser", "build_rule"]

_log = logging.getLogger(__name__)


class NeverMatch:
    """Stands in for an operator that cannot run here (network or external database)."""

    def evaluate(self, tx: object, value: str) -> bool:
        return False

MAX_INCLUDE_DEPTH = 16

SEVERITIES = {
    "emergency": 0, "alert": 1, "critical": 2, "error": 3,
    "warning": 4, "notice": 5, "info": 6, "debug": 7,
}
PHASE_NAMES = {"request": 2, "response": 4, "logging": 5}
DISRUPTIVE = frozenset({"deny", "drop", "pass", "block", "allow", "redirect", "proxy"})
NON_DISRUPTIVE = frozenset({
    "setvar", "expirevar", "initcol", "setuid", "setsid", "setrsc", "ctl", "deprecatevar",
    "sanitisearg", "sanitisematched", "sanitisematchedbytes", "sanitiserequestheader",
    "sanitiseresponseheader", "exec", "append", "prepend", "xmlns", "pause",
})
FLAGS = frozenset({"chain", "capture", "multimatch", "log", "nolog", "auditlog", "noauditlog"})
METADATA = frozenset({"id", "phase", "msg", "logdata", "severity", "tag", "ver", "rev",
                      "maturity", "accuracy", "status", "skipafter", "skip", "t"})

BUILTIN_DEFAULT = (Action("phase", "2"), Action("log"), Action("auditlog"), Action("pass"))


@dataclass(slots=True)
class RuleSource:
    """What a rule was built from, kept so SecRuleUpdate* can rebuild it."""

    targets: list[Target]
    operator: str | None  # None: SecAction
    actions: list[Action]
    file: str
    line: int
    links: list[RuleSource] = field(default_factory=list)


@dataclass(slots=True)
class ParsedConfig:
    """The parse result: rules in file order (markers included) and settings."""

    settings: Settings
    rules: list[Rule] = field(default_factory=list)


def _phase(value: str) -> int:
    v = value.strip().lower()
    if v in PHASE_NAMES:
        return PHASE_NAMES[v]
    n = int(v)
    if not 1 <= n <= 5:
        raise ValueError(f"phase must be 1-5, got {value!r}")
    return n


def _severity(value: str) -> int:
    v = value.strip().lower()
    if v in SEVERITIES:
        return SEVERITIES[v]
    n = int(v)
    if not 0 <= n <= 7:
        raise ValueError(f"bad severity {value!r}")
    return n


def build_rule(
    src: RuleSource, defaults: tuple[Action, ...], primitives: Primitives,
    base_dir: Path, match_limit: int, *, phase: int | None = None, is_link: bool = False,
) -> Rule:
    """Apply default actions then the rule's own actions, in order, and build a ``Rule``."""
    own_phase = phase
    if own_phase is None:
        own_phase = 2
        for a in src.actions:
            if a.name == "phase" and a.arg is not None:
                own_phase = _phase(a.arg)
    default_disruptive = "pass"
    for a in defaults:
        if a.name in DISRUPTIVE:
            default_disruptive = a.name
    rid = 0
    log = auditlog = True
    capture = multi = chain = False
    tfns: list[str] = []
    actions: list[Action] = []
    disruptive: str | None = None
    disruptive_arg: str | None = None
    text: dict[str, str | None] = {}  # msg logdata ver rev maturity accuracy skipafter
    nums: dict[str, int] = {}  # severity status skip
    tags: list[str] = []
    inherited = [d for d in defaults
                 if d.name != "phase" and not (is_link and d.name in DISRUPTIVE)]
    for a in (*inherited, *src.actions):
        name, arg = a.name, a.arg
        if name == "id":
            rid = int(arg or "")
            if rid <= 0:
                raise ValueError("rule id must be a positive number")
        elif name == "phase":
            continue
        elif name == "t":
            if arg is None:
                raise ValueError("t: needs a transformation name")
            if arg.lower() == "none":
                tfns.clear()
            else:
                tfns.append(arg)
        elif name in DISRUPTIVE:
            if is_link:
                raise ValueError(f"disruptive action {name!r} is only allowed in a chain starter")
            disruptive, disruptive_arg = name, arg
        elif name in NON_DISRUPTIVE:
            if arg is None:
                raise ValueError(f"{name} needs an argument")
            actions.append(a)
        elif name == "chain":
            chain = True
        elif name == "capture":
            capture = True
        elif name == "multimatch":
            multi = True
        elif name in ("log", "nolog"):
            log = name == "log"
            if not log:
                auditlog = False
        elif name in ("auditlog", "noauditlog"):
            auditlog = name == "auditlog"
        elif name == "tag":
            tags.append(arg or "")
        elif name == "severity":
            nums["severity"] = _severity(arg or "")
        elif name == "status":
            nums["status"] = int(arg or "")
        elif name == "skip":
            nums["skip"] = int(arg or "")
        elif name == "skipafter":
            text["skipafter"] = arg
        elif name in ("msg", "logdata", "ver", "rev", "maturity", "accuracy"):
            text[name] = arg
        else:
            raise ValueError(f"unknown action {name!r}")
    if (is_link or phase is None) and src.operator is not None and not src.targets:
        raise ValueError("rule has no variables")
    op_spec: OperatorSpec | None = None
    if src.operator is not None:
        op_name, param, negated = parse_operator(src.operator)
        try:
            impl = primitives.operator(op_name, param, base_dir, match_limit)
        except KeyError as exc:
            raise ValueError(f"unknown operator @{op_name}") from exc
        except Exception as exc:  # the operator's own compile error (regex, data file...)
            if any(c.__name__ == "UnsupportedOperatorError" for c in type(exc).__mro__):
                # @geoLookup/@rbl (CRS 910, off by default): load, never match, say so
                _log.warning("%s:%s: @%s is not supported, the rule never matches: %s",
                            src.file, src.line, op_name, exc)
                impl = NeverMatch()
            else:
                detail = exc.message if isinstance(exc, ConfigError) else str(exc)
                raise ValueError(f"bad argument for @{op_name}: {detail}") from exc
        op_spec = OperatorSpec(op_name, param, negated, impl)
    try:
        impls = tuple(primitives.transformation(t) for t in tfns)
    except KeyError as exc:
        raise ValueError(f"unknown transformation {exc.args[0]!r}") from exc
    del chain  # the chain flag is structural: links are attached by the parser
    return Rule(
        id=rid, phase=own_phase, file=src.file, line=src.line, targets=tuple(src.targets),
        operator=op_spec, transformations=tuple(t.lower() for t in tfns), tfn_impls=impls,
        actions=tuple(actions), disruptive=disruptive, disruptive_arg=disruptive_arg,
        default_disruptive=default_disruptive, log=log, auditlog=auditlog, capture=capture,
        multi_match=multi, tags=tuple(tags), is_link=is_link,
        msg=text.get("msg"), logdata=text.get("logdata"), ver=text.get("ver"),
        rev=text.get("rev"), maturity=text.get("maturity"), accuracy=text.get("accuracy"),
        skip_after=text.get("skipafter"), severity=nums.get("severity"),
        status=nums.get("status"), skip=nums.get("skip", 0),
    )


class Parser:
    """Reads SecLang text and files into a ``ParsedConfig``."""

    def __init__(self, primitives: Primitives, settings: Settings | None = None) -> None:
        self.primitives = primitives
        self.config = ParsedConfig(settings or Settings())
        self._defaults: dict[int, tuple[Action, ...]] = {}
        self._last_default: tuple[Action, ...] = BUILTIN_DEFAULT
        self._sources: dict[int, tuple[RuleSource, Path]] = {}
        self._open_chain: tuple[RuleSource, Path, LogicalLine] | None = None
        self._ids: set[int] = set()
        self._depth = 0

    # -- entry points -------------------------------------------------------------------
    def parse_file(self, path: str | Path) -> None:
        p = Path(path)
        try:
            text = p.read_bytes().decode("latin-1")
        except OSError as exc:
            raise ConfigError(f"cannot read rules file: {exc.strerror}", file=str(p)) from exc
        self.parse_text(text, str(p), p.parent)

    def parse_text(self, text: str, file: str = "<rules>", base_dir: Path | None = None) -> None:
        base = base_dir or Path.cwd()
        for line in logical_lines(text, file):
            try:
                self._directive(line, base)
            except ConfigError:
                raise
            except (ValueError, SyntaxProblem) as exc:
                raise ConfigError(str(exc), file=line.file, line=line.line) from exc

    def finish(self) -> ParsedConfig:
        if self._open_chain is not None:
            _, _, line = self._open_chain
            raise ConfigError("chain is not followed by a rule", file=line.file, line=line.line)
        return self.config

    # -- dispatch -----------------------------------------------------------------------
    def _directive(self, line: LogicalLine, base: Path) -> None:
        words = split_words(line.text)
        name, args = words[0], words[1:]
        key = name.lower()
        if key.startswith("<") or key.startswith("</"):
            tag = key.strip("</>").split()[0] if key.strip("</>") else ""
            if tag in ("ifmodule", "ifversion", "ifdefine"):
                return  # Apache conditionals around rules: the rules inside apply
            raise ValueError(f"Apache container {name}> is not supported (rules cannot be "
                             "scoped to a location here)")
        if self._open_chain is not None and key != "secrule":
            raise ValueError(f"{name} cannot follow a rule with 'chain'")
        if key in ("include", "includeoptional"):
            self._include(line, args, base, optional=key == "includeoptional")
        elif key == "secrule":
            if len(args) not in (2, 3):
                raise ValueError("SecRule takes VARIABLES OPERATOR [ACTIONS]")
            self._rule(line, parse_targets(args[0]), args[1],
                       parse_actions(args[2]) if len(args) == 3 else [], base)
        elif key == "secaction":
            if len(args) != 1:
                raise ValueError("SecAction takes one action list")
            self._rule(line, [], None, parse_actions(args[0]), base)
        elif key == "secmarker":
            if len(args) != 1:
                raise ValueError("SecMarker takes one name")
            self.config.rules.append(Rule(id=0, phase=0, file=line.file, line=line.line,
                                          marker=args[0]))
        elif key == "secdefaultaction":
            self._default_action(args)
        elif key == "secruleremovebyid":
            self._remove(lambda r: _id_in(r.id, args))
        elif key == "secruleremovebytag":
            rx = _regex(args)
            self._remove(lambda r: any(rx.search(t) for t in r.tags))
        elif key == "secruleremovebymsg":
            rx = _regex(args)
            self._remove(lambda r: r.msg is not None and rx.search(r.msg) is not None)
        elif key in ("secruleupdatetargetbyid", "secruleupdatetargetbytag",
                     "secruleupdatetargetbymsg"):
            self._update_targets(key, args)
        elif key == "secruleupdateactionbyid":
            self._update_actions(args)
        elif key in SETTING_DIRECTIVES:
            if not args:
                raise ValueError(f"{name} needs an argument")
            SETTING_DIRECTIVES[key](self.config.settings, args)
        elif key in IGNORED_DIRECTIVES:
            return
        else:
            raise ValueError(f"unknown directive {name}")

    def _include(self, line: LogicalLine, args: list[str], base: Path, *, optional: bool) -> None:
        if len(args) != 1:
            raise ValueError("Include takes one path")
        pattern = args[0]
        if not Path(pattern).is_absolute():
            pattern = str(base / pattern)
        paths = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if len(paths) == 1 and Path(paths[0]).is_dir():
            paths = sorted(str(p) for p in Path(paths[0]).iterdir())
        paths = [p for p in paths if Path(p).is_file()]
        if not paths and not optional:
            raise ValueError(f"Include matched no file: {args[0]}")
        if self._depth >= MAX_INCLUDE_DEPTH:
            raise ValueError("Include nested too deeply")
        self._depth += 1
        try:
            for p in paths:
                self.parse_file(p)
        finally:
            self._depth -= 1

    def _default_action(self, args: list[str]) -> None:
        if len(args) != 1:
            raise ValueError("SecDefaultAction takes one action list")
        actions = tuple(parse_actions(args[0]))
        phases = [_phase(a.arg or "") for a in actions if a.name == "phase"]
        if not phases:
            raise ValueError("SecDefaultAction must name a phase")
        if not any(a.name in DISRUPTIVE for a in actions):
            raise ValueError("SecDefaultAction must name a disruptive action")
        for a in actions:
            if a.name in ("id", "msg", "tag", "severity", "logdata", "rev", "ver", "chain",
                          "skipafter", "skip"):
                raise ValueError(f"SecDefaultAction cannot contain {a.name}")
        self._defaults[phases[-1]] = actions
        self._last_default = actions

    def _defaults_for(self, phase: int) -> tuple[Action, ...]:
        return self._defaults.get(phase, self._last_default)

    # -- rules --------------------------------------------------------------------------
    def _rule(self, line: LogicalLine, targets: list[Target], operator: str | None,
              actions: list[Action], base: Path) -> None:
        src = RuleSource(targets, operator, actions, line.file, line.line)
        chains = any(a.name == "chain" for a in actions)
        if self._open_chain is not None:
            starter, sbase, _ = self._open_chain
            if operator is None:
                raise ValueError("SecAction cannot be a chain link")
            for a in actions:
                if a.name in ("id", "phase") or a.name in DISRUPTIVE or a.name == "skipafter":
                    raise ValueError(f"{a.name} is only allowed in a chain starter")
            starter.links.append(src)
            if not chains:
                self._open_chain = None
                self._append(starter, sbase)
            else:
                self._open_chain = (starter, sbase, self._open_chain[2])
            return
        rid = next((a.arg for a in actions if a.name == "id"), None)
        if rid is None:
            raise ValueError("rule has no id")
        if chains:
            self._open_chain = (src, base, line)
            return
        self._append(src, base)

    def _compile(self, src: RuleSource, base: Path) -> Rule:
        phase = 2
        for a in src.actions:
            if a.name == "phase" and a.arg is not None:
                phase = _phase(a.arg)
        defaults = self._defaults_for(phase)
        limit = self.config.settings.pcre_match_limit
        link: Rule | None = None
        for lsrc in reversed(src.links):
            try:
                built = build_rule(lsrc, defaults, self.primitives, base, limit, phase=phase,
                                   is_link=True)
            except (ValueError, SyntaxProblem) as exc:
                raise ConfigError(str(exc), file=lsrc.file, line=lsrc.line) from exc
            link = dataclasses.replace(built, chain=link)
        try:
            starter = build_rule(src, defaults, self.primitives, base, limit)
        except (ValueError, SyntaxProblem) as exc:
            raise ConfigError(str(exc), file=src.file, line=src.line) from exc
        return dataclasses.replace(starter, chain=link)

    def _append(self, src: RuleSource, base: Path) -> None:
        rule = self._compile(src, base)
        if rule.id in self._ids:
            raise ConfigError(f"duplicate rule id {rule.id}", file=src.file, line=src.line)
        self._ids.add(rule.id)
        self._sources[rule.id] = (src, base)
        self.config.rules.append(rule)

    def _remove(self, pred: object) -> None:
        keep: list[Rule] = []
        for r in self.config.rules:
            if r.marker is None and pred(r):  # type: ignore[operator]
                self._ids.discard(r.id)
                continue
            keep.append(r)
        self.config.rules = keep

    def _replace(self, rid: int, src: RuleSource, base: Path) -> None:
        new = self._compile(src, base)
        self._sources[rid] = (src, base)
        self.config.rules = [new if r.id == rid and r.marker is None else r
                             for r in self.config.rules]

    def _update_targets(self, key: str, args: list[str]) -> None:
        if len(args) not in (2, 3):
            raise ValueError("SecRuleUpdateTarget* takes SELECTOR TARGETS [REPLACED]")
        added = parse_targets(args[1])
        replaced = parse_targets(args[2]) if len(args) == 3 else []
        if key.endswith("byid"):
            ids = [r.id for r in self.config.rules if r.marker is None and _id_in(r.id, [args[0]])]
        else:
            rx = re.compile(args[0])
            if key.endswith("bytag"):
                ids = [r.id for r in self.config.rules
                       if r.marker is None and any(rx.search(t) for t in r.tags)]
            else:
                ids = [r.id for r in self.config.rules
                       if r.marker is None and r.msg is not None and rx.search(r.msg)]
        for rid in ids:
            src, base = self._sources[rid]
            targets = list(src.targets)
            if replaced:
                targets = [t for t in targets if t not in replaced]
            targets.extend(t for t in added if t not in targets)
            self._replace(rid, dataclasses.replace(src, targets=targets), base)

    def _update_actions(self, args: list[str]) -> None:
        if len(args) != 2:
            raise ValueError("SecRuleUpdateActionById takes ID ACTIONS")
        rid = int(args[0].split(":")[0])
        if rid not in self._sources:
            raise ValueError(f"SecRuleUpdateActionById: no rule with id {rid}")
        src, base = self._sources[rid]
        new = parse_actions(args[1])
        for a in new:
            if a.name in ("id", "phase", "chain"):
                raise ValueError(f"SecRuleUpdateActionById cannot change {a.name}")
        replaced_disruptive = any(a.name in DISRUPTIVE for a in new)
        old = [a for a in src.actions if not (replaced_disruptive and a.name in DISRUPTIVE)]
        self._replace(rid, dataclasses.replace(src, actions=old + new), base)


def _regex(args: list[str]) -> re.Pattern[str]:
    if len(args) != 1:
        raise ValueError("expected one regular expression")
    try:
        return re.compile(args[0])
    except re.error as exc:
        raise ValueError(f"bad regular expression: {exc}") from exc


def _id_in(rid: int, specs: list[str]) -> bool:
    for spec in specs:
        for part in re.split(r"[\s,]+", spec.strip()):
            if not part:
                continue
            if "-" in part[1:]:
                lo, _, hi = part.partition("-")
                if int(lo) <= rid <= int(hi):
                    return True
            elif int(part) == rid:
                return True
    return False
