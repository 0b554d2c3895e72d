"""Bastion: a layered API security gateway.

The public face is small on purpose; each layer (``pipeline``, ``config``, ``gateway``,
``waf``, ``auth``, ``state``, ``observe``) exposes its own few names.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
