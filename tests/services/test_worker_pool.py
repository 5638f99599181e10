"""A prefork worker keeps its PostgreSQL connection between tasks (portal/celery_fixup.py), and a
connection the database dropped meanwhile costs no task: the pool checks it out checked."""

from __future__ import annotations

import secrets

import pytest
import redis
from django.conf import settings
from django.db import connection

from tests.stack import start_worker
from tests.worker_tasks import backend_pid

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

QUEUE = "worker-pool-test"  # the session's worker never takes these


def _pid_of_next_task(key: str) -> int:
    backend_pid.apply_async(args=[key], queue=QUEUE)
    popped = redis.Redis.from_url(settings.REDIS_URL).blpop([key], timeout=30)
    assert popped is not None, "the worker ran no task within 30 s"
    return int(popped[1])


def _alive(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone()[0] == 1


def test_a_pooled_worker_reuses_its_connection_and_survives_a_dropped_one(stack_env):
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's")
    env = {**stack_env, "DATABASE_POOL_MAX_SIZE": "1"}  # one connection: its pid, every time
    key = f"pids-{secrets.token_hex(4)}"
    worker = start_worker(
        "worker-pool", env, concurrency=1, args=("-Q", QUEUE, "--include", "tests.worker_tasks")
    )
    try:
        pids = [_pid_of_next_task(key) for _ in range(4)]
        assert len(set(pids)) == 1, f"a new connection per task: {pids}"

        # The database drops the worker's connection between two tasks (a restart, an admin's
        # pg_terminate_backend): the next task gets a fresh one, and runs.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
        fresh = _pid_of_next_task(key)
        assert fresh != pids[0]
        assert _pid_of_next_task(key) == fresh
        assert "Traceback" not in worker.output()
    finally:
        worker.stop()
    assert not _alive(fresh), "the child's pool stayed open past its exit"
