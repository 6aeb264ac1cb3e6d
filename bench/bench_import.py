"""Section 1: import and start-up time, median of process runs (`python -c ...`, `horde-users --help`)."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import section_args, write_result

PY = sys.executable
CLI = str(Path(PY).with_name("horde-users"))

# horde-sdk depends on logfire, which registers a pydantic plugin (entry point group "pydantic"): in
# .venv-bench the first model any package defines imports logfire (~0.5 s). A clean install of
# horde-users has no logfire, so our rows run with PYDANTIC_DISABLE_PLUGINS=__all__; horde-sdk is
# timed as installed (it imports logfire itself anyway).
NO_PLUGINS = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}
WITH_PLUGINS = {"PYDANTIC_DISABLE_PLUGINS": ""}

CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass (interpreter only)": ([PY, "-c", "pass"], NO_PLUGINS),
    "import horde_users": ([PY, "-c", "import horde_users"], NO_PLUGINS),
    "import horde_users.models": ([PY, "-c", "import horde_users.models"], NO_PLUGINS),
    "import horde_users; horde_users.UserDetailsResponse": (
        [PY, "-c", "import horde_users; horde_users.UserDetailsResponse"],
        NO_PLUGINS,
    ),
    "from horde_users import HordeUsers": ([PY, "-c", "from horde_users import HordeUsers"], NO_PLUGINS),
    "horde-users --help": ([CLI, "--help"], NO_PLUGINS),
    "import horde_users.models (logfire's pydantic plugin on)": (
        [PY, "-c", "import horde_users.models"],
        WITH_PLUGINS,
    ),
    "import horde_sdk.ai_horde_api.apimodels": (
        [PY, "-c", "import horde_sdk.ai_horde_api.apimodels"],
        WITH_PLUGINS,
    ),
}


def run_once(argv: list[str], extra_env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one process run."""
    env = {**os.environ, "COLUMNS": "100", **extra_env}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} failed: {proc.stderr.decode(errors='replace')[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def import_profile(argv: list[str], top: int = 10) -> list[tuple[str, float]]:
    """The slowest imports (cumulative seconds) under ``-X importtime``, top-level entries excluded."""
    env = {**os.environ, "COLUMNS": "100", **NO_PLUGINS}
    proc = subprocess.run(
        [PY, "-X", "importtime", *argv], capture_output=True, text=True, check=False, env=env
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2].rstrip()
        if name.startswith("  "):  # nested: the top-level entries are the whole thing
            rows.append((name.strip(), int(parts[1]) / 1e6))
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows[:top]


def main() -> None:
    args = section_args(__doc__ or "")
    runs = 3 if args.quick else 10
    for argv, extra_env in CASES.values():  # warm the page cache and the .pyc files
        run_once(argv, extra_env)
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, (argv, extra_env) in CASES.items():
            wall, used = run_once(argv, extra_env)
            samples[name].append(wall)
            cpu[name].append(used)
    result = {
        "runs": runs,
        "samples_s": samples,
        "median_s": {name: statistics.median(values) for name, values in samples.items()},
        "median_cpu_s": {name: statistics.median(values) for name, values in cpu.items()},
        "min_s": {name: min(values) for name, values in samples.items()},
        "importtime_horde_users_models": import_profile(["-c", "import horde_users.models"]),
        "importtime_cli_help": import_profile([CLI, "--help"]),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
