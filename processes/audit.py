"""The audit trail and the correlation id.

`audit_record` is the one service that writes AuditEvent rows. It runs inside the caller's
transaction, so a rolled-back change leaves no audit row and a committed one always has it.

Every task state change in viewflow goes through an activation transition (the views, bulk
actions, timers, jobs and our services all call them), so one hook on viewflow's transition
state machine, `audit_transition`, records them all; services record the business facts that
are not transitions (a comment, a decision) with `audit_record` directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import structlog
from django.contrib.auth.models import AnonymousUser

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
    if correlation_id and process is not None:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, process_id=process.pk)
        correlation_set(correlation_id)  # and on the request's or job's span (processes/tracing.py)
    return correlation_id


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
    event.save()
    correlation_set(correlation_id)  # a process started in this request has its id only now
    logger.info(
        action,
        audit_event_id=event.pk,
        correlation_id=correlation_id or None,
        process_id=process.pk if process else None,
        workflow_task_id=task.pk if task else None,
        actor=event.actor_name or "system",
        **(details or {}),
    )
    for observer in _observers:
        observer(event)
    return event


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
