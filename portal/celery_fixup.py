"""Celery's Django fixup, with a worker that keeps its PostgreSQL connection pool between tasks.

Celery 5.7 closes every connection *and* Django's psycopg pool before and after each task in a
prefork child (celery#10554, still open), so a pooled worker opened a new PostgreSQL connection
for every message: a backend forked and authenticated, then torn down, per task. That was 7 % of
a job chain's wall time in bench/order_to_cash.py (docs/benchmarks.md, 2026-12-05, eighth
session).

Here, between tasks, each connection is handed back the way Django hands it back after a
request (`close_old_connections`): a connection that saw an error and no longer answers, or one
past `CONN_MAX_AGE`, is closed; a pooled one goes back to its pool, which drops it if it is
broken. Without a pool (`DATABASE_POOL_MAX_SIZE=0`) `CONN_MAX_AGE` is 0, so every task still gets
a fresh connection, as before. What Celery does at a child's start is kept: the connections and
pool inherited from the parent are closed there, unused. A child closes its pool when it exits
(portal/celery.py).
"""

from __future__ import annotations

import os
from typing import Any

from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from django.db import close_old_connections, connections


class PooledWorkerFixup(DjangoWorkerFixup):
    """The per-task hooks give connections back (to the pool) instead of closing the pool."""

    def close_database(self, **kwargs: Any) -> None:
        close_old_connections()


class PooledFixup(DjangoFixup):
    """Celery's Django fixup with PooledWorkerFixup as its worker half, made when first needed
    (the worker's own reads the app's configuration, which is not loaded yet at fixup time)."""

    _worker_fixup: DjangoWorkerFixup | None

    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:
            self._worker_fixup = PooledWorkerFixup(self.app)
        return self._worker_fixup

    @worker_fixup.setter
    def worker_fixup(self, value: DjangoWorkerFixup) -> None:
        self._worker_fixup = value


def fixup(app: Any) -> DjangoFixup | None:
    """What `celery.fixups.django:fixup` does for an app whose Django settings are named."""
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return None
    return PooledFixup(app).install()


def pools_close() -> None:
    """A worker child exits: give its connections back and close its pools (their threads end)."""
    for conn in connections.all(initialized_only=True):
        conn.close()
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()
