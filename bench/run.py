"""``make bench``: measure horde-users against horde-sdk 0.33.3 and the raw floors, write BENCHMARKS.md.

Both sides must run under one interpreter and one pydantic, and horde-sdk needs Python >= 3.12, so this
script (run by the project's .venv python, stdlib only) creates ``.venv-bench`` with pyenv's Python 3.12
when it is missing, installs horde-sdk, this repository (editable), orjson and msgspec there, runs each
section as ``.venv-bench/bin/python bench/bench_<section>.py --out FILE``, then writes BENCHMARKS.md and
prints it.

    python bench/run.py                      # everything (about 10 minutes)
    python bench/run.py --only parse,request # some sections
    python bench/run.py --quick              # a smoke run, fewer rounds (numbers not written)
    python bench/run.py --only sandbox --merge   # rerun one section, keep the others from the last run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_console import render_console  # noqa: E402
from bench_moderation import render_moderation  # noqa: E402
from report import RENDERERS, render  # noqa: E402

RENDERERS["moderation"] = render_moderation  # section 6, rendered by its own module
RENDERERS["console"] = render_console  # section 7

REPO = HERE.parent
VENV = REPO / ".venv-bench"
BENCH_PY = VENV / "bin" / "python"
PYENV_312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python"
REQUIREMENTS = ["horde-sdk==0.33.3", "orjson", "msgspec", "pyinstrument"]
STAMP = VENV / ".bench-installed"
LAST = VENV / "last_results.json"
SECTIONS = ("surface", "import", "parse", "request", "sandbox", "bulk", "moderation", "console")
SCRIPTS = {"surface": "surface.py"}
"""The script of a section, when it is not ``bench_<section>.py``."""
SECTION_TIMEOUT_S = {
    "surface": 120,
    "import": 240,
    "parse": 240,
    "request": 300,
    "sandbox": 600,
    "bulk": 400,
    "moderation": 900,
    "console": 900,
}


def find_python312() -> Path:
    """pyenv's 3.12, else any python3.12 on PATH."""
    if PYENV_312.exists():
        return PYENV_312
    for candidate in ("python3.12",):
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            path = Path(folder) / candidate
            if path.exists():
                return path
    raise SystemExit("bench: Python 3.12 not found (expected ~/.pyenv/versions/3.12.1/bin/python)")


def ensure_venv() -> None:
    """Create .venv-bench and install the comparison targets, unless the stamp says it is done."""
    # The project's declared dependencies are part of the stamp: a new one (httptools for the sandbox)
    # reinstalls instead of being silently missing.
    declared = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    wanted = "\n".join(
        [*REQUIREMENTS, f"-e {REPO}[cli,sandbox,postgres,fast,console]", f"pyproject {declared}"]
    )
    if BENCH_PY.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not BENCH_PY.exists():
        print(f"bench: creating {VENV} with {find_python312()}", flush=True)
        subprocess.run([str(find_python312()), "-m", "venv", str(VENV)], check=True)
    print(
        "bench: installing horde-sdk==0.33.3, horde-users (editable, with the extras it measures), "
        "orjson, msgspec",
        flush=True,
    )
    pip = [str(BENCH_PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *REQUIREMENTS, "-e", f"{REPO}[cli,sandbox,postgres,fast,console]"], check=True)
    STAMP.write_text(wanted)


def machine_info() -> dict[str, Any]:
    """CPU model, core count, OS, and the interpreter and library versions of .venv-bench."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dists = ["pydantic", "pydantic-core", "horde-sdk", "horde-users", "httpx", "orjson", "msgspec"]
    dists += ["requests", "aiohttp", "fastapi", "starlette", "uvicorn", "sqlalchemy"]
    probe = (
        "import json, sys, platform, importlib.metadata as m\n"
        f"info = {{n: m.version(n) for n in {dists!r}}}\n"
        "info['python'] = platform.python_version()\n"
        "print(json.dumps(info))"
    )
    versions = json.loads(subprocess.run([str(BENCH_PY), "-c", probe], capture_output=True, text=True).stdout)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "git": subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        **versions,
    }


def run_section(name: str, quick: bool, workdir: Path) -> dict[str, Any]:
    """Run one section in .venv-bench; its JSON result, or {"error": ...} when it failed."""
    out = workdir / f"{name}.json"
    argv = [str(BENCH_PY), str(HERE / SCRIPTS.get(name, f"bench_{name}.py")), "--out", str(out)]
    if quick:
        argv.append("--quick")
    # PYDANTIC_DISABLE_PLUGINS: see bench_import.py (logfire's plugin, installed with horde-sdk)
    env = {**os.environ, "BENCH_WORKDIR": str(workdir), "PYDANTIC_DISABLE_PLUGINS": "__all__"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("AI_HORDE_URL", None)
    env.pop("AI_HORDE_API_KEY", None)
    started = time.perf_counter()
    print(f"bench: [{name}] running", flush=True)
    try:
        proc = subprocess.run(argv, cwd=HERE, env=env, timeout=SECTION_TIMEOUT_S[name], check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {SECTION_TIMEOUT_S[name]} s"}
    print(f"bench: [{name}] done in {time.perf_counter() - started:.0f} s", flush=True)
    if proc.returncode != 0 or not out.exists():
        return {"error": f"exit status {proc.returncode} (see the output above)"}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--quick", action="store_true", help="fewer rounds; BENCHMARKS.md is not written")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument(
        "--merge", action="store_true", help="take the sections not run from the last run's results"
    )
    args = parser.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(chosen) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"bench: unknown sections {sorted(unknown)}; choose from {SECTIONS}")

    ensure_venv()
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    if args.merge and LAST.exists():
        results = json.loads(LAST.read_text())["results"]
    with tempfile.TemporaryDirectory(prefix="horde-bench-") as tmp:
        for name in SECTIONS:
            if name in chosen:
                results[name] = run_section(name, args.quick, Path(tmp))
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.perf_counter() - started,
        "quick": args.quick,
        "postgres": bool(os.environ.get("HORDE_USERS_TEST_POSTGRES_URL")),
        "loadavg": [load_before, os.getloadavg()[0]],
        **machine_info(),
    }
    text = render(meta, results)
    print()
    print(text)
    if args.quick:
        (VENV / "last_quick_results.json").write_text(
            json.dumps({"meta": meta, "results": results}, indent=2)
        )
        print("bench: --quick run, BENCHMARKS.md left as it was")
        return
    LAST.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    if not all(name in results for name in SECTIONS):
        print("bench: not every section ran, BENCHMARKS.md left as it was (--merge reuses the last run)")
        return
    args.output.write_text(text)
    print(f"bench: wrote {args.output}")


if __name__ == "__main__":
    main()
