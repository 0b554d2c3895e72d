"""Each auth package exposes a small, sorted, importable public API."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("module", ["bastion.auth.iam", "bastion.auth.sigv4",
                                    "bastion.auth.credentials", "bastion.auth.replay",
                                    "bastion.auth.secret"])
def test_all_is_sorted_and_importable(module: str) -> None:
    mod = importlib.import_module(module)
    names = list(mod.__all__)
    assert names == sorted(names)
    for name in names:
        assert hasattr(mod, name), name
    assert mod.__doc__
