"""Engine-setting directives (SecRuleEngine, body limits, ...) and the settings they fill.

Every limit the engine enforces lives in ``Settings`` with an explicit default, so a request can
never make the engine read, parse or match more than configured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["IGNORED_DIRECTIVES", "SETTING_DIRECTIVES", "Settings"]

RULE_ENGINE_MODES = {"on": "On", "off": "Off", "detectiononly": "DetectionOnly"}


@dataclass(slots=True)
class Settings:
    """Mutable while the configuration is read; the WAF freezes a copy."""

    rule_engine: str = "On"
    request_body_access: bool = False
    request_body_limit: int = 13_107_200
    request_body_no_files_limit: int = 131_072
    request_body_limit_action: str = "Reject"
    response_body_access: bool = False
    response_body_mime_types: tuple[str, ...] = ("text/plain", "text/html")
    response_body_limit: int = 524_288
    response_body_limit_action: str = "ProcessPartial"
    pcre_match_limit: int = 100_000
    pcre_match_limit_recursion: int = 100_000
    argument_separator: str = "&"
    cookie_format: int = 0
    collection_timeout: int = 3600
    component_signatures: list[str] = field(default_factory=list)
    #: Limits ModSecurity leaves to Apache; explicit here.
    max_args: int = 1000
    max_headers: int = 200
    max_json_depth: int = 64
    max_xml_depth: int = 64
    max_multipart_parts: int = 200
    max_upload_files: int = 100  # SecUploadFileLimit
    max_value_log: int = 200


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("on", "true", "1"):
        return True
    if v in ("off", "false", "0"):
        return False
    raise ValueError(f"expected On or Off, got {value!r}")


def _int(value: str) -> int:
    n = int(value.strip())
    if n < 0:
        raise ValueError(f"expected a non-negative number, got {value!r}")
    return n


def _engine(s: Settings, args: list[str]) -> None:
    mode = RULE_ENGINE_MODES.get(args[0].lower())
    if mode is None:
        raise ValueError(f"expected On, Off or DetectionOnly, got {args[0]!r}")
    s.rule_engine = mode


def _limit_action(value: str) -> str:
    v = value.lower()
    if v == "reject":
        return "Reject"
    if v == "processpartial":
        return "ProcessPartial"
    raise ValueError(f"expected Reject or ProcessPartial, got {value!r}")


def _mime(s: Settings, args: list[str]) -> None:
    s.response_body_mime_types = tuple(a.lower() for w in args for a in w.split())


def _mime_clear(s: Settings, args: list[str]) -> None:
    s.response_body_mime_types = ()


def _set(attr: str, conv: Callable[[str], object]) -> Callable[[Settings, list[str]], None]:
    def apply(s: Settings, args: list[str]) -> None:
        setattr(s, attr, conv(args[0]))

    return apply


def _signature(s: Settings, args: list[str]) -> None:
    s.component_signatures.append(args[0])


def _cookie_format(value: str) -> int:
    n = int(value)
    if n not in (0, 1):
        raise ValueError("SecCookieFormat must be 0 or 1")
    return n


def _separator(value: str) -> str:
    if len(value) != 1:
        raise ValueError("SecArgumentSeparator takes exactly one character")
    return value


SETTING_DIRECTIVES: dict[str, Callable[[Settings, list[str]], None]] = {
    "secruleengine": _engine,
    "secrequestbodyaccess": _set("request_body_access", _bool),
    "secrequestbodylimit": _set("request_body_limit", _int),
    "secrequestbodynofileslimit": _set("request_body_no_files_limit", _int),
    "secrequestbodylimitaction": _set("request_body_limit_action", _limit_action),
    "secresponsebodyaccess": _set("response_body_access", _bool),
    "secresponsebodymimetype": _mime,
    "secresponsebodymimetypesclear": _mime_clear,
    "secresponsebodylimit": _set("response_body_limit", _int),
    "secresponsebodylimitaction": _set("response_body_limit_action", _limit_action),
    "secpcrematchlimit": _set("pcre_match_limit", _int),
    "secpcrematchlimitrecursion": _set("pcre_match_limit_recursion", _int),
    "secargumentseparator": _set("argument_separator", _separator),
    "seccookieformat": _set("cookie_format", _cookie_format),
    "seccomponentsignature": _signature,
    "seccollectiontimeout": _set("collection_timeout", _int),
    "secuploadfilelimit": _set("max_upload_files", _int),
}

#: Accepted for compatibility with modsecurity.conf and ignored (logging, storage paths...).
IGNORED_DIRECTIVES = frozenset(
    d.lower()
    for d in (
        "SecAuditEngine", "SecAuditLog", "SecAuditLog2", "SecAuditLogParts",
        "SecAuditLogRelevantStatus", "SecAuditLogType", "SecAuditLogStorageDir",
        "SecAuditLogDirMode", "SecAuditLogFileMode", "SecAuditLogFormat", "SecTmpDir",
        "SecDataDir", "SecUploadDir", "SecUploadKeepFiles", "SecUploadFileMode",
        "SecDebugLog", "SecDebugLogLevel", "SecUnicodeMapFile",
        "SecUnicodeCodePage", "SecRequestBodyInMemoryLimit", "SecStatusEngine",
        "SecTmpSaveUploadedFiles", "SecServerSignature", "SecGeoLookupDB", "SecHttpBlKey",
        "SecConnEngine", "SecResponseBodyMimeTypesClear_", "SecStreamInBodyInspection",
        "SecStreamOutBodyInspection", "SecHashEngine", "SecHashKey", "SecHashParam",
        "SecHashMethodRx", "SecHashMethodPm", "SecGsbLookupDB", "SecGuardianLog",
        "SecInterceptOnError", "SecRequestBodyJsonDepthLimit", "SecArgumentsLimit",
        "SecXmlExternalEntity", "SecWebAppId", "SecSensorId", "SecCacheTransformations",
        "SecChrootDir", "SecContentInjection", "SecDisableBackendCompression",
        "SecCollectionTimeout_", "SecRuleInheritance", "SecRulePerfTime", "SecReadStateLimit",
        "SecWriteStateLimit", "SecConnReadStateLimit", "SecConnWriteStateLimit",
    )
)
