"""Write-side use cases shared by every process: human tasks (claim, release, delegate, reassign)
and incidents."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.absences.services import absence_target_authorize, on_behalf_details, on_behalf_mark
from processes.audit import acting_as, audit_record, transition_details
from processes.exceptions import IncidentError
from processes.gate import TaskAction, execute_action, task_authorize
from processes.locks import task_locked
from processes.models import ProcessComment
from processes.tasklist.exceptions import TaskUnavailable
from processes.webhooks.services import webhook_task_decided

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User
    from viewflow.workflow.activation import Activation


class ActingRequest:
    """What viewflow's start transitions read from a request (`.user`), for services acting
    without one: demo data, tests, the worker and the API."""

    def __init__(self, user: User | AnonymousUser | None) -> None:
        self.user = user


@contextlib.contextmanager
def task_activation(task: Task) -> Iterator[Activation]:
    """`task.activation()`: the flow lock on its process, the task re-read under it, and its
    activation; with the process read once, as its own model, where viewflow reads it twice (the
    base row, then the subclass row). `task` is refreshed in place, as viewflow does."""
    with task_locked(task):
        yield task.flow_task.activation_class(task)


@contextlib.contextmanager
def task_executing(
    *, task: Task, user: User | AnonymousUser, action: TaskAction | None = None
) -> Iterator[Activation]:
    """The activation of a human task `user` holds, started as its form view starts it, for
    services that act without the web form (demo data, tests, email links, the API). The gate
    decides first (`action`: what executing it does; by default what its node does)."""
    with acting_as(user), task_activation(task) as activation:
        task_authorize(user=user, task=activation.task, action=action or execute_action(activation.flow_task))
        activation.start(ActingRequest(user))
        yield activation


@contextlib.contextmanager
def process_starting(*, node: Any, user: User) -> Iterator[Activation]:
    """The started activation of a new process at its form start `node`, as `user`, for services
    that start one without the web form (demo data, tests, the API). PermissionDenied unless the
    node's permission lets `user` start it."""
    if not node.can_execute(user, None):
        raise PermissionDenied(f"{user} may not start {node.flow_class.process_title}")
    with acting_as(user):
        activation = node.activation_class.create(node, None, None)
        activation.start(ActingRequest(user))
        yield activation


