"""pydantic's validation errors in plain words: ``concurrency must be at most 500``.

One wording for the whole package: the clients' ``InvalidRequestError`` and the command line's error
lines both come from here. Inputs and pydantic's links are never shown (an input may be a key).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

_BY_TYPE = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this request",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
}
_BY_LIMIT = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than": ("lt", "must be less than {}"),
    "string_too_short": ("min_length", "must be at least {} characters long"),
    "string_too_long": ("max_length", "must be at most {} characters long"),
    "literal_error": ("expected", "must be {}"),
    "enum": ("expected", "must be one of {}"),
}
_WORDING = (("Value error, ", ""), ("Input should be", "must be"), ("String should have", "must have"))


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def plain_reason(error: Mapping[str, Any]) -> str:
    """One pydantic error as a short phrase (``must be at most 500``)."""
    kind = str(error.get("type", ""))
    context = error.get("ctx") or {}
    message = str(error.get("msg", "is not valid"))
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    if kind in _BY_LIMIT and _BY_LIMIT[kind][0] in context:
        key, template = _BY_LIMIT[kind]
        return template.format(_number(context[key]))
    if kind in ("value_error", "assertion_error"):
        return str(context.get("error") or message.partition(", ")[2] or message)
    for wording, plain in _WORDING:
        message = message.replace(wording, plain)
    return message


def field_name(error: Mapping[str, Any]) -> str:
    """The dotted location of one pydantic error (empty for the whole model)."""
    return ".".join(str(part) for part in error.get("loc", ()) if part != "__root__")


def plain_problems(
    errors: Iterable[Mapping[str, Any]],
    *,
    label: Callable[[str], str] | None = None,
    separator: str = " ",
) -> str:
    """Every error as ``<field><separator><reason>``, joined by ``; ``.

    ``label`` names a field as the person typed it (``concurrency`` -> ``--concurrency``); a reason that
    already starts with the field name (a model validator's own sentence) is kept as it is.
    """
    parts = []
    for error in errors:
        name = field_name(error)
        reason = plain_reason(error)
        if not name or reason.startswith((name, "the API key")):
            parts.append(reason)
            continue
        shown = label(name) if label else name
        joiner = separator if reason.startswith(("must", "is ")) else ": "
        parts.append(f"{shown}{joiner}{reason}")
    return "; ".join(parts)
