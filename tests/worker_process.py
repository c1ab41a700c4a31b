"""`masq worker` in a child process, for the tests that run real workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid


class WorkerProcess:
    """`masq worker` in a child process, on the test's Redis and key prefix."""

    def __init__(self, redis_url: str, prefix: str, threads: int = 4, **settings: str) -> None:
        self.threads = threads
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "QUEUE_REDIS_URL": redis_url,
            "MASQ_KEY_PREFIX": prefix,
            "MASQ_QUEUE": f"masqtest-{uuid.uuid4().hex[:8]}",
            "MASQ_ALLOW_PRIVATE_CALLBACKS": "1",
            "MASQ_CALLBACK_BACKOFF": "1,1,1,1,1,1,1,1",
            "MASQ_CALLBACK_CLAIM_IDLE_MS": "700",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        # A session of its own: RQ's scheduler runs in a child process, which a kill must take down too.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.audited_masq", "worker", "--threads", str(self.threads)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever of the worker's group is still there
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)


def forget_queue(redis_url: str, queue: str) -> None:
    """Delete the RQ keys named after a test's own queue (its registries and worker sets), and its entry in RQ's set
    of queues."""
    import redis

    with redis.Redis.from_url(redis_url) as client:
        for key in client.scan_iter(match=f"rq:*{queue}*", count=1000):
            client.delete(key)
        client.srem("rq:queues", f"rq:queue:{queue}")
