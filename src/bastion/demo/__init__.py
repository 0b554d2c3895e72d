"""The PetStore demo: config, OpenAPI and handlers shipped as package data."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEMO_CONFIG"]

DEMO_CONFIG = Path(__file__).with_name("bastion.yaml")
