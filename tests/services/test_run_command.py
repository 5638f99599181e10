"""`make run`, the README's run command, as a user runs it: embedded defaults and PostgreSQL + Redis."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import psycopg
import pytest
import redis

from processes.management.commands.demo_data import DEMO_PASSWORD, USERS
from tests.stack import ROOT, free_port, wait_for

pytestmark = pytest.mark.services

# Separate from the test database and Redis db, and named after them, so parallel runs never collide.
SMOKE_DATABASE = urlsplit(os.environ.get("DATABASE_URL", "postgres:///portal")).path.strip("/") + "_run_smoke"
SMOKE_REDIS_URL = os.environ.get("PORTAL_SMOKE_REDIS_URL", "redis://127.0.0.1:6379/14")


def _env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PORTAL_VAR_DIR=str(var_dir),
        WEB_PORT=str(port),
        PORTAL_BASE_URL=f"http://127.0.0.1:{port}",
        WEBHOOK_RECEIVER_PORT=str(free_port()),  # the demo's webhook receiver (Procfile.dev)
        **extra,
    )
    return env


def _status(url: str) -> int:
    try:
        with urlopen(url, timeout=5) as response:  # noqa: S310 - our own server on loopback
            return response.status
    except OSError:
        return 0


def _fresh_postgres_database() -> str:
    with psycopg.connect("postgresql://root@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {SMOKE_DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {SMOKE_DATABASE}")
    return f"postgres://root@127.0.0.1:5432/{SMOKE_DATABASE}"


def _fresh_redis(url: str) -> str:
    redis.Redis.from_url(url).flushdb()
    return url


def _purchase_orders(env: dict[str, str]) -> int:
    return _count(
        env, "from processes.purchase.models import PurchaseOrder; print(PurchaseOrder.objects.count())"
    )


def _delivered_orders(env: dict[str, str]) -> int:
    return _count(
        env,
        "from processes.orders.models import OrderProcess; print(OrderProcess.objects.filter(delivery='delivered').count())",
    )


def _count(env: dict[str, str], code: str) -> int:
    result = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**env, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.strip().splitlines()  # the shell may print a banner first
    return int(lines[-1]) if lines else -1


@pytest.mark.parametrize("backend", ["embedded", "postgres+redis"])
def test_make_run_serves_the_demo_and_stops_cleanly_on_ctrl_c(tmp_path, backend):
    port = free_port()
    extra = {}
    if backend == "postgres+redis":
        extra = {
            "DATABASE_URL": _fresh_postgres_database(),
            "REDIS_URL": _fresh_redis(SMOKE_REDIS_URL),
        }
    env = _env(tmp_path / "var", port, CARRIER_DELIVERY_DELAY="1", **extra)
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        run = subprocess.Popen(
            ["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: run.poll() is not None or _status(f"{base}/readyz") == 200,  # served, or make gave up
            timeout=120,
            what="make run to serve /readyz",
        )
        assert run.poll() is None, log_path.read_text()
        output = log_path.read_text()
        assert f"Approvals Portal  {base}/" in output
        logins = ", ".join(name for name, *_ in USERS)
        assert f"demo logins       {logins} (password: {DEMO_PASSWORD})" in output
        assert _status(f"{base}/accounts/login/") == 200
        # The demo's approved request is finished by the worker through the broker.
        wait_for(lambda: _purchase_orders(env) == 1, timeout=60, what="the worker to create the demo order")
        assert '"event": "job.done"' in log_path.read_text()
        # The demo's completed order waits for its carrier, whose signed callback comes over HTTP.
        wait_for(lambda: _delivered_orders(env) == 1, timeout=60, what="the carrier's callback")
    finally:
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: the foreground group
        run.wait(timeout=60)

    output = log_path.read_text()
    for name in ("web", "worker", "beat"):
        assert f"system | {name} stopped" in output, output[-3000:]
    assert "killing it" not in output
    assert "worker stopped (exit 0)" in output
    assert _status(f"{base}/healthz") == 0

    # Loading the demo data again changes nothing.
    again = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "demo_data"],
        cwd=ROOT,
        env={**env, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    assert "demo request:" not in again.stdout
    assert _purchase_orders(env) == 1
