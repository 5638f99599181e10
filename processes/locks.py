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

import _thread
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.lock import lock_scope

from processes.audit import audit_batch


class SelectForUpdateLock:
    """Block on the process row (FOR UPDATE) for at most `timeout` seconds."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    @contextmanager
    def __call__(self, flow_class, process_pk):
        with self._locked(flow_class, process_pk, ()):
            yield

    def reading(self, reads: Sequence[BoundRead], into: list[list[Any]]) -> Callable[[Any, Any], Any]:
        """This lock as a `lock_impl` that also runs `reads` under it, into `into` (a list of
        instances per read): on PostgreSQL in the lock's own round trip. For viewflow's
        `lock.lock_scope(lock.reading(...), flow_class, process_pk)`."""

        @contextmanager
        def locked(flow_class, process_pk):
            with self._locked(flow_class, process_pk, reads) as rows:
                into[:] = rows
                yield

        return locked

    @contextmanager
    def _locked(self, flow_class, process_pk, reads: Sequence[BoundRead]) -> Iterator[list[list[Any]]]:
        # The block's atomic() is the savepoint a timeout rolls back: nothing runs in it before
        # the lock, so no second savepoint is needed around the lock statement. Inside a
        # transaction on PostgreSQL that savepoint is opened in the lock's own round trip instead,
        # and left to the commit when the block succeeds (Django would release it in one more):
        # two statements of each lock. Django's atomic() keeps the rest of its rules: it is the
        # block, and the savepoint is its own for a rollback (the block raises, or a statement in
        # it failed), with on_commit callbacks and audit rows dropped as for any (ADR 0026).
        fused = (
            connection.vendor == "postgresql" and connection.in_atomic_block and not connection.needs_rollback
        )
        with transaction.atomic(savepoint=not fused):
            sid = None
            ids: list[str | None] = connection.savepoint_ids  # type: ignore[assignment]  # None: none
            if fused:
                sid = ids[-1] = _savepoint_name()
            try:
                rows = self._lock(flow_class.process_class, process_pk, reads, savepoint=sid)
            except DatabaseError as exc:
                raise FlowLockFailed(f"Lock failed for {flow_class}") from exc
            with audit_batch():
                yield rows
            if sid is not None and not connection.needs_rollback:
                ids[-1] = None  # done: nothing to release before the commit

    def _lock(
        self, process_class, process_pk, reads: Sequence[BoundRead], savepoint: str | None = None
    ) -> list[list[Any]]:
        if connection.vendor != "postgresql":
            process_class._default_manager.select_for_update().filter(pk=process_pk).exists()
            return [read.run() for read in reads]
        meta = process_class._meta
        # Identifiers from the model's own metadata, quoted; the values go as parameters.
        table, column = connection.ops.quote_name(meta.db_table), connection.ops.quote_name(meta.pk.column)
        lock = f"SELECT 1 FROM {table} WHERE {column} = %s FOR UPDATE"  # noqa: S608
        # Several statements in one string: Django's psycopg cursors bind parameters on the
        # client (OPTIONS server_side_binding off, the default), which sends it as one simple
        # query, and psycopg returns a result per statement. Server-side binding would refuse it;
        # tests/services/test_tasklist_race.py would say so. The reads come after the lock, so
        # they see what the previous holder committed.
        sql = "; ".join(
            ([connection.ops.savepoint_create_sql(savepoint)] if savepoint else [])
            + [f"SELECT set_config('lock_timeout', %s, true); {lock}; SET LOCAL lock_timeout TO DEFAULT"]
            + [read.prepared.sql for read in reads]
        )
        params: list[Any] = [f"{int(self.timeout * 1000)}ms", process_pk]
        for read in reads:
            params.extend(read.values)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for _ in range(4 if savepoint else 3):  # SAVEPOINT, set_config, the lock, SET LOCAL
                cursor.nextset()
            results = []
            for read in reads:
                results.append(read.prepared.instances(cursor.fetchall()))
                cursor.nextset()
        return results


def _savepoint_name() -> str:
    """A new savepoint's name, as Django's `connection.savepoint()` makes them (unique in the
    connection's life), for a savepoint this module opens in a statement of its own."""
    connection.validate_thread_sharing()
    connection.savepoint_state += 1
    return "s%s_x%d" % (str(_thread.get_ident()).replace("-", ""), connection.savepoint_state)  # noqa: UP031


@dataclass(frozen=True)
class PreparedRead:
    """A plain model query compiled once (per database connection): its SQL, and how its rows
    become instances, as Django's ModelIterable makes them (the field converters, then
    `from_db`). On a hot path, compiling a query costs more CPU than running it."""

    compiler: Any
    sql: str
    converters: dict[int, Any]
    start: int
    end: int
    names: list[str]
    # One level of `select_related` foreign keys: each one's model, columns and setters.
    related: tuple[_RelatedRead, ...] = ()
    # The query's annotations (`annotate`): each one's attribute name and column.
    annotations: tuple[tuple[str, int], ...] = ()

    @classmethod
    def compile(cls, compiler: Any, sql: str) -> PreparedRead:
        fields = [column[0] for column in compiler.select[: compiler.col_count]]
        start, end = compiler.klass_info["select_fields"][0], compiler.klass_info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in compiler.select[start:end]]
        related = tuple(
            _RelatedRead.compile(compiler, info)
            for info in compiler.klass_info.get("related_klass_infos", ())
        )
        annotations = tuple(compiler.annotation_col_map.items())
        return cls(compiler, sql, compiler.get_converters(fields), start, end, names, related, annotations)

    def instances(self, rows: list[tuple]) -> list[Any]:
        values = self.compiler.apply_converters(rows, self.converters) if self.converters else rows
        model, using = self.compiler.query.model, self.compiler.using
        objs = []
        for row in values:
            obj = model.from_db(using, self.names, tuple(row[self.start : self.end]))
            for related in self.related:
                related.attach(obj, row, using)
            for name, column in self.annotations:
                setattr(obj, name, row[column])
            objs.append(obj)
        return objs


