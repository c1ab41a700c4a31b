"""A send has a deadline in all and reads a bounded body: an endpoint that drips or floods cannot hold a thread."""

import socket
import threading
import time

import pytest

from workers.callback_http import BODY_MOST, Delivery, callback_session, send


class RawServer:
    """A loopback server that reads one request and then runs `answer(connection)`; records how the client left."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.released = threading.Event()
        self.client_left = threading.Event()
        self.sent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/callbacks"

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection:
            connection.recv(65536)
            try:
                self.answer(self, connection)
            except OSError:
                self.client_left.set()

    def stop(self) -> None:
        self.released.set()
        self._listener.close()


def drip(server: RawServer, connection: socket.socket) -> None:
    """Answer a byte every 0.1 s (each read gets something, well within the read timeout) until released."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
    while not server.released.wait(0.1):
        connection.sendall(b"X")


def flood(server: RawServer, connection: socket.socket) -> None:
    """Answer 200 with a 50 MB body, sent until the client stops reading it."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")
    chunk = bytes(65536)
    while server.sent < 52428800:
        connection.sendall(chunk)
        server.sent += len(chunk)


@pytest.fixture
def raw_server():
    made = []

    def start(answer) -> RawServer:
        made.append(RawServer(answer))
        return made[-1]

    yield start
    for server in made:
        server.stop()


def delivery(url: str) -> Delivery:
    return Delivery(url, "POST", {"Event": "x"}, "token", "key-1")


def test_an_endpoint_that_drips_its_answer_is_cut_off_at_the_deadline_and_retried(raw_server):
    server = raw_server(drip)
    began = time.monotonic()

    outcome = send(callback_session(), delivery(server.url), allow_private=True, deadline=1.0)

    took = time.monotonic() - began
    assert not outcome.delivered and outcome.retry and "within 1 s" in outcome.error
    assert took < 10  # the read timeout (10 s) never fired: each read got a byte; the deadline ended it
    assert server.client_left.wait(30)


def test_a_huge_answer_body_is_not_read_and_its_connection_is_closed(raw_server):
    server = raw_server(flood)

    outcome = send(callback_session(), delivery(server.url), allow_private=True)

    assert outcome.delivered and outcome.status == 200  # only the status counts
    assert server.client_left.wait(30)  # the client closed the connection mid-body
    assert server.sent < 52428800 and BODY_MOST < 52428800
