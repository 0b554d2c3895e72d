"""Configuration: ``bastion.yaml`` and the artefacts it points at, compiled once at load."""

from __future__ import annotations

from bastion.config.openapi import ANY_METHOD, ApiDefinition, Operation, load_openapi
from bastion.config.reader import Problems, Section
from bastion.config.settings import (
    ApiSettings,
    FunctionSettings,
    LimitSettings,
    ServerSettings,
    Settings,
    UpstreamSettings,
    load_settings,
    settings_from_data,
)
from bastion.config.source import LocDict, LocList, load_document

__all__ = [
    "ANY_METHOD",
    "ApiDefinition",
    "ApiSettings",
    "FunctionSettings",
    "LimitSettings",
    "LocDict",
    "LocList",
    "Operation",
    "Problems",
    "Section",
    "ServerSettings",
    "Settings",
    "UpstreamSettings",
    "load_document",
    "load_openapi",
    "load_settings",
    "settings_from_data",
]