@dataclass(frozen=True)
class _RelatedRead:
    """A foreign key read with `select_related`, as Django's RelatedPopulator sets it: the
    related instance (None where the key is null) cached on the row's instance, and the row's
    instance on it where the key is one-to-one."""

    model: Any
    start: int
    end: int
    names: list[str]
    pk_index: int
    local_setter: Any
    remote_setter: Any

    @classmethod
    def compile(cls, compiler: Any, info: dict[str, Any]) -> _RelatedRead:
        if info.get("related_klass_infos") or info.get("reverse") or info.get("from_parent"):
            raise ValueError("prepared reads follow one level of forward foreign keys only")
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        names = [column[0].target.attname for column in compiler.select[start:end]]
        model = info["model"]
        return cls(
            model,
            start,
            end,
            names,
            names.index(model._meta.pk.attname),
            info["local_setter"],
            info["remote_setter"],
        )

    def attach(self, obj: Any, row: tuple, using: str) -> None:
        values = tuple(row[self.start : self.end])
        related = None if values[self.pk_index] is None else self.model.from_db(using, self.names, values)
        self.local_setter(obj, related)
        if related is not None:
            self.remote_setter(related, obj)


@dataclass(frozen=True)
class BoundRead:
    prepared: PreparedRead
    values: list[Any]

    def run(self) -> list[Any]:
        """Alone, in a round trip of its own (where the lock cannot carry it), planned once a
        connection (processes/planned.py)."""
        from processes.planned import planned_cursor

        with planned_cursor() as cursor:
            cursor.execute(self.prepared.sql, self.values)
            return self.prepared.instances(cursor.fetchall())


