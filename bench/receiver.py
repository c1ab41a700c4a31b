"""A fast loopback receiver for tenant callbacks: HTTP/1.1 keep-alive, answers 200 with an empty body.

`python -m bench.receiver PORT` serves until it is stopped. `GET /_count` answers how many callbacks have
arrived so far (the bench's check that every event was delivered once). http.server would be the
bottleneck; an asyncio protocol is not.
"""

from __future__ import annotations

import asyncio
import re
import sys

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
received = 0


class Callbacks(asyncio.Protocol):
    """One client connection: read requests (head, then Content-Length bytes of body) and answer each."""

    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        global received
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            found = CONTENT_LENGTH.search(self.buffer, 0, end + 2)
            total = end + 4 + (int(found.group(1)) if found else 0)
            if len(self.buffer) < total:
                return
            request_line = self.buffer[: self.buffer.find(b"\r\n")]
            self.buffer = self.buffer[total:]
            assert self.transport is not None
            if request_line.startswith(b"GET /_count "):
                body = str(received).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                received += 1
                self.transport.write(OK)


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until cancelled."""
    server = await asyncio.get_running_loop().create_server(Callbacks, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
