"""The audit trail and the correlation id.

`audit_record` is the one service that writes AuditEvent rows. It runs inside the caller's
transaction, so a rolled-back change leaves no audit row and a committed one always has it.

Every task state change in viewflow goes through an activation transition (the views, bulk
actions, timers, jobs and our services all call them), so one hook on viewflow's transition
state machine, `audit_transition`, records them all; services record the business facts that
are not transitions (a comment, a decision) with `audit_record` directly.

Inside an `audit_batch()` block (the flow lock opens one around every activation: locks.py) the
rows wait in a per-connection buffer and go to the database as one multi-row INSERT, still in the
block's transaction: when the block ends, and before any statement that reads the audit table.
A savepoint rolled back inside the block drops the rows recorded in it (and puts back the ones
recorded outside it that an early flush had inserted in it), so the trail still commits and rolls
back with the changes it records. ADR 0005 has the why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import structlog
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from processes.bulk import rows_insert
from processes.models import AuditEvent
from processes.tracing import correlation_set

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from viewflow.fsm.base import TransitionBoundMethod
    from viewflow.workflow.activation import Activation
    from viewflow.workflow.models import Process, Task
    from viewflow.workflow.status import STATUS

logger = structlog.get_logger("processes.audit")

# Who is acting in this request or job. The web middleware binds the logged-in user; workers,
# timers and the scheduler act as "system" (None) unless a service binds someone.
_actor: ContextVar[User | AnonymousUser | None] = ContextVar("audit_actor", default=None)

# Transition name -> (audit action for the task, whether to record it).
_TRANSITION_ACTIONS = {
    "activate": "task.created",
    "assign": "task.assigned",
    "unassign": "task.unassigned",
    "reassign": "task.reassigned",
    "start": "task.started",
    "complete": "task.completed",
    "cancel": "task.canceled",
    "error": "task.failed",
    "revive": "task.revived",
    "undo": "task.undone",
}
# Human tasks pass through STARTED on every GET of their form; that is not a state change.
_NOT_PERSISTED = {("HUMAN", "start"), ("HUMAN_START", "start")}

# Details a service adds to the rows the transition hook writes inside its block: viewflow's
# reassign transition serves a holder's delegation and a manager's reassignment alike, and only
# the caller knows which one it is.
_transition_details: ContextVar[dict[str, Any] | None] = ContextVar("audit_transition_details", default=None)

# Where a task handed over during an absence notes whose substitute holds it (processes/absences):
# {"user_id", "user", "substitute_id"} in `task.data`. Rows the substitute writes on that task say
# "on behalf of" the absent user (details["on_behalf_of"]).
ON_BEHALF_KEY = "on_behalf_of"

# Called with each audit event right after it is written, in its transaction (the webhooks'
# outbox: processes/webhooks/). Registered once at start-up (processes/apps.py).
_observers: list[Callable[[AuditEvent], None]] = []


def audit_observer_register(observer: Callable[[AuditEvent], None]) -> None:
    """Let `observer` see every audit event, in the transaction that writes it."""
    if observer not in _observers:
        _observers.append(observer)


@contextlib.contextmanager
def acting_as(user: User | AnonymousUser | None) -> Iterator[None]:
    """Attribute the audit rows written inside this block to `user`."""
    token = _actor.set(user)
    try:
        yield
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def transition_details(**details: Any) -> Iterator[None]:
    """Add `details` to the audit rows the transition hook writes inside this block."""
    token = _transition_details.set({**(_transition_details.get() or {}), **details})
    try:
        yield
    finally:
        _transition_details.reset(token)


def actor_set(user: User | AnonymousUser | None) -> None:
    _actor.set(user)


def current_actor() -> User | None:
    """Who is acting now (None for the system), for the hooks on viewflow's transitions."""
    user = _actor.get()
    # AnonymousUser is never authenticated; the isinstance test only tells mypy so.
    if user is None or isinstance(user, AnonymousUser) or not getattr(user, "is_authenticated", False):
        return None
    return user


def correlation_id_of(process: Process | None) -> str:
    """The process's correlation id ('' for a process model without one)."""
    if process is None:
        return ""
    value = getattr(process, "correlation_id", None)
    if value is None and process.pk is not None and getattr(process, "flow_class", None):
        value = getattr(process.coerced, "correlation_id", None)
    return str(value) if value else ""


def correlation_bind(process: Process | None) -> str:
    """Bind the process's correlation id to every log line from here on (this request or job)."""
    correlation_id = correlation_id_of(process)
    if process is not None:
        correlation_bind_id(correlation_id, process.pk)
    return correlation_id


