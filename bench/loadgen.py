"""Load generation against the sandbox from another process: ``wrk`` when installed, else this script.

Both take a list of requests (method, path, headers, body) that the connections cycle through, run for
a fixed time with a fixed number of keep-alive connections, and report requests per second, p50 and
p99 latency and the non-2xx count.

As a script (the fallback): ``python loadgen.py SPEC.json`` with
``{"host", "port", "connections", "duration", "requests": [[method, path, headers, body], ...]}``;
prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

Request = tuple[str, str, dict[str, str], str | None]

WRK_LUA = r"""
local reqs = {}
local counter = 0
local threads = {}
local bad = 0
setup = function(thread)
  table.insert(threads, thread)
end
init = function(args)
%(requests)s
end
request = function()
  counter = counter + 1
  return reqs[(counter %% #reqs) + 1]
end
response = function(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
done = function(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do total_bad = total_bad + (t:get("bad") or 0) end
  io.write(string.format(
    "WRKJSON {\"requests\": %%d, \"duration_us\": %%d, \"p50_us\": %%d, \"p99_us\": %%d, " ..
    "\"non2xx\": %%d, \"socket_errors\": %%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total_bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def wrk_script(requests: list[Request]) -> str:
    lines = []
    for method, path, headers, body in requests:
        header_table = (
            "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()) + "}"
        )
        body_lua = _lua_string(body) if body is not None else "nil"
        lines.append(
            f"  table.insert(reqs, wrk.format({_lua_string(method)}, {_lua_string(path)}, "
            f"{header_table}, {body_lua}))"
        )
    return WRK_LUA % {"requests": "\n".join(lines)}


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(
    host: str,
    port: int,
    requests: list[Request],
    connections: int,
    duration: float,
    *,
    scheme: str = "http",
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(wrk_script(requests))
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "-s", handle.name]
    argv.append(f"{scheme}://{host}:{port}/")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60, check=False).stdout
    Path(handle.name).unlink()
    match = re.search(r"^WRKJSON (.*)$", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"wrk printed no summary: {out[-500:]}")
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1e6
    return {
        "tool": "wrk",
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
    }


def run_python(
    host: str, port: int, requests: list[Request], connections: int, duration: float
) -> dict[str, Any]:
    spec = {
        "host": host,
        "port": port,
        "connections": connections,
        "duration": duration,
        "requests": requests,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(spec, handle)
    out = subprocess.run(
        [sys.executable, __file__, handle.name],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    Path(handle.name).unlink()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run_load(
    host: str,
    port: int,
    requests: list[Request],
    connections: int,
    duration: float,
    *,
    scheme: str = "http",
) -> dict[str, Any]:
    """Load from wrk when installed, else from this script (plain HTTP only)."""
    if have_wrk():
        return run_wrk(host, port, requests, connections, duration, scheme=scheme)
    if scheme != "http":
        raise RuntimeError(f"the Python load generator speaks plain HTTP only, not {scheme}: install wrk")
    return run_python(host, port, requests, connections, duration)


# -- the fallback generator: asyncio, raw HTTP/1.1 keep-alive ---------------------------------------


def _encode(host: str, port: int, request: list[Any]) -> bytes:
    method, path, headers, body = request
    data = body.encode() if body is not None else b""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


async def _connection(
    host: str, port: int, payloads: list[bytes], offset: int, stop_at: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    n = offset
    try:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(payloads[n % len(payloads)])
            n += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:].strip())
            if length:
                await reader.readexactly(length)
            out["latencies"].append(time.perf_counter() - started)
            if not 200 <= status < 300:
                out["non2xx"] += 1
    except (OSError, asyncio.IncompleteReadError):
        out["socket_errors"] += 1
    finally:
        writer.close()


async def _main(spec: dict[str, Any]) -> dict[str, Any]:
    payloads = [_encode(spec["host"], spec["port"], r) for r in spec["requests"]]
    out: dict[str, Any] = {"latencies": [], "non2xx": 0, "socket_errors": 0}
    started = time.perf_counter()
    stop_at = started + spec["duration"]
    await asyncio.gather(
        *(
            _connection(spec["host"], spec["port"], payloads, i * 7, stop_at, out)
            for i in range(spec["connections"])
        )
    )
    elapsed = time.perf_counter() - started
    latencies = sorted(out["latencies"])
    count = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(count - 1, int(p * count))] * 1000 if count else 0.0

    return {
        "tool": "python-asyncio",
        "requests": count,
        "rps": count / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "non2xx": out["non2xx"],
        "socket_errors": out["socket_errors"],
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_main(json.loads(Path(sys.argv[1]).read_text())))))
