"""A real broker and a real Celery worker for integration tests.

Each test that asks for `broker` gets its own redis-server on a free port, which the test
may stop and start again (a broker outage); `worker` runs `celery worker` in a subprocess
against that broker and the test database (file SQLite or PostgreSQL), so tests using it
need committed data (`transactional_db`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from grievances.outbox import kicker
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, step: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class RedisServer:
    def __init__(self, tmp: Path):
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.answers, 10, what="redis-server to answer")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        wait_for(lambda: not self.answers(), 10, what="redis-server to stop")


@pytest.fixture
def broker(tmp_path, settings):
    """A private redis-server, with the in-process Celery app publishing to it."""
    if not shutil.which("redis-server"):
        _missing("needs redis-server (Debian package redis-server) for a stoppable broker")
    server = RedisServer(tmp_path)
    server.start()
    previous = celery_app.conf.broker_url
    _point_celery_at(server.url)
    kicker.reset()
    yield server
    server.stop()
    _point_celery_at(previous)
    kicker.reset()


def _point_celery_at(url: str) -> None:
    celery_app.pool.force_close_all()
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = {
        "socket_connect_timeout": 1,
        "socket_timeout": 2,
    }
    # Drop the cached connection pools so the next publish connects to the new URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class Worker:
    def __init__(self, broker: RedisServer, log: Path):
        self.broker = broker
        self.log_path = log
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        db = connection.settings_dict
        if connection.vendor == "sqlite":
            database_url = f"sqlite:///{db['NAME']}"
        else:
            database_url = (
                f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
                f"{db['PORT'] or 5432}/{db['NAME']}"
            )
        env = dict(os.environ)
        env.update(
            DATABASE_URL=database_url,
            REDIS_URL=self.broker.url,
            DJANGO_SETTINGS_MODULE="config.settings",
            FENGQIAO_VAR_DIR=str(self.log_path.parent / "worker-var"),
            PYTHONUNBUFFERED="1",
            # As in the test process (tests/conftest.py): tests run at any hour, and the
            # complainants' messages must not wait for the morning.
            NOTIFY_QUIET_HOURS="",
        )
        return env

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: b"ready" in self.log_path.read_bytes() or self.proc.poll() is not None,
            60,
            what="the Celery worker to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError("worker died:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        """Kill -9: the worker dies mid-task, nothing acknowledged."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def worker(broker, transactional_db, tmp_path):
    w = Worker(broker, tmp_path / "worker.log")
    w.start()
    yield w
    w.stop()


class Beat(Worker):
    """celery beat with the sweeps every second, against the same broker and database."""

    def env(self) -> dict:
        return {**super().env(), "FENGQIAO_SWEEP_SECONDS": "1"}

    def start(self) -> None:
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
            cwd=ROOT,
            env=self.env(),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: b"beat: Starting" in self.log_path.read_bytes() or self.proc.poll() is not None,
            60,
            what="celery beat to start",
        )
        if self.proc.poll() is not None:
            raise AssertionError("beat died:\n" + self.log_path.read_text()[-3000:])


@pytest.fixture
def beat(broker, transactional_db, tmp_path):
    b = Beat(broker, tmp_path / "beat.log")
    b.start()
    yield b
    b.stop()


__all__ = ["settings", "wait_for"]