def correlation_bind_id(correlation_id: str, process_pk: Any) -> None:
    """`correlation_bind` for a process whose correlation id is known without the process."""
    if correlation_id:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, process_id=process_pk)
        correlation_set(correlation_id)  # and on the request's or job's span (processes/tracing.py)


def audit_record(
    *,
    action: str,
    process: Process | None = None,
    task: Task | None = None,
    actor: User | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event, in the caller's transaction, and log it with its correlation id."""
    actor = actor or current_actor()
    if process is None and task is not None:
        process = task.process
    correlation_id = correlation_id_of(process)
    on_behalf = _on_behalf_of(task, actor)
    if on_behalf and "on_behalf_of" not in (details or {}):
        details = {**(details or {}), "on_behalf_of": on_behalf}
    event = AuditEvent(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        process=process,
        task=task,
        correlation_id=correlation_id,
        details=details or {},
    )
    # Validates the fields, not the references: the actor, process and task are objects the
    # caller holds, and checking each one exists would cost three queries per event.
    event.full_clean(exclude=["actor", "process", "task"], validate_unique=False, validate_constraints=False)
    batch = _batch_of(connection)
    if batch is None:
        event.save()
        _log(event)
    else:
        batch.add(event)  # inserted with the block's other rows, in this transaction
    correlation_set(correlation_id)  # a process started in this request has its id only now
    for observer in _observers:
        observer(event)
    return event


def _log(event: AuditEvent) -> None:
    logger.info(
        event.action,
        audit_event_id=event.pk,
        correlation_id=event.correlation_id or None,
        process_id=event.process_id,
        workflow_task_id=event.task_id,
        actor=event.actor_name or "system",
        **(event.details or {}),
    )


# ---------------------------------------------------------------- batched inserts


class _Batch:
    """The audit rows recorded in an `audit_batch()` block and not inserted yet, on one connection.

    It watches the connection's statements (an execute wrapper) for the two that concern them: a
    read of the audit table (insert the rows first, so the read sees them) and a rollback to a
    savepoint (forget the rows recorded inside it; re-queue those recorded outside it that an
    early insert put inside it).
    """

    def __init__(self, conn: Any) -> None:
        self.connection = conn
        self.depth = 0
        self.sequence = 0
        self.pending: list[AuditEvent] = []
        # Rows inserted during the block, with the savepoints open when they were inserted.
        self.inserted: list[tuple[AuditEvent, tuple[str, ...]]] = []
        self.inserting = False
        self.table = AuditEvent._meta.db_table
        self.memo: dict[str, Any] = {}

    def _savepoints(self) -> tuple[str, ...]:
        return tuple(sid for sid in self.connection.savepoint_ids if sid)

    def add(self, event: AuditEvent) -> None:
        if not self.connection.in_atomic_block:
            raise TransactionManagementError(
                "audit_batch() outlived its transaction: the audit rows would be lost"
            )
        self.sequence += 1
        event._audit_order = self.sequence  # type: ignore[attr-defined]
        event._audit_savepoints = self._savepoints()  # type: ignore[attr-defined]
        self.pending.append(event)

    def flush(self) -> None:
        if not self.pending:
            return
        rows = sorted(self.pending, key=lambda row: row._audit_order)  # type: ignore[attr-defined]
        self.pending = []
        self.inserting = True
        try:
            rows_insert(AuditEvent, rows)
        finally:
            self.inserting = False
        savepoints = self._savepoints()
        for row in rows:
            self.inserted.append((row, savepoints))
            if not getattr(row, "_audit_logged", False):
                row._audit_logged = True  # type: ignore[attr-defined]
                _log(row)

    def rolled_back_to(self, sid: str) -> None:
        self.pending = [row for row in self.pending if sid not in row._audit_savepoints]  # type: ignore[attr-defined]
        kept = []
        for row, savepoints in self.inserted:
            if sid not in savepoints:
                kept.append((row, savepoints))
            elif sid not in row._audit_savepoints:  # type: ignore[attr-defined]
                # Recorded outside the savepoint, inserted inside it: the rollback removed it.
                row.pk = None
                row._state.adding = True
                self.pending.append(row)
        self.inserted = kept

    def watch(self, execute: Callable, sql: Any, params: Any, many: bool, context: Any) -> Any:
        if not self.inserting and isinstance(sql, str):
            if sql.startswith("ROLLBACK TO SAVEPOINT"):
                self.rolled_back_to(sql.rsplit(None, 1)[-1].strip('"`[]'))
            elif self.pending and self.table in sql:
                self.flush()  # the statement reads (or locks) the audit table: it sees the rows
        return execute(sql, params, many, context)

    def check_written(self) -> None:
        if self.pending:  # a block that never ended: never silently drop an audit row
            raise TransactionManagementError(f"{len(self.pending)} audit rows were never written")


def _batch_of(conn: Any) -> _Batch | None:
    batch = getattr(conn, "_portal_audit_batch", None)
    return batch if batch is not None and batch.depth else None


def audit_batch_memo() -> dict[str, Any] | None:
    """A dict that lives as long as the current `audit_batch()` block (one flow-lock block), for
    what its audit observers look up once per block (None outside a block)."""
    batch = _batch_of(connection)
    return batch.memo if batch is not None else None


@contextlib.contextmanager
def audit_batch() -> Iterator[None]:
    """Insert the audit rows recorded in this block together when it ends, in its transaction.

    Enter it inside the atomic block it belongs to (it refuses to buffer in autocommit). Nested
    blocks join the outer one. When the block raises, its rows are dropped: the exception rolls
    back the atomic block around it, and the rows with it.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("audit_batch() needs a transaction")
    batch = getattr(connection, "_portal_audit_batch", None)
    if batch is not None and batch.depth:
        batch.depth += 1
        try:
            yield
        finally:
            batch.depth -= 1
        return
    batch = _Batch(connection)
    connection._portal_audit_batch = batch  # type: ignore[attr-defined]
    batch.depth = 1
    # Loud if a row is ever left behind: at the commit, nothing may be pending.
    transaction.on_commit(batch.check_written)
    try:
        with connection.execute_wrapper(batch.watch):
            yield
            batch.flush()
    except BaseException:
        batch.pending = []
        raise
    finally:
        batch.depth = 0
        batch.inserted = []
        connection._portal_audit_batch = None  # type: ignore[attr-defined]


def _on_behalf_of(task: Task | None, actor: User | None) -> str:
    """The absent user `actor` stands in for on `task` ('' when they act for themselves)."""
    if task is None or actor is None:
        return ""
    mark = (getattr(task, "data", None) or {}).get(ON_BEHALF_KEY) or {}
    return str(mark.get("user", "")) if mark.get("substitute_id") == actor.pk else ""


def audit_transition(
    activation: Activation, descriptor: TransitionBoundMethod, source: STATUS, target: STATUS, **kwargs: Any
) -> None:
    """viewflow FSM hook: record each task state change as an audit event."""
    name = descriptor._func.__name__
    action = _TRANSITION_ACTIONS.get(name)
    if action is None:
        return
    task = activation.task
    flow_task = task.flow_task
    node_type = getattr(flow_task, "task_type", "")
    if (node_type, name) in _NOT_PERSISTED:
        return
    to_status = task.status
    # A reassign keeps the status (ASSIGNED -> ASSIGNED): what it changes is the holder.
    handover = _handover(task) if name == "reassign" else {}
    if handover is None:
        return  # reassigned to whoever held it already
    if name not in ("activate", "reassign") and to_status == source:
        return  # a transition that changed nothing (e.g. a redelivered job re-entering STARTED)
    details = {"node": flow_task.name, "node_type": node_type, "from": str(source), "to": str(to_status)}
    if task.owner_id and name in ("assign", "reassign", "activate"):
        details["owner"] = task.owner.get_username()
    if name == "error":
        details["error"] = (task.data or {}).get("_exception", {}).get("title", "")
    details.update(handover)
    details.update(_transition_details.get() or {})
    audit_record(action=action, process=activation.process, task=task, details=details)
    if name == "complete" and node_type in ("HUMAN_START", "START"):
        audit_record(action="process.started", process=activation.process, task=task)
    elif name == "complete" and node_type == "END":
        audit_record(
            action="process.finished", process=activation.process, task=task, details={"end": flow_task.name}
        )


def _handover(task: Task) -> dict[str, Any] | None:
    """Who held `task` before viewflow's reassign gave it to its owner now (None: the same person).

    The hook runs after the change and the transition passes no previous owner, but the task's
    list row still names them: the task list's hook runs after this one (apps.py). A holder
    handing their own task over is a delegation, unless the caller says otherwise
    (`transition_details(delegated=...)`).
    """
    from django.contrib.auth import get_user_model

    from processes.tasklist.models import TaskRow

    username = f"owner__{get_user_model().USERNAME_FIELD}"
    row = TaskRow.objects.filter(task_id=task.pk).values_list("owner_id", username).first()
    previous_id, previous_name = row or (None, "")
    if previous_id == task.owner_id:
        return None
    actor = current_actor()
    return {"previous_owner": previous_name or "", "delegated": actor is not None and actor.pk == previous_id}
