"""What several benchmarks share: a free port, a fresh database (migrated) and Redis db, and the
portal server's environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_recreate(database_url: str, redis_url: str) -> None:
    """Drop and create the benchmark's PostgreSQL database, migrate it, and flush its Redis db."""
    import psycopg

    name = urlsplit(database_url).path.strip("/")
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(redis_url).flushdb()


def database_settle() -> None:
    """Settle the benchmark's database before a timed run: VACUUM ANALYZE, then CHECKPOINT. A
    database just created, migrated and filled owes autovacuum and autoanalyze passes (its tables
    grow from nothing, past every threshold) and the full-page images the first change of each
    page writes after a checkpoint: left alone, the first timed run of a bench pays for them and
    the runs after it do not. Needs a superuser (the benchmarks' `root` on loopback)."""
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM runs outside a transaction
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def worker_idle(redis_url: str, queue: str = "celery", timeout: float = 120) -> None:
    """Wait until the Celery workers on the Redis broker at `redis_url` hold no message: `queue`
    is empty (at every priority) and every message taken has been acknowledged. Tasks are acked
    late (once they ran, CELERY_TASK_ACKS_LATE), and what a task sends on its commit is queued
    before its ack, so this is the moment the last job and what it sent are done."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [queue, *(f"{queue}\x06\x16{priority}" for priority in (3, 6, 9))]  # kombu's priority steps
    deadline = time.monotonic() + timeout
    while sum(client.llen(key) for key in keys) or client.hlen("unacked"):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the worker did not go idle within {timeout:.0f} s")
        time.sleep(0.02)


def server_env(database_url: str, redis_url: str, var_dir: Path) -> dict[str, str]:
    """The environment of a benchmark's portal: production settings (DEBUG off) served over plain
    HTTP on loopback, static files from the finders (no collectstatic), warnings only in the log."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "PORTAL_BASE_URL": "http://127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "SECURE_HSTS_SECONDS": "0",
        "STATIC_MANIFEST": "0",
        "STATIC_USE_FINDERS": "1",
        "LOG_LEVEL": "WARNING",
        "PORTAL_VAR_DIR": str(var_dir),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",  # untraced unless a benchmark says otherwise
    }


# The worker's psycopg pool per process, as deploy/systemd/portal.env.example sets it for every
# process of a production install. Without it (0) Django opens a PostgreSQL connection for each
# job and Celery's Django fixup closes it after the job: a connection per message.
WORKER_POOL = os.environ.get("BENCH_WORKER_POOL_MAX_SIZE", "8")


def worker_start(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen:
    """A real `celery -A portal worker -c 2` (prefork, as in production, with the production pool
    setting: WORKER_POOL) in its own process group, with `args` added; returns once its pool has
    started."""
    env = {**env, "DATABASE_POOL_MAX_SIZE": WORKER_POOL}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--concurrency",
            "2",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            *args,
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(6)  # prefork start-up; the first measured tasks would otherwise include it
    return worker


def process_tree_cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` and its children (a server's or a worker's pool)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(child) for child in children.read_text().split()]
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class OtlpSink:
    """A local OTLP/HTTP endpoint that takes the portal's trace batches and drops them, counting
    requests and bytes: traced runs pay for making and sending spans, not for a collector."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        sink = self
        self.batches = 0
        self.bytes = 0
        self._lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a collector answers

            def do_POST(self) -> None:  # http.server's hook name
                size = len(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                with sink._lock:
                    sink.batches += 1
                    sink.bytes += size
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
