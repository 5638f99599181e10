"""The real stack for service-backed tests: uvicorn and a Celery worker as subprocesses.

Both run against the test database pytest-django created (PostgreSQL) and Redis, so tests that
use them write committed data (`transactional_db`) and wait for the worker like a user would.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from portal.cluster import free_port
from portal.devstack import metrics_dir_reset

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = ROOT / "var" / "test" / "logs"


def beat_argv(schedule: str) -> list[str]:
    """`celery -A portal beat` with its schedule file at `schedule`."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        schedule,
    ]


LOG = logging.getLogger(__name__)
FLUSH_ATTEMPTS = 5


def deadlocked(exc: BaseException | None) -> bool:
    """Whether PostgreSQL aborted `exc`'s statement as a deadlock's victim (SQLSTATE 40P01),
    however many layers (CommandError, Django's OperationalError) wrap psycopg's error."""
    while exc is not None:
        if getattr(exc, "sqlstate", None) == "40P01":
            return True
        exc = exc.__cause__
    return False


@pytest.fixture(scope="session", autouse=True)
def _flush_retried_on_deadlock() -> Iterator[None]:
    """pytest-django empties the database after each transactional test with one TRUNCATE of
    every table, which locks them one by one. The live server and the workers outlive the test
    and go on reading (a live page's refresh, a sweep); a read of two tables locks them one by one
    too, so the two can deadlock. When PostgreSQL picks the TRUNCATE as the victim, the flush
    fails and the next test starts on this one's rows. The TRUNCATE runs in a transaction that
    rolled back whole, so it is tried again; any other failure is raised at once."""
    from django.core.management.base import CommandError
    from django.core.management.commands.flush import Command

    handle = Command.handle

    def retried(self, **options):
        for attempt in range(1, FLUSH_ATTEMPTS):
            try:
                return handle(self, **options)
            except CommandError as exc:
                if not deadlocked(exc):
                    raise
                LOG.warning("the flush deadlocked with a live process (attempt %d); trying again", attempt)
                time.sleep(0.2 * attempt)
        return handle(self, **options)  # the last attempt: its failure is the test run's

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Command, "handle", retried)
        yield


def wait_for(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.2, what: str = ""
) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def answers(url: str) -> bool:
    """Whether the portal at `url` is up and ready (its /readyz answers 200)."""
    try:
        with urlopen(f"{url}/readyz", timeout=5) as response:  # noqa: S310 - our own server
            return response.status == 200
    except OSError:
        return False


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    user = db.get("USER") or "root"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return (
        f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )


class Service:
    """A subprocess with its output in a log file; stopped with SIGTERM, like `make run` does."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name, self.argv, self.env = name, argv, env
        self.log_path = LOG_DIR / f"{name}.log"
        self.log = self.log_path.open("w")
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        # Its own process group, so kill() takes the whole worker (pool children included).
        return subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the process and its children at once, like an OOM kill or a pulled plug."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self, ready: Callable[[], bool], what: str) -> None:
        self.log.write(f"\n----- {self.name} restarted -----\n")
        self.log.flush()
        self.process = self._spawn()
        self.wait_until(ready, what=what)

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Wait for `ready()`, failing at once (with the log) if the process exits meanwhile."""

        def check() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.output()}")
            return ready()

        wait_for(check, timeout=timeout, what=what)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on a free port, keeping every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.messages: list[bytes] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's hook name
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def wait_for_message(self, predicate: Callable[[bytes], bool], timeout: float = 30) -> bytes:
        return wait_for(
            lambda: next((m for m in self.messages if predicate(m)), None), timeout=timeout, what="an email"
        )


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """The session's SMTP server; the live web server and worker send their email to it."""
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="session")
def stack_env(django_db_setup, django_db_blocker, smtp_sink) -> dict[str, str]:
    """The environment of the live processes: the test database, Redis, production-like settings."""
    import redis
    from django.conf import settings

    redis.Redis.from_url(settings.REDIS_URL).flushdb()  # no message from an earlier run survives
    if settings.CELERY_BROKER_URL.startswith("amqp://"):  # the broker matrix's RabbitMQ pass
        from portal.celery import app

        app.control.purge()
    with django_db_blocker.unblock():
        database_url = _test_database_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=settings.REDIS_URL,
        PORTAL_VAR_DIR=str(ROOT / "var" / "test" / "live"),
        LOG_LEVEL="INFO",
        JOB_STUCK_AFTER_SECONDS="5",
        # Every live worker retries webhooks fast, not only tests/services/test_webhooks_live.py's:
        # a worker of the session may take a delivery's message, and must not push its next
        # attempt 30 s (then 2 min) away.
        WEBHOOK_RETRY_BASE_SECONDS="1",
        WEBHOOK_RETRY_MAX_SECONDS="2",
        WEBHOOK_SWEEP_INTERVAL="1",
        PYTHONUNBUFFERED="1",
        EMAIL_URL=smtp_sink.url,
        # The live suites send bursts (schemathesis, with bad tokens among them); the API's rate
        # limits have their own tests.
        API_RATE_LIMIT="0",
        API_AUTH_FAILURE_LIMIT="0",
    )
    # The live server's address, known before it starts: workers post the fake carrier's
    # callbacks to it (processes/connectors), a second after a shipment is booked.
    url = f"http://127.0.0.1:{free_port()}"
    env.update(PORTAL_BASE_URL=url, CSRF_TRUSTED_ORIGINS=url, CARRIER_DELIVERY_DELAY="1")
    # The live server and workers count in one emptied directory; its /metrics sums them.
    return metrics_dir_reset(env)


