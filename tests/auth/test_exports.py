from __future__ import annotations

import importlib

import pytest

MODULES = ["apikeys", "cedar", "custom", "jwks", "jwt", "keys_cli", "outcome", "policy_seam",
           "request", "trace"]


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_real(name: str) -> None:
    mod = importlib.import_module(f"bastion.auth.{name}")
    assert mod.__all__ == sorted(mod.__all__)
    assert all(hasattr(mod, n) for n in mod.__all__)
