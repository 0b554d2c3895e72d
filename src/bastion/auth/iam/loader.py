"""Reading policy files: JSON (an IAM policy document) from disk, compiled."""

from __future__ import annotations

from pathlib import Path

from .model import ApiScope, Policy, PolicyError, PolicyKind, parse_policy_json

__all__ = ["load_policy_file"]

MAX_POLICY_BYTES = 1_048_576


def load_policy_file(
    path: str | Path, *, kind: PolicyKind = "identity", api: ApiScope | None = None
) -> Policy:
    """Load and compile one policy file; any problem is a ``PolicyError`` naming the file."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_POLICY_BYTES:
            raise PolicyError(f"policy file is larger than {MAX_POLICY_BYTES} bytes", file=str(p))
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy: {exc.strerror or exc}", file=str(p)) from None
    except UnicodeDecodeError:
        raise PolicyError("policy is not UTF-8 text", file=str(p)) from None
    return parse_policy_json(text, name=str(p), kind=kind, api=api)
