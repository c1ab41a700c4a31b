"""A fast loopback receiver for tenant callbacks: HTTP/1.1 keep-alive, answers 200 with an empty body.

`python -m bench.receiver PORT [DELAY]` serves until it is stopped, answering each callback DELAY seconds after it
arrived (0: at once). `GET /_count` answers how many callbacks have arrived so far (the bench's check that every
event was delivered once); `GET /_latencies` the ms from each callback's `BenchWrittenUs` field (when its event was
written) to its arrival, comma-separated. http.server would be the bottleneck; an asyncio protocol is not.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
WRITTEN = re.compile(rb"BenchWrittenUs=(\d+)")
received = 0
latencies: list[float] = []
delay = 0.0


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
            request, self.buffer = self.buffer[:total], self.buffer[total:]
            request_line = request[: request.find(b"\r\n")]
            assert self.transport is not None
            if request_line.startswith(b"GET /_count "):
                self._answer(str(received).encode())
            elif request_line.startswith(b"GET /_latencies "):
                self._answer(",".join(f"{ms:.1f}" for ms in latencies).encode())
            else:
                received += 1
                written = WRITTEN.search(request)
                if written:
                    latencies.append(time.time() * 1000 - int(written.group(1)) / 1000)
                if delay:
                    asyncio.get_running_loop().call_later(delay, self._ok)
                else:
                    self.transport.write(OK)

    def _answer(self, body: bytes) -> None:
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def _ok(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(OK)


async def serve(port: int) -> None:
    """Serve on 127.0.0.1:`port` until cancelled."""
    server = await asyncio.get_running_loop().create_server(Callbacks, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    asyncio.run(serve(int(sys.argv[1])))