@pytest.fixture(scope="session")
def live_server_url(stack_env) -> Iterator[str]:
    """uvicorn serving portal.asgi, as in production (HTTP and websockets)."""
    url = stack_env["PORTAL_BASE_URL"]
    port = int(url.rsplit(":", 1)[1])
    env = stack_env
    web = Service(
        "web",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.live_asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        env,
    )

    web.wait_until(lambda: answers(url), what="uvicorn /readyz")
    yield url
    web.stop()


@pytest.fixture
def carrier(stack_env, live_server_url, transactional_db):
    """The fake carrier's API client (webhooks:receive, a signing key), with its token where the
    workers' fake carrier reads it (the live var dir), as `demo_data` makes it: (client, token)."""
    from datetime import timedelta

    from processes.api.keys import signing_key_rotate
    from processes.api.services import api_client_create

    client, token = api_client_create(name="carrier", scopes=["webhooks:receive"])
    signing_key_rotate(client=client, overlap=timedelta(0))
    var_dir = Path(stack_env["PORTAL_VAR_DIR"])
    var_dir.mkdir(parents=True, exist_ok=True)
    (var_dir / "carrier-token").write_text(token)
    return client, token


def start_worker(name: str, env: dict[str, str], concurrency: int = 2, args: tuple[str, ...] = ()) -> Service:
    """A real `celery -A portal worker` (prefork) as a subprocess, with `args` added, returned
    once it is ready."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
        "--hostname",
        f"{name}@%h",
        *args,
    ]
    worker = Service(name, argv, env)
    worker.wait_until(lambda: " ready." in worker.output(), what=f"the Celery worker {name}")
    return worker


@pytest.fixture(scope="session")
def celery_worker_process(stack_env) -> Iterator[Service]:
    """The session's worker (2 processes) consuming from the test Redis."""
    worker = start_worker("worker", stack_env)
    yield worker
    worker.stop()


class PrivateRedis:
    """A redis-server of the test's own on a free port: a broker no other test run can share."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        wait_for(self.answers, timeout=15, what="the private redis-server")

    def answers(self) -> bool:
        import redis

        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.RedisError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


RABBITMQ_URL = os.environ.get("PORTAL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")


class PrivateVhost:
    """A virtual host of the test's own on the shared RabbitMQ (created with rabbitmqctl): its
    queues are nobody else's, and deleting it removes them. With `proxied`, the URL goes through
    a TcpProxy the test can cut, as a broker going down would, leaving the shared one alone."""

    def __init__(self, proxied: bool = False) -> None:
        from tests.tcpproxy import TcpProxy

        self.name = f"portal_test_{os.getpid()}_{free_port()}"
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        parts = urlsplit(RABBITMQ_URL)
        self.proxy = None
        netloc = parts.netloc
        if proxied:
            self.proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
            self.proxy.start()
            netloc = netloc.rsplit("@", 1)[0] + f"@127.0.0.1:{self.proxy.port}"
        self.url = f"{parts.scheme}://{netloc}/{self.name}"

    @staticmethod
    def _ctl(*args: str) -> None:
        subprocess.run(
            [shutil.which("rabbitmqctl") or "rabbitmqctl", "-q", *args], check=True, capture_output=True
        )

    def delete(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        self._ctl("delete_vhost", self.name)


def unreachable_broker_url() -> str:
    """A URL of the current broker's kind where nothing listens: publishing is refused at once."""
    from django.conf import settings

    if settings.CELERY_BROKER_URL.startswith("amqp://"):
        return "amqp://guest:guest@127.0.0.1:1//"
    return "redis://127.0.0.1:1/0"


@contextlib.contextmanager
def publisher(url: str):
    """Publish this process's Celery messages to `url`, with fresh connection pools."""
    from kombu import pools

    from portal.celery import app

    def reset():
        pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    good_url, good_options = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = url
    if url.startswith("sqla+"):  # as in settings: that transport passes options to create_engine
        app.conf.broker_transport_options = {"max_retries": 2}
    reset()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = good_url, good_options
        reset()


@pytest.fixture
def beat_process(stack_env, celery_worker_process):
    """A real `celery -A portal beat`, sending the timer sweep every second to the worker."""
    schedule = stack_env["PORTAL_VAR_DIR"] + "/celerybeat-schedule-escalation"
    beat = Service("beat", beat_argv(schedule), stack_env)
    beat.wait_until(lambda: "maxinterval" in beat.output(), what="beat")  # its banner's last line
    yield beat
    beat.stop()


def session_cookie(user) -> str:
    """A logged-in session of `user` in the database, as the login view leaves it, as the
    `Cookie` header's `name=key` (for clients that are not Django's test client)."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"
