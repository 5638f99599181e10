"""Write-side use cases shared by every process: human tasks (claim, release) and incidents."""

from __future__ import annotations

import contextlib
from typing import Any

from django.core.exceptions import PermissionDenied
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.audit import acting_as, audit_record
from processes.exceptions import IncidentError
from processes.models import ProcessComment


class ActingRequest:
    """What viewflow's start transitions read from a request (`.user`), for services acting
    without one: demo data, tests, the worker and the API."""

    def __init__(self, user: Any) -> None:
        self.user = user


@contextlib.contextmanager
def task_executing(*, task: Task, user: Any):
    """The activation of a human task `user` holds, started as its form view starts it, for
    services that act without the web form (demo data, tests, email links, the API)."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_execute(user, activation.task):
            raise PermissionDenied(f"{user} does not hold task {task.pk}")
        activation.start(ActingRequest(user))
        yield activation


def decision_record(
    *, activation: Any, user: Any, action: str, comment: str, details: dict | None = None
) -> None:
    """Keep a person's decision on their task: its comment on the process, an audit event, then
    finish the task. Runs inside the caller's transaction, after the caller set the decision.
    A decision of the system (user None: an escalation deciding automatically) keeps its comment
    in the audit event only, since a process comment has an author."""
    if comment and user is not None:
        ProcessComment.objects.create(
            process=activation.process, task=activation.task, author=user, text=comment
        )
    details = {**({"comment": comment} if comment else {}), **(details or {})}
    audit_record(action=action, process=activation.process, task=activation.task, actor=user, details=details)
    activation.execute()


def task_claim(*, task: Task, user: Any) -> Task:
    """Assign a queued task to `user`, who must be allowed to take it. Audited by the transition hook."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_assign(user, activation.task):
            raise PermissionDenied(f"{user} may not claim task {task.pk}")
        activation.assign(user)
    return task


def task_unclaim(*, task: Task, user: Any) -> Task:
    """Put an assigned task back in its queue; its owner or a process manager may do this."""
    with acting_as(user), task.activation() as activation:
        if not activation.flow_task.can_unassign(user, activation.task):
            raise PermissionDenied(f"{user} may not release task {task.pk}")
        activation.unassign()
    return task


def task_routing_changed(*, task: Task) -> None:
    """Tell the task lists that a task's holder or candidates changed outside a viewflow
    transition (an escalation reassigning it to another group, for example).

    Call it inside the transaction that made the change. Viewflow's own transitions (claim,
    release, finish) are seen by the transition hook and need no call.
    """


def _incident_activation(task: Task):
    if task.flow_task_type != "JOB" or task.status != STATUS.ERROR:
        raise IncidentError(f"Task {task.pk} is not a failed automated step (status {task.status})")


def incident_retry(*, task: Task, user: Any) -> Task:
    """Run a failed automated step again: a new attempt with the same idempotency key. Audited."""
    with acting_as(user), task.activation() as activation:
        _incident_activation(activation.task)
        if not activation.revive.has_perm(user):
            raise PermissionDenied(f"{user} may not retry step {task.pk}")
        new_task = activation.revive()
        audit_record(
            action="incident.retried", task=activation.task, actor=user, details={"new_task": new_task.pk}
        )
    return new_task


def incident_skip(*, task: Task, user: Any, reason: str) -> Task:
    """Go on past a failed automated step without its result; the reason is required. Audited."""
    reason = reason.strip()
    if not reason:
        raise IncidentError("Say why the step is skipped")
    with acting_as(user), task.activation() as activation:
        _incident_activation(activation.task)
        if not activation.skip.has_perm(user):
            raise PermissionDenied(f"{user} may not skip step {task.pk}")
        activation.task.data["skipped"] = {"by": user.get_username(), "reason": reason}
        activation.skip()
        audit_record(action="incident.skipped", task=activation.task, actor=user, details={"reason": reason})
        activation.activate_next()
    return activation.task
