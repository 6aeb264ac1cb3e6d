"""Section 1: import and start-up time, median of process runs (`python -c ...`, `horde-users --help`)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import section_args, write_result

PY = sys.executable
CLI = str(Path(PY).with_name("horde-users"))

CASES: dict[str, list[str]] = {
    "python -c pass (interpreter only)": [PY, "-c", "pass"],
    "import horde_users": [PY, "-c", "import horde_users"],
    "import horde_users.models": [PY, "-c", "import horde_users.models"],
    "from horde_users import HordeUsers": [PY, "-c", "from horde_users import HordeUsers"],
    "horde-users --help": [CLI, "--help"],
    "import horde_sdk.ai_horde_api.apimodels": [PY, "-c", "import horde_sdk.ai_horde_api.apimodels"],
}


def run_once(argv: list[str]) -> float:
    env = {**os.environ, "COLUMNS": "100"}
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr.decode(errors='replace')[-800:]}")
    return elapsed


def import_profile(module: str, top: int = 8) -> list[tuple[str, float]]:
    """The slowest imports (cumulative seconds) under ``-X importtime``, the module itself excluded."""
    proc = subprocess.run(
        [PY, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2].strip()
        if name != module:
            rows.append((name, int(parts[1]) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def main() -> None:
    args = section_args(__doc__ or "")
    runs = 3 if args.quick else 10
    for argv in CASES.values():  # warm the page cache and the .pyc files
        run_once(argv)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, argv in CASES.items():
            samples[name].append(run_once(argv))
    result = {
        "runs": runs,
        "samples_s": samples,
        "median_s": {name: statistics.median(values) for name, values in samples.items()},
        "min_s": {name: min(values) for name, values in samples.items()},
        "importtime_horde_users_models": import_profile("horde_users.models"),
        "importtime_horde_users_cli": import_profile("horde_users.cli"),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