def prepared_read(key: Any, build: Callable[..., QuerySet], *values: int | datetime) -> BoundRead:
    """`build(*values)`'s query, compiled once per connection under `key` and bound to `values`.
    Each value (an id or an aware time) must be a parameter of the query (checked when it is
    compiled; once or more: each place takes it); the query's other parameters are constants of
    its shape (a status list, say)."""
    cache = connection.__dict__.setdefault("_portal_prepared_reads", {})
    entry = cache.get(key)
    if entry is None:
        placeholders = [stand_in(value, index) for index, value in enumerate(values)]
        queryset = build(*placeholders)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        params = list(params)
        stand_ins = [parameter_of(placeholder) for placeholder in placeholders]
        positions = [[at for at, param in enumerate(params) if param == stand_in] for stand_in in stand_ins]
        if not all(positions):
            raise ValueError(f"{key}: each value must be a parameter of the query, got {params}")
        entry = cache[key] = (PreparedRead.compile(compiler, sql), params, positions)
    read, template, positions = entry
    bound = list(template)
    for places, value in zip(positions, values, strict=True):
        for place in places:
            bound[place] = parameter_of(value)
    return BoundRead(read, bound)


def stand_in(value: int | datetime, index: int) -> int | datetime:
    """A stand-in for `value` while a query is compiled: a value no real one takes, of its type
    (the `index`th of the query's; `parameter_of(stand_in(...))` finds it among the parameters)."""
    if isinstance(value, datetime):
        return datetime(1001, 1, 1, tzinfo=UTC) + timedelta(seconds=index)
    return -1_000_001 - index


def parameter_of(value: int | datetime) -> Any:
    """`value` as a compiled query's parameter (a time as the backend writes a time column's value)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("prepared reads take aware times only")
        return connection.ops.adapt_datetimefield_value(value)
    return value


select_for_update_lock = SelectForUpdateLock()


@contextmanager
def flow_locked(
    flow_class: Any, process_pk: Any, task_pk: Any, *, starter: bool = False
) -> Iterator[tuple[Any, Any] | None]:
    """The flow lock on `process_pk`, with the task `task_pk` of that process and the process, as
    the flow's own model, read under it: (task, process), or None when there is no such task
    (process None when its row is gone). With `starter`, also who started the process (the
    gate's segregation of duties asks on every check), kept on the process as the registry
    keeps it.

    What `task.activation()` reads in four round trips (the task before the lock, again inside
    it, then the base process row and the subclass row), in none of their own: with the portal's
    lock they go in the lock's round trip, compiled once per connection.
    """
    from processes.registry import start_tasks, starter_keep

    tasks_, processes_ = flow_class.task_class._default_manager, flow_class.process_class._default_manager
    task_pk, process_pk = int(task_pk), int(process_pk)
    reads = [
        prepared_read(
            ("lock.task", tasks_.model), lambda t, p: tasks_.filter(pk=t, process_id=p), task_pk, process_pk
        ),
        prepared_read(("lock.process", processes_.model), lambda p: processes_.filter(pk=p), process_pk),
    ]
    if starter:
        reads.append(
            prepared_read(
                ("lock.starter", tasks_.model),
                lambda p: start_tasks(p).only("pk", "owner_id")[:1],
                process_pk,
            )
        )
    rows: list[list[Any]] = []
    impl = flow_class.lock_impl
    scope = (
        lock_scope(impl.reading(reads, rows), flow_class, process_pk)
        if isinstance(impl, SelectForUpdateLock)
        else flow_class.lock(process_pk)
    )
    with scope:
        found = rows or [read.run() for read in reads]
        tasks, processes = found[0], found[1]
        if not tasks:
            yield None
            return
        process = processes[0] if processes else None
        if starter and process is not None and found[2]:
            starter_keep(process, found[2][0].owner_id)
        yield tasks[0], process


@contextmanager
def task_locked(task: Any) -> Iterator[Any]:
    """The flow lock on `task`'s process, `task` re-read under it in place (as viewflow's
    `refresh_from_db` does: whoever holds the object sees the fresh row) with its process, as
    its own model, and who started it (`flow_locked`). DoesNotExist when the task is gone."""
    flow_class = task.flow_task.flow_class
    with flow_locked(flow_class, task.process_id, task.pk, starter=True) as found:
        if found is None:
            raise type(task).DoesNotExist(f"Task {task.pk} is gone")
        fresh, process = found
        for field in task._meta.concrete_fields:
            value = getattr(fresh, field.attname)
            if field.is_relation and field.is_cached(task) and getattr(task, field.attname) != value:
                field.delete_cached_value(task)
            setattr(task, field.attname, value)
        task._state.db = fresh._state.db
        if process is not None:
            task.process = process
        yield task
