"""gateway/integrations layer."""

from __future__ import annotations