def decision_record(
    *,
    activation: Activation,
    user: User | None,
    action: str,
    comment: str,
    details: dict[str, Any] | None = None,
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
    webhook_task_decided(process=activation.process, task=activation.task, action=action)
    activation.execute()


def task_claim(*, task: Task, user: User | AnonymousUser) -> Task:
    """Assign a queued task to `user`, who must be allowed to take it (the gate). Audited by the
    transition hook.

    Claims of one task are serialised by the flow lock: the second claimer finds it assigned and
    gets TaskUnavailable naming the winner ("already claimed by olivia"), never a bare 403.
    """
    with acting_as(user), task_activation(task) as activation:
        task_authorize(user=user, task=activation.task, action=TaskAction.CLAIM)
        activation.assign(user)
    return task


def tasks_claim_bulk(*, task_ids: list[int], user: User | AnonymousUser) -> tuple[list[Task], list[str]]:
    """Claim several queued tasks for `user`: each on its own (a savepoint each), so a task taken
    meanwhile by someone else is reported and the others are still claimed.

    Returns the claimed tasks and a message per task that could not be claimed.
    """
    claimed, failed = [], []
    for task in Task.objects.filter(pk__in=task_ids).order_by("pk"):
        try:
            with transaction.atomic():
                claimed.append(task_claim(task=task, user=user))
        except TaskUnavailable as exc:
            failed.append(str(exc))
        except PermissionDenied:
            failed.append(_("You may not claim task #%(task)s.") % {"task": task.pk})
    return claimed, failed


def task_unclaim(*, task: Task, user: User | AnonymousUser) -> Task:
    """Put an assigned task back in its queue; its owner or a process manager may do this."""
    with acting_as(user), task_activation(task) as activation:
        task_authorize(user=user, task=activation.task, action=TaskAction.RELEASE)
        on_behalf_mark(activation.task, None)  # whoever claims it next acts for themselves
        activation.unassign()
    return task


@transaction.atomic
def task_delegate(*, task: Task, user: User | AnonymousUser, to_user: User) -> Task:
    """The holder hands their task to a colleague who may hold it (the gate: same candidate
    permission, and not the one who started the process).

    Audited by the transition hook as "task.reassigned" with `delegated: true` (the history reads
    "Delegated"); the colleague is notified ("delegated to you").
    """
    with acting_as(user), task_activation(task) as activation:
        task_authorize(user=user, task=activation.task, action=TaskAction.DELEGATE, target=to_user)
        # While the colleague is away, their substitute gets it, on their behalf (ADR 0023).
        target, absence = absence_target_authorize(
            user=user, task=activation.task, action=TaskAction.DELEGATE, to_user=to_user
        )
        on_behalf_mark(activation.task, absence)
        with transition_details(delegated=True, **on_behalf_details(absence)):
            activation.reassign(target)
    return activation.task


@transaction.atomic
def task_reassign(*, task: Task, user: User | AnonymousUser, to_user: User) -> Task:
    """A process manager gives an open task (queued or held) to any user who may hold it. Audited
    by the transition hook (with `delegated: false`, even for a task the manager held); the new
    holder, and the previous one, are notified."""
    with acting_as(user), task_activation(task) as activation:
        task = activation.task
        task_authorize(user=user, task=task, action=TaskAction.REASSIGN, target=to_user)
        to_user, absence = absence_target_authorize(
            user=user, task=task, action=TaskAction.REASSIGN, to_user=to_user
        )
        if task.status == STATUS.NEW or task.owner_id != to_user.pk:
            on_behalf_mark(task, absence)
        if task.status == STATUS.NEW:
            with transition_details(**on_behalf_details(absence)):
                activation.assign(to_user)
        elif task.owner_id != to_user.pk:
            with transition_details(delegated=False, **on_behalf_details(absence)):
                activation.reassign(to_user)
    return task


def task_routing_changed(*, task: Task) -> None:
    """Tell the task lists that a task's holder or candidates changed outside a viewflow
    transition (an escalation reassigning it to another group, for example).

    Call it inside the transaction that made the change. Viewflow's own transitions (claim,
    release, finish) are seen by the transition hook and need no call.
    """
    from processes.tasklist.services import task_row_refresh

    task_row_refresh(task=task)


def _incident_activation(task: Task) -> None:
    if task.flow_task_type != "JOB" or task.status != STATUS.ERROR:
        raise IncidentError(f"Task {task.pk} is not a failed automated step (status {task.status})")


REASON_MAX_LENGTH = 500


def _incident_reason(reason: str | None, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise IncidentError(f"Say why the step is {what}")
    if len(reason) > REASON_MAX_LENGTH:
        raise IncidentError(f"Keep the reason under {REASON_MAX_LENGTH} characters")
    return reason


def incident_retry(*, task: Task, user: User, reason: str) -> Task:
    """Run a failed automated step again: a new attempt with the same idempotency key. The reason
    is required. Audited with the reason, the failed attempt and the new one."""
    reason = _incident_reason(reason, "run again")
    with acting_as(user), task_activation(task) as activation:
        _incident_activation(activation.task)
        if not activation.revive.has_perm(user):
            raise PermissionDenied(f"{user} may not retry step {task.pk}")
        new_task = activation.revive()
        audit_record(
            action="incident.retried",
            task=activation.task,
            actor=user,
            details={
                "new_task": new_task.pk,
                "reason": reason,
                "before": {"task": activation.task.pk, "status": str(STATUS.ERROR)},
                "after": {"task": new_task.pk, "status": str(new_task.status)},
            },
        )
    return new_task


def incident_skip(*, task: Task, user: User, reason: str) -> Task:
    """Go on past a failed automated step without its result; the reason is required. Audited."""
    reason = _incident_reason(reason, "skipped")
    with acting_as(user), task_activation(task) as activation:
        _incident_activation(activation.task)
        if not activation.skip.has_perm(user):
            raise PermissionDenied(f"{user} may not skip step {task.pk}")
        activation.task.data["skipped"] = {"by": user.get_username(), "reason": reason}
        activation.skip()
        audit_record(
            action="incident.skipped",
            task=activation.task,
            actor=user,
            details={
                "reason": reason,
                "before": {"status": str(STATUS.ERROR)},
                "after": {"status": str(activation.task.status)},
            },
        )
        activation.activate_next()
    return activation.task
