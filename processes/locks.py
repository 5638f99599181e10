"""The flow lock: one transaction at a time may change a process and its tasks.

viewflow's `lock.select_for_update_lock` takes `SELECT ... FOR UPDATE NOWAIT` and, when the row
is locked, sleeps and retries *inside the same savepoint it caught the error in*. On PostgreSQL
that savepoint is aborted, so the retry (and every later statement of the request) fails with
"current transaction is aborted": two operators claiming one task at the same moment gave the
second a 500 (tests/services/test_tasklist_race.py). This lock waits instead: the second
transaction blocks on the row until the first commits (bounded by `lock_timeout`), then reads
the task as the first left it. A timeout rolls back only its own savepoint and raises viewflow's
FlowLockFailed, which the portal shows as its busy page (processes/middleware.py).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from viewflow.workflow.exceptions import FlowLockFailed


class SelectForUpdateLock:
    """Block on the process row (FOR UPDATE) for at most `timeout` seconds."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    @contextmanager
    def __call__(self, flow_class, process_pk):
        with transaction.atomic():
            try:
                with transaction.atomic():  # a savepoint: a timeout rolls back only this
                    postgresql = connection.vendor == "postgresql"
                    if postgresql:
                        with connection.cursor() as cursor:
                            cursor.execute(
                                "SELECT set_config('lock_timeout', %s, true)",
                                [f"{int(self.timeout * 1000)}ms"],
                            )
                    flow_class.process_class._default_manager.select_for_update().filter(
                        pk=process_pk
                    ).exists()
                    if postgresql:
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL lock_timeout TO DEFAULT")
            except DatabaseError as exc:
                raise FlowLockFailed(f"Lock failed for {flow_class}") from exc
            yield


select_for_update_lock = SelectForUpdateLock()
