from __future__ import annotations

import subprocess
import sys

import bastion.observe
import bastion.observe.audit


def test_all_is_sorted_and_complete() -> None:
    for mod in (bastion.observe, bastion.observe.audit):
        assert list(mod.__all__) == sorted(mod.__all__, key=lambda n: (not n.isupper(), n))
        for name in mod.__all__:
            assert hasattr(mod, name), name


def test_core_import_does_not_pull_duckdb_or_prometheus_client() -> None:
    code = ("import sys, bastion.observe; "
            "print(any(m in sys.modules for m in ('duckdb', 'prometheus_client', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONPATH": ":".join(sys.path)})
    assert out.stdout.strip() == "False"
