"""Render the sections' JSON results as BENCHMARKS.md (markdown tables with ratios)."""

from __future__ import annotations

import statistics
from typing import Any

# The real AI Horde server on this kind of machine (issue 6): 2 cores, caches hot, rate limits off,
# 8 connections.
REAL_SERVER_RPS = {
    "GET /v2/users/{id}": 415.0,
    "GET /v2/users?page=N": 294.0,
    "GET /v2/find_user": 367.0,
    "PUT /v2/users/{id}": 90.0,
}
SANDBOX_FACTOR = {"SQLite": 3.0, "PostgreSQL": 2.0}
"""The issue's targets: the shipped command against the real server, per database, 8 connections."""
SHIPPED = "horde-users sandbox serve"


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.2f} ms"


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.0f} ms"


def _x(ratio: float) -> str:
    return f"{ratio:.2f}x"


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.2f} MiB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _failed(name: str, result: dict[str, Any]) -> list[str]:
    return [f"Section {name} failed: {result['error']}", ""]


# -- sections --------------------------------------------------------------------------------------


def _surface(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    present = r["checked"] - len(r["missing"])
    targets.append(
        [
            "Every class, field, alias and method of horde-sdk's users API models is in horde_users.models",
            f"{present}/{r['checked']} present",
            _verdict(not r["missing"]),
        ]
    )
    modules = ", ".join(f"`{m}`" for m in r["modules"])
    return [
        "## 0. API surface",
        "",
        f"`bench/surface.py` reads the public model classes of horde-sdk 0.33.3's {modules} (and the "
        "models their fields hold), and checks that `horde_users.models` has each class by name, each "
        "field by name, each field alias, and each public method or property those classes define "
        f"(pydantic's own are left out). **{present}/{r['checked']} present.**",
        "",
        *(["Missing:", "", *[f"- {label}" for label in r["missing"]], ""] if r["missing"] else []),
    ]


def _import(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    med = r["median_s"]
    base = med["python -c pass (interpreter only)"]
    sdk = med["import horde_sdk.ai_horde_api.apimodels"]
    cpu = r.get("median_cpu_s", {})
    rows = []
    for name, seconds in med.items():
        theirs = "horde_sdk" in name or "interpreter" in name
        ratio = "" if theirs else _x(sdk / seconds)
        net = max(seconds - base, 0.0)
        net_ratio = "" if theirs or net <= 0 else _x((sdk - base) / net)
        rows.append([f"`{name}`", _ms(seconds), _ms(net), ratio, net_ratio, _ms(cpu[name]) if cpu else ""])
    ours = med["import horde_users"]
    targets.append(
        [
            "`import horde_users` ≥ 10x faster than `import horde_sdk.ai_horde_api.apimodels`",
            f"{_x(sdk / ours)} (process), "
            f"{_x((sdk - base) / max(ours - base, 1e-9))} (minus interpreter start)",
            _verdict(sdk / ours >= 10),
        ]
    )
    first_model = med.get("import horde_users; horde_users.UserDetailsResponse")
    if first_model is not None:
        net_ratio = (sdk - base) / max(first_model - base, 1e-9)
        targets.append(
            [
                "`import horde_users; horde_users.UserDetailsResponse` ≥ 10x faster than horde-sdk's "
                "`apimodels`, net of interpreter start",
                f"{_x(net_ratio)} net ({_x(sdk / first_model)} process)",
                _verdict(net_ratio >= 10),
            ]
        )
    models = med["import horde_users.models"]
    targets.append(
        [
            "(same, for our models: `import horde_users.models`)",
            f"{_x(sdk / models)} (process), "
            f"{_x((sdk - base) / max(models - base, 1e-9))} (minus interpreter start)",
            _verdict(sdk / models >= 10),
        ]
    )
    helps = med["horde-users --help"]
    help_cpu = f"; {_ms(cpu['horde-users --help'])} CPU (user + system)" if cpu else ""
    targets.append(
        ["`horde-users --help` under 0.3 s", f"{_ms(helps)} wall{help_cpu}", _verdict(helps < 0.3)]
    )
    return [
        "## 1. Import and start-up",
        "",
        f"Median wall time of {r['runs']} process runs each (interleaved, after one warm-up run), and "
        "the median CPU time (user + system) of those runs, which a loaded machine inflates less. "
        "*Net* subtracts the bare interpreter start (`python -c pass`). Ratios are horde-sdk's time "
        "(as installed) divided by ours (higher is better for us). horde-sdk depends on logfire, which "
        "registers a pydantic plugin: in a virtualenv holding both, the first model *any* package "
        "defines imports logfire. A clean install of horde-users has no logfire, so our rows run with "
        "`PYDANTIC_DISABLE_PLUGINS=__all__` (one row shows ours with the plugin on); so do the parsing, "
        "request and bulk sections, for both sides.",
        "",
        *_table(
            ["command", "median wall", "net of interpreter", "horde_sdk / this", "net ratio", "median CPU"],
            rows,
        ),
        "",
        "Slowest nested imports under `python -X importtime -c 'import horde_users.models'` (cumulative):",
        "",
        *_table(
            ["module", "cumulative"], [[f"`{m}`", _ms(s)] for m, s in r["importtime_horde_users_models"][:8]]
        ),
        "",
        "and under `python -X importtime .venv-bench/bin/horde-users --help`:",
        "",
        *_table(["module", "cumulative"], [[f"`{m}`", _ms(s)] for m, s in r["importtime_cli_help"][:8]]),
        "",
    ]


def _parse(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    lines = [
        "## 2. Parsing",
        "",
        "Bytes in, model out; median CPU time per parse over "
        f"{r['rounds']} interleaved rounds of {r['number']}. Both libraries run under the same Python "
        "and pydantic. Each client's own path: horde-users parses a body with *model_validate_json* "
        "(pydantic's JSON parser, `horde_users._core.parse_response`), horde-sdk with *json.loads + "
        "model_validate* (`response.json()`, then `model_validate`); both entry points are timed for "
        "both sides, so the models also compare method for method. The floors: a `msgspec` Struct of the "
        "same shape (validating, dates left as strings) and `orjson.loads` / `json.loads` alone "
        "(no validation).",
        "",
    ]
    for label, samples in r["samples_s"].items():
        med = {name: _median(values) for name, values in samples.items()}
        ours_path = med["horde_users: model_validate_json"]
        ours_best = min(ours_path, med["horde_users: json.loads + model_validate"])
        sdk_path = med.get("horde_sdk: json.loads + model_validate")
        rows = []
        for name, seconds in med.items():
            vs_sdk = _x(sdk_path / seconds) if sdk_path is not None and name.startswith("horde_users") else ""
            rows.append([name, _us(seconds), vs_sdk, _x(seconds / med["floor: msgspec Struct"])])
        lines += [
            f"**{label}** ({r['sizes'][label]:,} bytes)",
            "",
            *_table(["parser", "median", "horde_sdk (json.loads + validate) / this", "this / msgspec"], rows),
            "",
        ]
        if sdk_path is not None:
            targets.append(
                [
                    f"Parsing {label}: at least as fast as horde-sdk (aim 1.5x)",
                    f"{_x(sdk_path / ours_path)} on each client's own path (ours model_validate_json, "
                    "horde-sdk's json.loads + model_validate); method for method: "
                    f"{_x(med['horde_sdk: model_validate_json'] / med['horde_users: model_validate_json'])} "
                    "model_validate_json, "
                    f"{_x(sdk_path / med['horde_users: json.loads + model_validate'])} json.loads + "
                    "model_validate; msgspec floor is "
                    f"{_x(ours_best / med['floor: msgspec Struct'])} faster than our best",
                    _verdict(sdk_path / ours_path >= 1.0),
                ]
            )
    rows = [[a["body"], a["horde_users"], a["horde_sdk"]] for a in r["acceptance"]]
    lines += [
        "Which real response bodies (tests/data/examples) each side accepts at all:",
        "",
        *_table(["captured body", "horde_users", "horde_sdk 0.33.3"], rows),
        "",
        "horde-sdk cannot parse the RFC 822 `monthly_kudos.last_received` the real server sends "
        "(`Fri, 27 Nov 2026 01:17:41 -0000`), so the privileged user is timed twice: as sent (ours and "
        "the floors only), and with `last_received` removed (both sides).",
        "",
    ]
    return lines


def _request(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    lines = [
        "## 3. Request overhead",
        "",
        f"Sequential `get_user` calls against a minimal keep-alive HTTP server on loopback (another "
        f"process, fixed {r['body_bytes']}-byte body: the owner's view of a user, example 021). Median "
        f"time per call over {r['rounds']} interleaved rounds of {r['number']} calls, wall time and the "
        "client process's CPU time. The server costs the same for every client, so differences are "
        "client overhead; client CPU is the steadier figure on a busy machine.",
        "",
    ]
    for kind, raw_name, ours_name in (
        ("sync", "raw httpx.Client GET + json.loads", "horde_users HordeUsers.get_user"),
        ("async", "raw httpx.AsyncClient GET + json.loads", "horde_users AsyncHordeUsers.get_user"),
    ):
        med = {name: _median(values) for name, values in r[f"{kind}_s"].items()}
        cpu = {name: _median(values) for name, values in r.get(f"{kind}_cpu_s", r[f"{kind}_s"]).items()}
        raw = med[raw_name]
        rows = [
            [
                name,
                _us(seconds),
                _x(seconds / raw),
                _x(seconds / med[ours_name]),
                _us(cpu[name]),
                _x(cpu[name] / cpu[raw_name]),
            ]
            for name, seconds in med.items()
        ]
        header = [
            "client",
            "wall per call",
            "this / raw httpx",
            "this / ours",
            "client CPU per call",
            "CPU / raw",
        ]
        lines += [f"**{kind}**", "", *_table(header, rows), ""]
        targets.append(
            [
                f"{kind} client overhead within 1.2x of raw httpx",
                f"{_x(med[ours_name] / raw)} wall ({_us(med[ours_name])} vs {_us(raw)}); "
                f"{_x(cpu[ours_name] / cpu[raw_name])} client CPU",
                _verdict(med[ours_name] / raw <= 1.2),
            ]
        )
    lines += _async_targets(r, targets)
    lines += [
        "horde-sdk's sync `AIHordeAPIManualClient` calls `requests.get` with no session, so every call "
        "opens a new TCP connection; its async client reuses the aiohttp session it is given. Raw "
        "`requests` and raw `aiohttp` are shown as the floors of those two.",
        "",
    ]
    return lines


_OURS_ASYNC = "horde_users AsyncHordeUsers.get_user"
_SDK_ASYNC = "horde_sdk AIHordeAPIAsyncManualClient.submit_request"
_RAW_AIOHTTP = "raw aiohttp GET + json.loads"


def _async_targets(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    """The burst table; the async client against horde-sdk's and raw aiohttp, alone and in bursts."""
    lines: list[str] = []
    if "burst_s" in r:
        med = {name: _median(values) for name, values in r["burst_s"].items()}
        cpu = {name: _median(values) for name, values in r["burst_cpu_s"].items()}
        rows = [
            [name, _us(seconds), _x(seconds / med[_RAW_AIOHTTP]), _us(cpu[name])]
            for name, seconds in med.items()
        ]
        lines += [
            f"**async, {r['burst']} calls at once** (`asyncio.gather`; time per call)",
            "",
            *_table(["client", "wall per call", "this / raw aiohttp", "client CPU per call"], rows),
            "",
        ]
    for label, key in (("one at a time", "async_s"), (f"{r.get('burst', 50)} at once", "burst_s")):
        if key not in r:
            continue
        med = {name: _median(values) for name, values in r[key].items()}
        ours, sdk, raw = med[_OURS_ASYNC], med[_SDK_ASYNC], med[_RAW_AIOHTTP]
        targets.append(
            [
                f"async `get_user`, {label}: ≥ 1.5x faster than horde-sdk's async client, "
                "within 1.5x of raw aiohttp",
                f"{_x(sdk / ours)} horde-sdk's time ({_us(ours)} vs {_us(sdk)}); "
                f"{_x(ours / raw)} raw aiohttp's ({_us(raw)})",
                _verdict(sdk / ours >= 1.5 and ours / raw <= 1.5),
            ]
        )
    return lines


def _sandbox(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    lines = [
        "## 4. Sandbox throughput (rate limits off)",
        "",
        f"{r['users']:,} users in the database; each cell is {r['duration_s']:g} s of load from "
        f"{r['load_tool']} in another process, after a 1 s warm-up per endpoint. "
        "`GET /v2/users/{id}`: anonymous, ids cycling over the table; `GET /v2/users?page=N`: pages 1-40; "
        "`GET /v2/find_user`: 100 users' keys; `PUT /v2/users/{id}`: the admin adds 1 kudos, ids cycling. "
        "*cores* is the CPU time of the server processes per wall second (the load generator shares "
        "the same 2 cores). The heartbeat, which touches no database, shows what uvicorn "
        f"(HTTP parser: {r.get('http_parser', 'h11')}) and the app's edge alone allow on this machine. "
        "Reference: the real AI Horde server on this kind of "
        "machine, 8 connections: "
        + ", ".join(f"{k} {v:.0f}/s" for k, v in REAL_SERVER_RPS.items())
        + "; the targets are "
        + " and ".join(f"{factor:g}x those on {db}" for db, factor in SANDBOX_FACTOR.items())
        + f" for `{SHIPPED}`, as it comes. "
        + _real_server_note(r.get("real_server")),
        "",
    ]
    for db, configs in r["databases"].items():
        if "error" in configs:
            lines += [f"### {db}", "", f"Failed: {configs['error']}", ""]
            continue
        lines += [f"### {db}", "", f"Seeding {r['users']:,} users took {configs['seed_s']:.0f} s.", ""]
        for config, measured in configs.items():
            if config == "seed_s":
                continue
            cells = measured.get("cells", measured)
            ceiling = measured.get("heartbeat_c8")
            rows = []
            for cell, res in cells.items():
                endpoint, conns = (part.strip() for part in cell.split("|"))
                ref = REAL_SERVER_RPS[endpoint]
                rows.append(
                    [
                        f"`{endpoint}`",
                        conns,
                        f"{res['rps']:,.0f}",
                        f"{res['p50_ms']:.1f}",
                        f"{res['p99_ms']:.1f}",
                        f"{res['server_cores_busy']:.2f}",
                        _x(res["rps"] / ref),
                        str(res["non2xx"] + res["socket_errors"]),
                    ]
                )
            note = (
                f" (framework ceiling: `GET /v2/status/heartbeat`, 8 conns, {ceiling['rps']:,.0f} req/s)"
                if ceiling
                else ""
            )
            lines += [
                f"**{config}**{note}",
                "",
                *_table(
                    ["endpoint", "conns", "req/s", "p50 ms", "p99 ms", "cores", "vs real server", "errors"],
                    rows,
                ),
                "",
            ]
        shipped = configs.get(SHIPPED)
        if shipped is not None and db in SANDBOX_FACTOR:
            side = shipped.get("side_by_side") or {}
            if side:
                lines += _side_by_side_table(side)
            targets.append(_sandbox_target(db, shipped.get("cells", shipped), side))
    return lines


def _real_server_note(real: dict[str, Any] | None) -> str:
    if not real:
        return (
            "No live real server was given (`HORDE_USERS_BENCH_REAL_SERVER`, see bench/bench_sandbox.py): "
            "the ratios are against those recorded figures."
        )
    return (
        f"A live real server was measured side by side: `{real['url']}`, {real['rounds']} alternating rounds "
        "per endpoint at 8 connections (the sandbox and the real server taking turns); its ratios are "
        "the medians' and the targets use them (recorded figures for any endpoint not measured live)."
    )


def _side_by_side_table(side: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"`{endpoint}`",
            f"{statistics.median(res['sandbox_rps']):,.0f}",
            f"{statistics.median(res['real_rps']):,.0f}",
            _x(res["ratio"]),
            str(len(res["sandbox_rps"])),
            str(res["errors"]),
        ]
        for endpoint, res in side.items()
    ]
    return [
        "**Side by side with the live real server** (8 conns, alternating rounds, medians)",
        "",
        *_table(["endpoint", "sandbox req/s", "real server req/s", "ratio", "rounds", "errors"], rows),
        "",
    ]


def _sandbox_target(db: str, cells: dict[str, Any], side: dict[str, Any]) -> list[str]:
    """The target line of one database: every endpoint's ratio (live where measured) against the factor."""
    factor = SANDBOX_FACTOR[db]
    ratios: dict[str, float] = {}
    sources: dict[str, str] = {}
    for endpoint, reference in REAL_SERVER_RPS.items():
        if endpoint in side:
            ratios[endpoint], sources[endpoint] = side[endpoint]["ratio"], "live"
        else:
            ratios[endpoint] = cells[f"{endpoint} | 8"]["rps"] / reference
            sources[endpoint] = "recorded"
    worst = min(ratios, key=lambda e: ratios[e])
    measured = f"worst {worst}: {_x(ratios[worst])}; " + ", ".join(
        f"{endpoint} {_x(ratio)}" + (" (live)" if sources[endpoint] == "live" else "")
        for endpoint, ratio in ratios.items()
    )
    return [
        f"Sandbox ≥ {factor:g}x the real server on every endpoint ({db}, 8 conns): `{SHIPPED}`",
        measured,
        _verdict(ratios[worst] >= factor),
    ]


def _bulk(r: dict[str, Any], targets: list[list[str]]) -> list[str]:
    runs = r["runs"]
    rows = []
    for label, res in runs.items():
        peak = res["tracemalloc_peak_bytes"]
        rows.append(
            [
                label,
                f"{res['seconds']:.2f} s",
                f"{res['users'] / res['seconds']:,.0f}",
                _mib(peak) if peak is not None else "",
                f"{res['peak_rss_kib_before'] / 1024:.1f} → {res['peak_rss_kib_after'] / 1024:.1f} MiB",
            ]
        )
    small = runs["iter_users, 1,000 users (tracemalloc)"]["tracemalloc_peak_bytes"]
    large = runs["iter_users, 10,000 users (tracemalloc)"]["tracemalloc_peak_bytes"]
    kept = runs["list(iter_users()), 10,000 users kept (tracemalloc)"]["tracemalloc_peak_bytes"]
    targets.append(
        [
            "Bulk `iter_users`: memory flat",
            f"tracemalloc peak {_mib(small)} for 1,000 users, {_mib(large)} for 10,000 "
            f"({_x(large / small)}); keeping all 10,000: {_mib(kept)}",
            _verdict(large / small < 1.5),
        ]
    )
    return [
        "## 5. Bulk: `iter_users` over the sandbox",
        "",
        f"{r['users_in_database']:,} users in a SQLite sandbox (`create_app`, one worker, TCP_NODELAY). "
        "Each row is a fresh client process; time and VmHWM come from runs without tracemalloc, "
        "the peak of Python allocations from runs with it (tracing slows Python down).",
        "",
        *_table(["run", "time", "users/s", "tracemalloc peak", "peak RSS (before → after)"], rows),
        "",
    ]


RENDERERS = {
    "surface": _surface,
    "import": _import,
    "parse": _parse,
    "request": _request,
    "sandbox": _sandbox,
    "bulk": _bulk,
}


def render(meta: dict[str, Any], results: dict[str, Any]) -> str:
    targets: list[list[str]] = []
    body: list[str] = []
    for name, renderer in RENDERERS.items():
        result = results.get(name)
        if result is None:
            continue
        if "error" in result:
            body += _failed(name, result)
            continue
        body += renderer(result, targets)
    head = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand. horde-users against the "
        "reference SDK `horde-sdk` 0.33.3 and the raw floors, both sides in one run, in one interpreter "
        "(`.venv-bench`) with one pydantic. The machine is shared and noisy: compare the ratios, "
        "absolute times drift between runs.",
        "",
        f"- Date: {meta['date']} (the run took {meta['duration_s'] / 60:.1f} min); commit `{meta['git']}`",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores, {meta['os']}; 1-minute load average "
        f"{meta['loadavg'][0]:.1f} at the start, {meta['loadavg'][1]:.1f} at the end (other work shares "
        "the machine)",
        f"- Python {meta['python']}, pydantic {meta['pydantic']} (pydantic-core {meta['pydantic-core']}), "
        f"horde-sdk {meta['horde-sdk']}, horde-users {meta['horde-users']}",
        f"- httpx {meta['httpx']}, requests {meta['requests']}, aiohttp {meta['aiohttp']}, "
        f"orjson {meta['orjson']}, msgspec {meta['msgspec']}, fastapi {meta['fastapi']}, "
        f"starlette {meta['starlette']}, uvicorn {meta['uvicorn']}, SQLAlchemy {meta['sqlalchemy']}",
        "- PostgreSQL: "
        + (
            "measured (HORDE_USERS_TEST_POSTGRES_URL set)"
            if meta["postgres"]
            else "not measured (set HORDE_USERS_TEST_POSTGRES_URL)"
        ),
        "",
        "## Targets",
        "",
        *_table(["target", "measured", "status"], targets),
        "",
    ]
    return "\n".join(head + body)
