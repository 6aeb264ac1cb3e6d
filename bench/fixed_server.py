"""A minimal HTTP/1.1 keep-alive server on loopback that answers every request with one fixed JSON body.

Run as a script (``python fixed_server.py BODY_FILE``): it binds a free port on 127.0.0.1, prints the
port on stdout, and serves until killed. Plain asyncio, no framework, so the client side dominates.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def response_bytes(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
    )
    return head.encode() + body


class FixedBody(asyncio.Protocol):
    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            self.buffer = self.buffer[total:]
            assert self.transport is not None
            self.transport.write(self.payload)


async def serve(body: bytes) -> None:
    payload = response_bytes(body)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: FixedBody(payload), "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]).read_bytes()))
