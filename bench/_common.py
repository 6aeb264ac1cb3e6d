"""Helpers shared by the benchmark sections: timing, the example bodies, result files.

Every section runs in ``.venv-bench`` (pyenv's Python 3.12) as ``python bench/<section>.py --out FILE``
and writes one JSON document to FILE; ``bench/run.py`` turns those into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "tests" / "data" / "examples"
BENCH_DATA = Path(__file__).resolve().parent / "data"


def example_body(name: str) -> Any:
    """The JSON response body of one captured exchange (bench/data holds a copy for fresh clones)."""
    for folder in (EXAMPLES, BENCH_DATA):
        path = folder / f"{name}.json"
        if path.exists():
            return json.loads(path.read_text())["response"]["json"]
    raise FileNotFoundError(f"{name}.json in {EXAMPLES} or {BENCH_DATA}")


def list_page() -> list[dict[str, Any]]:
    """The realistic 25-user page: the real server's first list page (public view, explicit nulls)."""
    page = example_body("010_list_users_page1")
    assert isinstance(page, list)
    assert len(page) == 25
    return page


def privileged_user() -> dict[str, Any]:
    """A single user in the moderator's view: RFC 822 ``last_received``, floats next to integer zeros."""
    user = example_body("072_get_user_after_mod_changes_modview")
    assert isinstance(user, dict)
    return user


def without_last_received(user: dict[str, Any]) -> dict[str, Any]:
    """``user`` minus ``monthly_kudos.last_received`` (the RFC 822 date horde-sdk rejects)."""
    clone = copy.deepcopy(user)
    clone.get("monthly_kudos", {}).pop("last_received", None)
    return clone


def per_call(
    fn: Callable[[], object], *, number: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds per call of ``fn`` over ``number`` calls, by ``clock`` (gc off while timing)."""
    gc_was = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in range(number):
            fn()
        return (clock() - start) / number
    finally:
        if gc_was:
            gc.enable()


def interleaved(
    cases: dict[str, Callable[[], object]],
    *,
    rounds: int,
    number: int,
    warmup: int = 50,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Seconds per call of each case, one sample per round; the cases take turns, round by round, so that
    they share the noise of a busy machine (the report takes the median of the rounds)."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(per_call(fn, number=number, clock=clock))
    return samples


def calibrate(fn: Callable[[], object], target_s: float = 0.05) -> int:
    """How many calls of ``fn`` take about ``target_s`` seconds (at least 1)."""
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    return max(1, int(target_s / one))


def section_args(description: str) -> argparse.Namespace:
    """The command line every section accepts: ``--out FILE`` and ``--quick``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    return parser.parse_args()


def write_result(path: Path, result: dict[str, Any]) -> None:
    """Write one section's result document."""
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")
