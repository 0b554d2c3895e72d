"""Finding the OWASP CRS on disk and building the configurations it runs in.

The CRS is never vendored: it comes from a configured directory or from Debian's
``modsecurity-crs`` package (``/usr/share/modsecurity-crs/rules`` plus
``/etc/modsecurity/crs/crs-setup.conf``). ``crs_test_environment`` reproduces the setup the CRS
3.3.4 regression tests expect (DetectionOnly, paranoia 4, the limits of 900005, body access,
and the modsecurity.conf body-processor rules 200000-200003).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bastion.errors import ConfigError

__all__ = [
    "DEBIAN_RULES",
    "DEBIAN_SETUP",
    "MODSECURITY_BASE",
    "CrsLayout",
    "crs_test_environment",
    "crs_sources",
    "find_crs",
    "load_crs",
]

DEBIAN_RULES = Path("/usr/share/modsecurity-crs/rules")
DEBIAN_SETUP = Path("/etc/modsecurity/crs")

#: The parts of ModSecurity v2's recommended modsecurity.conf that CRS relies on.
MODSECURITY_BASE = r"""
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecPcreMatchLimit 100000
SecPcreMatchLimitRecursion 100000
SecResponseBodyLimit 524288
SecResponseBodyLimitAction ProcessPartial
SecArgumentSeparator &
SecCookieFormat 0
SecRule REQUEST_HEADERS:Content-Type "(?:application(?:/soap\+|/)|text/)xml" \
     "id:'200000',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "application/json" \
     "id:'200001',phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule REQBODY_ERROR "!@eq 0" \
    "id:'200002', phase:2,t:none,log,deny,status:400,msg:'Failed to parse request body.',\
logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" \
"id:'200003',phase:2,t:none,log,deny,status:400, \
msg:'Multipart request body failed strict validation: \
PE %{REQBODY_PROCESSOR_ERROR}, \
BQ %{MULTIPART_BOUNDARY_QUOTED}, \
BW %{MULTIPART_BOUNDARY_WHITESPACE}, \
DB %{MULTIPART_DATA_BEFORE}, \
DA %{MULTIPART_DATA_AFTER}, \
HF %{MULTIPART_HEADER_FOLDING}, \
LF %{MULTIPART_LF_LINE}, \
SM %{MULTIPART_MISSING_SEMICOLON}, \
IQ %{MULTIPART_INVALID_QUOTING}, \
IP %{MULTIPART_INVALID_PART}, \
IH %{MULTIPART_INVALID_HEADER_FOLDING}, \
FL %{MULTIPART_FILE_LIMIT_EXCEEDED}'"
"""


@dataclass(frozen=True, slots=True)
class CrsLayout:
    """Where the CRS files are: setup, optional exclusion files, and the rules directory."""

    setup: Path
    rules_dir: Path
    before: Path | None = None
    after: Path | None = None

    def files(self) -> list[Path]:
        """All files in CRS load order (Debian's ``owasp-crs.load``)."""
        out = [self.setup]
        if self.before is not None and self.before.is_file():
            out.append(self.before)
        out.extend(sorted(self.rules_dir.glob("*.conf")))
        if self.after is not None and self.after.is_file():
            out.append(self.after)
        return out


def find_crs(path: str | Path | None = None) -> CrsLayout:
    """A CRS tree at ``path`` (a copy of the Debian layout or of the upstream repo), else Debian's.

    ``path`` may be a rules directory (``*.conf`` + ``*.data``) with ``crs-setup.conf`` next to
    it or in a sibling ``etc/``; or a directory holding ``rules/`` and ``crs-setup.conf``
    (or ``crs-setup.conf.example``, or ``etc/crs-setup.conf``).
    """
    if path is None:
        layout = CrsLayout(DEBIAN_SETUP / "crs-setup.conf", DEBIAN_RULES,
                           DEBIAN_SETUP / "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf",
                           DEBIAN_SETUP / "RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf")
        if not layout.setup.is_file() or not layout.rules_dir.is_dir():
            raise ConfigError("OWASP CRS not found: install Debian's modsecurity-crs package "
                              "or configure the CRS path", key="crs")
        return layout
    root = Path(path)
    rules = root / "rules" if (root / "rules").is_dir() else root
    if not any(rules.glob("*.conf")):
        raise ConfigError(f"no CRS rules (*.conf) in {rules}", key="crs")
    for cand in (root / "crs-setup.conf", root / "crs-setup.conf.example",
                 root / "etc" / "crs-setup.conf", rules.parent / "crs-setup.conf",
                 rules.parent / "etc" / "crs-setup.conf",
                 rules.parent / "crs-setup.conf.example"):
        if cand.is_file():
            etc = cand.parent
            return CrsLayout(cand, rules,
                             etc / "REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf",
                             etc / "RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf")
    raise ConfigError(f"no crs-setup.conf near {rules}", key="crs")


def crs_settings_action(paranoia: int = 1, *, inbound_threshold: int | None = None,
                        outbound_threshold: int | None = None,
                        extra: dict[str, str] | None = None) -> str:
    """A SecAction (id 900099) that sets CRS's tx variables, for loading after crs-setup."""
    if not 1 <= paranoia <= 4:
        raise ConfigError("paranoia level must be 1-4", key="paranoia")
    sets = [f"setvar:tx.paranoia_level={paranoia}"]
    if inbound_threshold is not None:
        sets.append(f"setvar:tx.inbound_anomaly_score_threshold={int(inbound_threshold)}")
    if outbound_threshold is not None:
        sets.append(f"setvar:tx.outbound_anomaly_score_threshold={int(outbound_threshold)}")
    for k, v in (extra or {}).items():
        sets.append(f"setvar:'tx.{k}={v}'")
    return 'SecAction "id:900099,phase:1,pass,nolog,t:none,' + ",".join(sets) + '"\n'


def crs_test_environment(paranoia: int = 4) -> tuple[str, str]:
    """(prelude, post-setup) SecLang text for the CRS 3.3.4 regression-test environment.

    The prelude goes before ``crs-setup.conf`` and the second text right after it (before the
    rules) so its tx values win over the 901 defaults.
    """
    prelude = (
        "SecRuleEngine DetectionOnly\n"
        "SecRequestBodyAccess On\n"
        "SecResponseBodyAccess On\n"
        "SecResponseBodyMimeType text/plain text/html text/xml application/json\n"
        + MODSECURITY_BASE
    )
    post_setup = (
        'SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,'
        "ctl:ruleRemoveById=910000,"
        f"setvar:tx.paranoia_level={int(paranoia)},"
        "setvar:tx.crs_validate_utf8_encoding=1,"
        "setvar:tx.arg_name_length=100,"
        "setvar:tx.arg_length=400,"
        'setvar:tx.combined_file_sizes=65535"\n'
    )
    return prelude, post_setup


def crs_sources(layout: CrsLayout, *, paranoia: int = 1, test_env: bool = False,
                before: str = "", after_setup: str = "") -> list[object]:
    """The sources (files and snippets) for ``WAF.build`` in load order.

    ``before`` goes ahead of everything (engine settings); ``after_setup`` right after
    crs-setup.conf (tx settings, exclusions that must run before 901).
    """
    from bastion.waf.seclang.waf import Snippet

    files = layout.files()
    sources: list[object] = []
    if test_env:
        prelude, post = crs_test_environment(paranoia)
        sources.append(Snippet(prelude + before, "<crs-test-env>"))
        sources.append(files[0])
        sources.append(Snippet(post + after_setup, "<crs-test-env-setup>"))
    else:
        sources.append(Snippet(MODSECURITY_BASE + before, "<modsecurity-base>"))
        sources.append(files[0])
        sources.append(Snippet(crs_settings_action(paranoia) + after_setup, "<crs-settings>"))
    sources.extend(files[1:])
    return sources


def load_crs(
    path: str | Path | None = None, *, paranoia: int = 1, mode: str = "On",
    inbound_threshold: int | None = None, outbound_threshold: int | None = None,
    exclusions: str = "", request_body_access: bool = True,
    response_body_access: bool = False, hyperscan: bool = True,
    cache_dir: Path | None = None, primitives: Any = None, clock: Any = None,
    store: Any = None,
) -> Any:
    """A WAF running the CRS (blocking ``On`` or ``DetectionOnly``) with the usual knobs.

    ``exclusions`` is SecLang text (SecRuleRemoveById, SecRuleUpdateTargetById, ctl rules...)
    loaded after the rules, like Debian's RESPONSE-999 file.
    """
    from bastion.waf.seclang.waf import WAF, Snippet

    if mode not in ("On", "DetectionOnly", "Off"):
        raise ConfigError("mode must be On, DetectionOnly or Off", key="mode")
    layout = find_crs(path)
    engine = (
        f"SecRuleEngine {mode}\n"
        f"SecRequestBodyAccess {'On' if request_body_access else 'Off'}\n"
        f"SecResponseBodyAccess {'On' if response_body_access else 'Off'}\n"
        "SecResponseBodyMimeType text/plain text/html text/xml application/json\n"
        'SecDefaultAction "phase:3,log,auditlog,pass"\n'
        'SecDefaultAction "phase:4,log,auditlog,pass"\n'
        'SecDefaultAction "phase:5,log,auditlog,pass"\n'
    )
    files = layout.files()
    sources: list[object] = [
        Snippet(MODSECURITY_BASE + engine, "<modsecurity-base>"),
        files[0],
        Snippet(crs_settings_action(paranoia, inbound_threshold=inbound_threshold,
                                    outbound_threshold=outbound_threshold), "<crs-settings>"),
        *files[1:],
    ]
    if exclusions:
        sources.append(Snippet(exclusions, "<crs-exclusions>"))
    return WAF.build(sources, primitives=primitives, hyperscan=hyperscan,  # type: ignore[arg-type]
                     cache_dir=cache_dir, clock=clock, store=store)
