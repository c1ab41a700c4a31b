"""The Procfile's processes start as a Heroku-style platform starts them: `bash -c` with PORT set."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker

from tests.conftest import _free_port

pytestmark = pytest.mark.integration  # starts gunicorn and the worker as processes

ROOT = Path(__file__).parent.parent


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


@pytest.fixture
def platform_env(redis_url, real_store):
    venv_bin = str(Path(os.sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{venv_bin}:{os.environ['PATH']}",
        "REDIS_URL": redis_url,
        "MASQ_KEY_PREFIX": real_store.keys.prefix,
        "WEB_CONCURRENCY": "2",
        "MASQ_QUEUE": "masqtest-deploy",
    }


def start(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        env=env,
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def test_the_procfile_names_a_web_and_a_worker_process():
    processes = procfile()

    assert set(processes) == {"web", "worker"}
    assert "$PORT" in processes["web"] and "WEB_CONCURRENCY" in processes["web"]


def test_the_web_process_serves_on_the_platforms_port(platform_env):
    port = _free_port()
    web = start(procfile()["web"], {**platform_env, "PORT": str(port)})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if get(f"http://127.0.0.1:{port}/readyz") == 200:
                    break
            except OSError:
                pass
            assert web.poll() is None and time.monotonic() < deadline, "the web process did not come up"
            time.sleep(0.2)
        assert get(f"http://127.0.0.1:{port}/v1/Account/MA{'0' * 18}/Masking/Session/") == 401
    finally:
        stop(web)


def test_the_worker_process_runs_until_the_platform_stops_it(platform_env, redis_url):
    from tests.test_worker_flows import forget_queue

    worker = start(procfile()["worker"], platform_env)
    try:
        with redis.Redis.from_url(redis_url) as connection:
            queue = Queue(platform_env["MASQ_QUEUE"], connection=connection)
            deadline = time.monotonic() + 30
            while Worker.count(queue=queue) == 0:  # up once RQ has registered it on the queue
                assert worker.poll() is None and time.monotonic() < deadline, "the worker did not come up"
                time.sleep(0.1)
        assert worker.poll() is None
    finally:
        stop(worker)
        forget_queue(redis_url, platform_env["MASQ_QUEUE"])
    assert worker.returncode in (0, -signal.SIGTERM)
