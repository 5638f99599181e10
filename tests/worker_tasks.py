"""Tasks only the tests' workers load (`--include tests.worker_tasks`)."""

from __future__ import annotations

import redis
from celery import shared_task
from django.conf import settings
from django.db import connection


@shared_task(name="tests.backend_pid", ignore_result=True)
def backend_pid(key: str) -> None:
    """Push the PostgreSQL backend this task's connection talks to onto the Redis list `key`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    redis.Redis.from_url(settings.REDIS_URL).rpush(key, pid)
