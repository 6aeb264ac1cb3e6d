"""Render the sections' JSON results as BENCHMARKS.md."""

from __future__ import annotations

import json
from typing import Any


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "results": results}, indent=1)
