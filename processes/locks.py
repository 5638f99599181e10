"""The flow lock: one transaction at a time may change a process and its tasks.

viewflow's `lock.select_for_update_lock` takes `SELECT ... FOR UPDATE NOWAIT` and, when the row
is locked, sleeps and retries *inside the same savepoint it caught the error in*. On PostgreSQL
that savepoint is aborted, so the retry (and every later statement of the request) fails with
"current transaction is aborted": two operators claiming one task at the same moment gave the
second a 500 (tests/services/test_tasklist_race.py). This lock waits instead: the second
transaction blocks on the row until the first commits (bounded by `lock_timeout`), then reads
the task as the first left it. A timeout rolls back only the lock's own block (a savepoint when
the caller is in a transaction already) and raises viewflow's FlowLockFailed, which the portal
shows as its busy page (processes/middleware.py).

On PostgreSQL the bounded wait is one round trip: setting `lock_timeout` for the transaction,
the `FOR UPDATE` and setting it back go to the server as one query string. The audit rows the
block writes are inserted together when it ends, in its transaction (processes/audit.py).
"""

from __future__ import annotations

from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction
from viewflow.workflow.exceptions import FlowLockFailed

from processes.audit import audit_batch


class SelectForUpdateLock:
    """Block on the process row (FOR UPDATE) for at most `timeout` seconds."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    @contextmanager
    def __call__(self, flow_class, process_pk):
        # The block's atomic() is the savepoint a timeout rolls back: nothing runs in it before
        # the lock, so no second savepoint is needed around the lock statement.
        with transaction.atomic():
            try:
                self._lock(flow_class.process_class, process_pk)
            except DatabaseError as exc:
                raise FlowLockFailed(f"Lock failed for {flow_class}") from exc
            with audit_batch():
                yield

    def _lock(self, process_class, process_pk) -> None:
        if connection.vendor != "postgresql":
            process_class._default_manager.select_for_update().filter(pk=process_pk).exists()
            return
        meta = process_class._meta
        # Identifiers from the model's own metadata, quoted; the values go as parameters.
        table, column = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)
        lock = f"SELECT 1 FROM {table} WHERE {column} = %s FOR UPDATE"  # noqa: S608
        # Three statements in one string: Django's psycopg cursors bind parameters on the client
        # (OPTIONS server_side_binding off, the default), which sends it as one simple query.
        # Server-side binding would refuse it; tests/services/test_tasklist_race.py would say so.
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT set_config('lock_timeout', %s, true); {lock}; SET LOCAL lock_timeout TO DEFAULT",
                [f"{int(self.timeout * 1000)}ms", process_pk],
            )


select_for_update_lock = SelectForUpdateLock()
