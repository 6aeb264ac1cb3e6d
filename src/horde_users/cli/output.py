"""Output for scripts, and the value formatting the tables share; imports no rich (``--json`` stays lean).

JSON is ``model_dump(mode="json", by_alias=True, exclude_unset=True)``: the keys the server sent, by wire
name (unknown extra keys included), so it parses back into the response models; ``--json`` always
includes secrets such as ``proxy_passkey`` (tables show them only with ``--show-secrets``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel


def stderr_is_terminal() -> bool:
    """True when stderr is an interactive terminal (progress is shown only there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# --- JSON -----------------------------------------------------------------------------------------


def dump(model: BaseModel) -> Any:
    """The wire form of a response model: by alias, exactly the keys the server sent."""
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def print_json(value: Any, *, lines: bool = False) -> None:
    """One JSON document on stdout: indented on a terminal, compact otherwise (always compact for lines)."""
    indent = 2 if not lines and sys.stdout.isatty() else None
    utf8 = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "") == "utf8"
    sys.stdout.write(json.dumps(value, ensure_ascii=not utf8, indent=indent) + "\n")
    if lines:
        sys.stdout.flush()


# --- Formatting helpers -----------------------------------------------------------------------------

ROLE_FLAGS = (
    ("moderator", "moderator"),
    ("trusted", "trusted"),
    ("flagged", "flagged"),
    ("service", "service"),
    ("education", "education"),
    ("customizer", "customizer"),
    ("vpn", "vpn"),
    ("special", "special"),
    ("pseudonymous", "pseudonymous"),
    ("deleted", "deleted"),
)


def fmt_number(value: float | int | None) -> str:
    """``1,234`` for whole numbers, ``1,234.5`` otherwise, ``-`` for nothing."""
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{int(value):,}"


def fmt_age(seconds: int | None) -> str:
    """``2y 14d``, ``3d 4h``, ``5h 12m``, ``4m 10s``, ``42s``."""
    if seconds is None:
        return "-"
    s = max(int(seconds), 0)
    units = (("y", 365 * 86400), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if s >= size or (name == "s" and not parts):
            parts.append(f"{s // size}{name}")
            s %= size
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1].startswith("0"):
        parts.pop()
    return " ".join(parts)


def roles(user: Any) -> str:
    """The roles a user holds, comma separated (``-`` for none)."""
    held = [label for attr, label in ROLE_FLAGS if getattr(user, attr, None)]
    return ", ".join(held) if held else "-"


def fmt_value(value: Any) -> str:
    """Any field value, readable."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return fmt_number(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(v) for v in value) if value else "(none)"
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {fmt_value(v)}" for k, v in value.items()) if value else "(none)"
    return str(value)


def nonzero(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if v not in (None, 0, 0.0)}
