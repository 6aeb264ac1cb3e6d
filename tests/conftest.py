"""Shared test setup: where the real example exchanges live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

EXAMPLES_DIR = Path(__file__).parent / "data" / "examples"
"""Real exchanges with the AI Horde users API (described in tests/data/examples/README.md)."""


def load_examples() -> list[dict[str, Any]]:
    """Every example exchange, in the order it ran."""
    return [json.loads(path.read_text()) for path in sorted(EXAMPLES_DIR.glob("*.json"))]


def pytest_generate_tests(metafunc: Any) -> None:
    """Parametrise `example` (every exchange), `success_example` and `error_example` over the examples."""
    examples = load_examples()
    selections = {
        "example": examples,
        "success_example": [example for example in examples if example["response"]["status"] == 200],
        "error_example": [example for example in examples if example["response"]["status"] != 200],
    }
    for name, chosen in selections.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, chosen, ids=[example["case"] for example in chosen])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests first: on parallel workers (``make test``) they then overlap the rest of
    the suite instead of trailing it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
