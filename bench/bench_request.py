"""Section 3: client overhead, N sequential ``get_user`` calls against a fixed-body loopback server.

The server (bench/fixed_server.py, another process) answers every request with the owner's view of a
user (example 021) at once, so what is measured is the client: building the request, HTTP, parsing.
Compared: our sync and async clients (the async one over aiohttp, its default when installed, and
over httpx), raw httpx doing the same GET + ``json.loads`` (the target is within 1.2x of it), and
horde-sdk's clients (``AIHordeAPIManualClient`` uses ``requests.get`` without a session;
``AIHordeAPIAsyncManualClient`` uses the aiohttp session it is given), with raw ``requests`` and raw
``aiohttp`` as their floors. The async clients are also timed in bursts of ``BURST`` calls at once
(``asyncio.gather``), time per call.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import example_body, section_args, write_result

USER_ID = 3
BURST = 50
CLIENT_AGENT = "horde-users-bench:1:local"


def start_server(body: bytes) -> tuple[subprocess.Popen[str], int]:
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as handle:
        handle.write(body)
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fixed_server.py")), handle.name],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


Samples = dict[str, list[float]]


def sync_interleaved(
    cases: dict[str, Callable[[], object]], *, rounds: int, number: int, warmup: int = 50
) -> tuple[Samples, Samples]:
    """Per-call wall time and client CPU time of each case, one sample per round, cases taking turns."""
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    wall: Samples = {name: [] for name in cases}
    cpu: Samples = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            gc.disable()
            try:
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(number):
                    fn()
                wall[name].append((time.perf_counter() - w0) / number)
                cpu[name].append((time.process_time() - c0) / number)
            finally:
                gc.enable()
    return wall, cpu


async def async_interleaved(
    cases: dict[str, Callable[[], Awaitable[object]]],
    *,
    rounds: int,
    number: int,
    warmup: int = 50,
    calls_each: int = 1,
) -> tuple[Samples, Samples]:
    """Like ``sync_interleaved``, for coroutine functions, all in the running event loop.

    ``calls_each``: how many calls one run of a case makes (a burst); samples are per call.
    """
    for fn in cases.values():
        for _ in range(warmup):
            await fn()
    wall: Samples = {name: [] for name in cases}
    cpu: Samples = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            gc.disable()
            try:
                w0, c0 = time.perf_counter(), time.process_time()
                for _ in range(number):
                    await fn()
                wall[name].append((time.perf_counter() - w0) / (number * calls_each))
                cpu[name].append((time.process_time() - c0) / (number * calls_each))
            finally:
                gc.enable()
    return wall, cpu


def sync_cases(base: str) -> tuple[dict[str, Callable[[], object]], list[Any]]:
    import httpx
    import requests
    from horde_sdk.ai_horde_api.ai_horde_clients import AIHordeAPIManualClient
    from horde_sdk.ai_horde_api.apimodels import SingleUserDetailsRequest
    from horde_sdk.ai_horde_api.apimodels import UserDetailsResponse as SdkUser

    from horde_users import HordeUsers

    url = f"{base}/v2/users/{USER_ID}"
    headers = {"Accept": "application/json", "Client-Agent": CLIENT_AGENT}
    raw = httpx.Client()
    ours = HordeUsers(base_url=base, client_agent=CLIENT_AGENT, max_retries=0)
    sdk = AIHordeAPIManualClient()

    def raw_httpx() -> object:
        return json.loads(raw.get(url, headers=headers).content)

    def raw_requests() -> object:
        return json.loads(requests.get(url, headers=headers).content)

    def ours_get() -> object:
        return ours.get_user(USER_ID)

    def sdk_get() -> object:
        return sdk.submit_request(SingleUserDetailsRequest(user_id=str(USER_ID)), SdkUser)

    for name, fn in (("ours", ours_get), ("sdk", sdk_get)):
        got = fn()
        assert getattr(got, "username", None) == "peer_alice#3", (name, got)
    cases = {
        "raw httpx.Client GET + json.loads": raw_httpx,
        "horde_users HordeUsers.get_user": ours_get,
        "horde_sdk AIHordeAPIManualClient.submit_request": sdk_get,
        "raw requests.get + json.loads (no session)": raw_requests,
    }
    return cases, [raw, ours]


def burst_of(fn: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[object]]:
    """``BURST`` calls of ``fn`` at once; timed per call (``async_interleaved`` divides by ``number``)."""

    async def burst() -> object:
        return await asyncio.gather(*(fn() for _ in range(BURST)))

    return burst


async def run_async(base: str, rounds: int, number: int) -> tuple[Samples, Samples, Samples, Samples]:
    import aiohttp
    import httpx
    from horde_sdk.ai_horde_api.ai_horde_clients import AIHordeAPIAsyncManualClient
    from horde_sdk.ai_horde_api.apimodels import SingleUserDetailsRequest
    from horde_sdk.ai_horde_api.apimodels import UserDetailsResponse as SdkUser

    from horde_users import AsyncHordeUsers

    url = f"{base}/v2/users/{USER_ID}"
    headers = {"Accept": "application/json", "Client-Agent": CLIENT_AGENT}
    async with (
        httpx.AsyncClient() as raw,
        AsyncHordeUsers(base_url=base, client_agent=CLIENT_AGENT, max_retries=0) as ours,
        AsyncHordeUsers(
            base_url=base, client_agent=CLIENT_AGENT, max_retries=0, http_backend="httpx"
        ) as ours_httpx,
        aiohttp.ClientSession() as session,
    ):
        sdk = AIHordeAPIAsyncManualClient(aiohttp_session=session)

        async def raw_httpx() -> object:
            return json.loads((await raw.get(url, headers=headers)).content)

        async def raw_aiohttp() -> object:
            async with session.get(url, headers=headers) as response:
                return json.loads(await response.read())

        async def ours_get() -> object:
            return await ours.get_user(USER_ID)

        async def ours_httpx_get() -> object:
            return await ours_httpx.get_user(USER_ID)

        async def sdk_get() -> object:
            return await sdk.submit_request(SingleUserDetailsRequest(user_id=str(USER_ID)), SdkUser)

        for name, fn in (("ours", ours_get), ("ours over httpx", ours_httpx_get), ("sdk", sdk_get)):
            got = await fn()
            assert getattr(got, "username", None) == "peer_alice#3", (name, got)
        cases: dict[str, Callable[[], Awaitable[object]]] = {
            "raw httpx.AsyncClient GET + json.loads": raw_httpx,
            "horde_users AsyncHordeUsers.get_user": ours_get,
            "horde_users AsyncHordeUsers.get_user (http_backend='httpx')": ours_httpx_get,
            "horde_sdk AIHordeAPIAsyncManualClient.submit_request": sdk_get,
            "raw aiohttp GET + json.loads": raw_aiohttp,
        }
        one, one_cpu = await async_interleaved(cases, rounds=rounds, number=number)
        bursts = {name: burst_of(fn) for name, fn in cases.items()}
        many, many_cpu = await async_interleaved(
            bursts, rounds=rounds, number=max(1, number // BURST), warmup=2, calls_each=BURST
        )
        return one, one_cpu, many, many_cpu


def main() -> None:
    args = section_args(__doc__ or "")
    rounds, number = (3, 100) if args.quick else (21, 100)
    body = json.dumps(example_body("021_get_user_owner")).encode()
    server, port = start_server(body)
    try:
        base = f"http://127.0.0.1:{port}/api"
        # horde-sdk reads its base URL from AI_HORDE_URL when its modules are imported
        os.environ["AI_HORDE_URL"] = base + "/"
        os.environ["LOGFIRE_IGNORE_NO_CONFIG"] = "1"
        from loguru import logger

        logger.remove()  # horde-sdk logs at DEBUG to stderr by default; not what is measured here
        cases, closers = sync_cases(base)
        sync, sync_cpu = sync_interleaved(cases, rounds=rounds, number=number)
        for closer in closers:
            closer.close()
        print("request: sync done", file=sys.stderr, flush=True)
        async_, async_cpu, burst, burst_cpu = asyncio.run(run_async(base, rounds, number))
        print("request: async done", file=sys.stderr, flush=True)
    finally:
        server.kill()
        server.wait()
    write_result(
        args.out,
        {
            "rounds": rounds,
            "number": number,
            "body_bytes": len(body),
            "sync_s": sync,
            "sync_cpu_s": sync_cpu,
            "async_s": async_,
            "async_cpu_s": async_cpu,
            "burst": BURST,
            "burst_s": burst,
            "burst_cpu_s": burst_cpu,
        },
    )


if __name__ == "__main__":
    main()
