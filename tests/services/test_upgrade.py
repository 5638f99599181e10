"""Upgrade: a database made by the old code upgrades with `migrate` and keeps working (issue 12).

The old code is a pinned commit, materialised from git into a temporary folder and run with the
same virtualenv. On a fresh database it migrates, then tests/upgrade/old_scenario.py builds live
state with the old services: requests waiting at each kind of step, armed escalation timers, a
job whose message waits in the broker, a delivered escalation email with action links, an order
in fraud review. The tree under test then migrates the same database, and
tests/upgrade/new_checks.py checks, first with no worker running ("state"), that every process,
task, reference, task list row, permission and queued message is still there and means what it
meant, then, with a real worker of the new code ("act"), that the queued job runs, the armed
timers fire, the emailed links act, and people go on deciding.

While the code is the same on both sides the upgrade is a no-op; once processes/purchase and
processes/orders are apps of their own, this is the proof that running processes survive it.
Move UPGRADE_BASE only to a commit that databases in the field were really made by.

Two variants: SQLite with the embedded broker (what `make run` uses), and PostgreSQL with a
private redis-server as broker, cache and channel layer. Both start a real Celery worker, so
both are service-backed (PORTAL_TEST_SERVICES=1), like everything under tests/services.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.stack import PrivateRedis, start_worker

pytestmark = pytest.mark.services

# The main before the split of issue 12.
UPGRADE_BASE = "b40e82d"

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "tests" / "upgrade"
STEP_TIMEOUT = 120  # seconds for one migrate or script run


def _git(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        pytest.fail("The upgrade test needs git: install it (apt-get install -y git)")


def _materialise_old_code(dest: Path) -> Path:
    """The tree of UPGRADE_BASE in `dest` (git archive: no worktree to unregister afterwards).

    Fails (never skips) without the history: CI runs from a full git clone."""
    found = _git("rev-parse", "--verify", "--quiet", f"{UPGRADE_BASE}^{{commit}}")
    if found.returncode != 0:
        pytest.fail(
            f"The upgrade test needs the git history: {ROOT} is not a git checkout, or it lacks "
            f"commit {UPGRADE_BASE} (a shallow clone: run `git fetch --unshallow`). "
            f"{found.stderr.decode().strip()}"
        )
    archive = _git("archive", "--format=tar", found.stdout.decode().strip())
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture
def old_code(tmp_path: Path) -> Iterator[Path]:
    """Where the old code goes (the test puts it there); removed afterwards."""
    dest = tmp_path / "old"
    yield dest
    shutil.rmtree(dest, ignore_errors=True)


def _base_env(var_dir: Path) -> dict[str, str]:
    """Production-like settings for the old and the new code alike; everything under `var_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_ALLOW", "PYTHONPATH"))}
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        # The product as it ships: without the test suite's own process (tests/plugins/expense).
        PORTAL_EXTRA_APPS="",
        PORTAL_VAR_DIR=str(var_dir),
        DEBUG="0",
        PORTAL_BASE_URL="http://testserver",  # the links in the email are the Client's URLs
        ALLOWED_HOSTS="testserver,localhost,127.0.0.1",
        CSRF_TRUSTED_ORIGINS="http://testserver",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        STATIC_MANIFEST="0",
        STATIC_USE_FINDERS="1",
        EMAIL_URL="",  # the file backend, in var_dir/mail: the scenario reads the links there
        CELERY_BROKER_URL="",  # derived: REDIS_URL, or the embedded SQLite broker in var_dir
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(params=["sqlite", "postgresql"])
def upgrade_env(request, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of every process of one upgrade: a fresh database and broker of its own."""
    env = _base_env(tmp_path / "var")
    if request.param == "sqlite":  # the embedded defaults: database, broker and cache in var/
        env.update(DATABASE_URL="", REDIS_URL="")
        yield env
        return
    import psycopg
    from psycopg import sql

    server = urlsplit(os.environ["DATABASE_URL"])
    name = f"portal_upgrade_{secrets.token_hex(4)}"
    admin = server._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    broker = PrivateRedis()  # broker, cache and channel layer: no other run shares its queue
    broker.start()
    env.update(DATABASE_URL=server._replace(path=f"/{name}").geturl(), REDIS_URL=broker.url)
    try:
        yield env
    finally:
        broker.stop()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _run(argv: list[str], *, cwd: Path, env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    print(f"{what}: {time.monotonic() - started:.1f}s")
    return result


def _checks(phase: str, old_json: Path, env: dict[str, str]) -> dict:
    """Run one phase of tests/upgrade/new_checks.py with the tree under test; its report."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "new_checks.py"), phase, str(old_json)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT + 60,
        check=False,
    )
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        pytest.fail(
            f"new checks ({phase}) crashed ({result.returncode}):\n{result.stdout}\n{result.stderr[-8000:]}"
        )
    report["stderr"] = result.stderr
    print(
        f"new checks ({phase}): {time.monotonic() - started:.1f}s, {len(report['passed'])} passed, "
        f"{len(report['failed'])} failed; facts: {json.dumps(report['facts'])}"
    )
    return report


def _failures(report: dict) -> str:
    return "\n".join(f"[{report['phase']}] {f['check']}: {f['detail']}" for f in report["failed"])


def test_a_database_of_the_old_code_upgrades_and_keeps_working(old_code, upgrade_env, request):
    _materialise_old_code(old_code)
    python = sys.executable
    var_dir = Path(upgrade_env["PORTAL_VAR_DIR"])
    old_json = var_dir / "old-scenario.json"

    _run([python, "manage.py", "migrate", "--no-input"], cwd=old_code, env=upgrade_env, what="old migrate")
    _run(
        [python, str(SCRIPTS / "old_scenario.py"), str(old_json)],
        cwd=old_code,
        env=upgrade_env,
        what="old scenario",
    )
    old = json.loads(old_json.read_text())
    assert old["code"] == str(old_code.resolve())

    migrated = _run(
        [python, "manage.py", "migrate", "--no-input"], cwd=ROOT, env=upgrade_env, what="new migrate"
    )
    print(migrated.stdout)

    state = _checks("state", old_json, upgrade_env)
    variant = request.node.callspec.id
    worker = start_worker(f"upgrade-worker-{variant}", {**upgrade_env, "LOG_LEVEL": "INFO"})
    try:
        act = _checks("act", old_json, upgrade_env)
    finally:
        worker.stop()
    log = worker.log_path.read_text()

    failures = "\n".join(filter(None, [_failures(state), _failures(act)]))
    assert not failures, f"{failures}\n\nworker log: {worker.log_path}\n{act['stderr'][-4000:]}"
    assert len(state["passed"]) > 100, state["passed"]  # the snapshot was really compared
    # The job ran from the message the old code queued, not from a re-send.
    job_done = [line for line in log.splitlines() if '"event": "job.done"' in line]
    assert any(f'"task_ref": "{old["job"]["ref"]}"' in line for line in job_done), job_done
    for trouble in ('"event": "job.attempt_failed"', '"level": "error"', "Traceback"):
        assert trouble not in log, f"{trouble} in the worker log {worker.log_path}"
