"""Write side of the task list: keep each human task's TaskRow in step with viewflow's Task.

Three entry points, all inside the transaction that changed the task:
- `task_row_on_save`: when a human task is created (a `post_save` receiver, processes/apps.py:
  every process type's tasks get rows without asking);
- `task_row_transition`: viewflow's transition hook (processes/apps.py), for claim, release,
  reassign, finish and cancel;
- `task_row_refresh`: when routing changed outside a transition
  (processes.services.task_routing_changed, which escalation calls).
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import connection
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.models import Task

from processes.nodes.deadline import task_due_override
from processes.registry import registry
from processes.tasklist.models import TaskRow
from processes.tasklist.selectors import task_row_stage_keep

if TYPE_CHECKING:
    from viewflow.fsm.base import TransitionBoundMethod
    from viewflow.workflow.activation import Activation
    from viewflow.workflow.models import Process
    from viewflow.workflow.status import STATUS

    from processes.policies.models import PolicyStage


def _flow_class_of(process: Process) -> str:
    """The stored reference of the process's flow (the field's descriptor hands out instances)."""
    flow = process.flow_class
    return get_flow_ref(flow if isinstance(flow, type) else type(flow))


def _row_values(task: Task, process: Process, stage: PolicyStage | None = None) -> dict[str, Any]:
    described = registry.for_process(process).columns(task, process, stage)
    return {
        "flow_class": _flow_class_of(process),
        "process_id": process.pk,
        "node": task.flow_task.name,
        "subject": described.subject[:200],
        "requester": described.requester[:200],
        "amount": described.amount,
        "currency": described.currency,
        "stage_name": described.stage_name[:100],
        "kind": described.kind[:100],
        "owner_permission": task.owner_permission or "",
        "owner_id": task.owner_id,
        "status": task.status,
        "priority": described.priority,
        "due_at": task_due_override(task) or described.due_at,  # a manager's move wins
        "created": task.created,
        "finished": task.finished,
        "search": " ".join(
            filter(None, (described.subject, described.requester, described.keywords))
        ).lower(),
    }


def _row_state(task: Task) -> tuple[int | None, str, str, datetime | None]:
    """What a transition may change on a task's row, as last written for this task object."""
    return (task.owner_id, task.owner_permission or "", task.status, task.finished)


def task_row_create(
    *, task: Task, process: Process | None = None, stage: PolicyStage | None = None, new: bool = False
) -> TaskRow:
    """Write (or rewrite) the row of a human task from the task and its process.

    `stage` is the approval stage the task decides, when the caller knows it (saves a query).
    `new`: the task was created in this transaction, so it has no row yet: one INSERT. Otherwise
    one UPDATE (and an INSERT only when the row is missing).
    """
    process = process if process is not None else task.process.coerced
    values = _row_values(task, process, stage)
    row = TaskRow(task_id=task.pk, **values)
    if new or not TaskRow.objects.filter(task_id=task.pk).update(**values):
        row.save(force_insert=True)
    task.__dict__["_row_state"] = _row_state(task)
    task_row_stage_keep(task, values["stage_name"], values["due_at"])
    return row


def task_row_refresh(*, task: Task) -> TaskRow | None:
    """Recompute the whole row of a human task (holder, candidates, due time); None for others."""
    if getattr(task.flow_task, "task_type", "") != "HUMAN":
        return None
    return task_row_create(task=task)


def task_row_transition(
    activation: Activation, descriptor: TransitionBoundMethod, source: STATUS, target: STATUS, **kwargs: Any
) -> None:
    """viewflow FSM hook: carry a human task's new holder and status onto its row (one UPDATE).

    A human task's STARTED is never saved (viewflow starts it on every GET of its form), so that
    transition is not carried over either.
    """
    task = activation.task
    if getattr(task.flow_task, "task_type", "") != "HUMAN" or descriptor._func.__name__ == "start":
        return
    state = _row_state(task)
    if task.__dict__.get("_row_state") == state:
        return  # written already: a finish passes through two transitions (complete, execute)
    owner_id, owner_permission, status, finished = state
    params = [owner_id, owner_permission, status, connection.ops.adapt_datetimefield_value(finished), task.pk]
    # RETURNING hands back the row's stage and due time for the action's metrics, which would
    # otherwise read them after the commit; a raw query set converts them as the ORM would.
    rows = list(TaskRow.objects.raw(_transition_sql(connection.vendor), params, using=connection.alias))
    if rows:
        task_row_stage_keep(task, rows[0].stage_name, rows[0].due_at)
    elif task.pk:  # a node without an onCreate hook: create its row now
        task_row_create(task=task, process=activation.process)
    task.__dict__["_row_state"] = state


@functools.cache
def _transition_sql(vendor: str) -> str:
    """`task_row_transition`'s one statement on `vendor`'s database: the row's holder, status and
    end, returning its stage (PostgreSQL and SQLite 3.35 and later know RETURNING)."""
    meta, quote = TaskRow._meta, connection.ops.quote_name
    fields = {field.name: field for field in meta.concrete_fields}
    column = {name: quote(fields[name].column) for name in _TRANSITION_RETURNS + _TRANSITION_SETS}
    sets = ", ".join(f"{column[name]} = %s" for name in _TRANSITION_SETS)
    returns = ", ".join(column[name] for name in _TRANSITION_RETURNS)
    table, task = quote(meta.db_table), column["task"]
    return f"UPDATE {table} SET {sets} WHERE {task} = %s RETURNING {returns}"  # noqa: S608 (the model's names)


_TRANSITION_SETS = ("owner", "owner_permission", "status", "finished")
_TRANSITION_RETURNS = ("task", "stage_name", "due_at")


def task_row_on_save(sender: type, instance: Task, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """`post_save` receiver: a human task's row exists from the moment the task does, whatever
    its process type. A node's `.onCreate` hook that routes the task differently afterwards calls
    `processes.services.task_routing_changed`."""
    if raw or not created or instance.flow_task_type != "HUMAN":
        return
    task_row_create(task=instance, new=True)
