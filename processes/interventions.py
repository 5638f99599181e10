"""Fixing running instances: what a process manager does to a process that is stuck or wrong.

Reassign an open people's task, move its due time (re-arming its reminder and escalation
timers), retry or skip a failed automated step (processes.services: `incident_retry`,
`incident_skip`), and cancel a running process, through its compensation path where its flow has
one. Every operation:

- takes a reason: required, not blank, at most REASON_MAX_LENGTH characters;
- is decided by the gate (processes.gate): a process manager is a superuser or a holder of the
  flow's manage permission (`<app>.manage_<model>`); reassignment keeps the gate's rules on who may
  hold a task (its candidate rights, and never the person who started the request);
- runs under the process's flow lock (`task.activation()` or `flow_class.lock`), in one
  transaction;
- writes one audit event `intervention.<operation>` with the reason and what was before and after
  (the task transitions it causes are audited by the transition hook as always, marked with the
  operation);
- tells whoever it concerns (`instance.changed` notifications) and wakes the open pages after the
  commit (processes.notifications).

Refusals: `ValidationError` (the input: reason, due time), `GateDenied` (403: the rights, an
ineligible target), `InterventionRefused` (the state: a finished process, a task no longer open).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from viewflow.workflow.flow.nodes import TimerBoundary
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.absences.services import absence_target_authorize, on_behalf_details, on_behalf_mark
from processes.audit import acting_as, audit_record, transition_details
from processes.exceptions import InterventionRefused
from processes.gate import TaskAction, process_manage_authorize, task_authorize
from processes.models import NotificationKind
from processes.nodes.deadline import DUE_KEY, OptionalTimerBoundary, task_due_override
from processes.notifications.channels import perm_channel, process_channel, user_channel, wake_on_commit
from processes.notifications.selectors import process_url, task_url
from processes.notifications.services import notifications_record, task_text
from processes.registry import registry
from processes.services import task_routing_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from viewflow.workflow.models import Process

REASON_MAX_LENGTH = 500
_CLOSED = (STATUS.DONE, STATUS.CANCELED, STATUS.REVIVED)
# A timer in one of these states has fired (or is firing): it is never armed again.
_FIRED = (STATUS.STARTED, STATUS.DONE, STATUS.ERROR)


def reason_clean(reason: str | None) -> str:
    """The reason, stripped; ValidationError when it is blank or too long."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why.")})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": _("Keep the reason under %(max)d characters.") % {"max": REASON_MAX_LENGTH}}
        )
    return reason


def _holder(task: Task) -> dict[str, Any]:
    return {"status": str(task.status), "owner": task.owner.get_username() if task.owner_id else ""}


def _tell(
    *, user_ids: Iterable[int | None], actor: User, title: str, reason: str, process: Any, task: Task | None
) -> None:
    """An `instance.changed` notification to each of `user_ids` but the actor, and the process
    page's wake-up, after the commit."""
    ids = {pk for pk in user_ids if pk is not None and pk != actor.pk}
    notifications_record(
        user_ids=ids,
        kind=NotificationKind.INSTANCE_CHANGED,
        title=title,
        body=reason,
        url=(task_url(task) if task is not None else "") or process_url(process),
        process=process,
        task=task,
        actor=actor,
    )
    wake_on_commit([process_channel(process.pk)])


# ---------------------------------------------------------------- reassign


@transaction.atomic
def task_reassign_fix(*, task: Task, user: User, to_user: User, reason: str) -> Task:
    """A process manager gives an open people's task (queued or held) to `to_user`, who must be
    allowed to hold it (the gate: candidate rights, segregation of duties). The new holder and the
    previous one are notified by the transition hook."""
    reason = reason_clean(reason)
    with acting_as(user), task.activation() as activation:
        task = activation.task
        task_authorize(user=user, task=task, action=TaskAction.REASSIGN, target=to_user)
        # While `to_user` is away, their substitute gets it, on their behalf (ADR 0023).
        to_user, absence = absence_target_authorize(
            user=user, task=task, action=TaskAction.REASSIGN, to_user=to_user
        )
        if task.owner_id == to_user.pk:
            raise InterventionRefused(
                _("%(user)s holds task #%(task)s already.") % {"user": to_user, "task": task.pk}
            )
        before = _holder(task)
        on_behalf_mark(task, absence)
        with transition_details(
            intervention="reassigned", reason=reason, delegated=False, **on_behalf_details(absence)
        ):
            if task.status == STATUS.NEW:
                activation.assign(to_user)
            else:
                activation.reassign(to_user)
        audit_record(
            action="intervention.reassigned",
            task=task,
            actor=user,
            details={
                "node": task.flow_task.name,
                "reason": reason,
                "before": before,
                "after": _holder(task),
                **on_behalf_details(absence),
            },
        )
    return task


# ---------------------------------------------------------------- due time


def _timer_boundaries(node: Any) -> list[Any]:
    return [b for b in getattr(node, "_boundary_events", []) if isinstance(b, TimerBoundary)]


def _timers_rearm(host_activation: Any) -> dict[str, list[str]]:
    """Cancel the host task's armed timer boundaries and arm each again (now moved with its due
    time: processes.nodes.deadline). A boundary that fired already is left alone: a reminder or
    an escalation level never fires twice."""
    host = host_activation.task
    result: dict[str, list[str]] = {"rearmed": [], "fired": []}
    for boundary in _timer_boundaries(host.flow_task):
        timers = list(Task.objects.filter(process_id=host.process_id, previous=host, flow_task=boundary))
        if any(timer.status in _FIRED for timer in timers):
            result["fired"].append(boundary.name)
            continue
        for timer in timers:
            if timer.status in (STATUS.NEW, STATUS.SCHEDULED):
                boundary.activation_class(timer).cancel()
        boundary._arm(host_activation)
        if Task.objects.filter(
            process_id=host.process_id, previous=host, flow_task=boundary, status=STATUS.SCHEDULED
        ).exists():
            result["rearmed"].append(boundary.name)
    return result


@transaction.atomic
def task_due_change(*, task: Task, user: User, due_at: datetime, reason: str) -> Task:
    """A process manager moves an open people's task's due time to `due_at` (in the future).

    The task lists show the new due time; the task's reminder and escalation timers that have not
    fired yet are cancelled and armed again, each as far from the new due time as it was from the
    old one (a reminder that lands in the past fires at the next sweep). Levels that fired stay
    fired. A step whose timers cannot follow a move (a plain `flow.View` with `.OnTimeout`, not
    a `DeadlineView`) is refused.
    """
    reason = reason_clean(reason)
    if not isinstance(due_at, datetime) or timezone.is_naive(due_at):
        raise ValidationError({"due_at": _("Give a date and time.")})
    with acting_as(user), task.activation() as activation:
        task = activation.task
        task_authorize(user=user, task=task, action=TaskAction.RESCHEDULE)
        if due_at <= timezone.now():
            raise ValidationError({"due_at": _("The new due time must be in the future.")})
        if any(not isinstance(b, OptionalTimerBoundary) for b in _timer_boundaries(task.flow_task)):
            raise InterventionRefused(
                _("The timers of step %(step)s cannot follow a new due time.") % {"step": task.flow_task.name}
            )
        process = task.process.coerced
        computed = registry.for_process(process).columns(task, process).due_at
        before = task_due_override(task) or computed
        shift = due_at - computed if computed is not None else timedelta(0)
        task.data = {**(task.data or {}), DUE_KEY: {"at": due_at.isoformat(), "shift": shift.total_seconds()}}
        task.save(update_fields=["data"])
        with transition_details(intervention="due_changed", reason=reason):
            timers = _timers_rearm(activation)
        task_routing_changed(task=task)  # the task lists' due column
        audit_record(
            action="intervention.due_changed",
            task=task,
            actor=user,
            details={
                "node": task.flow_task.name,
                "reason": reason,
                "before": {"due_at": before.isoformat() if before else None},
                "after": {"due_at": due_at.isoformat()},
                **timers,
            },
        )
        title, _brief = task_text(task, process)
        _tell(
            user_ids=[task.owner_id],
            actor=user,
            title=_("New due time for %(title)s: %(due)s")
            % {"title": title, "due": timezone.localtime(due_at).strftime("%Y-%m-%d %H:%M")},
            reason=reason,
            process=process,
            task=task,
        )
        channels = [perm_channel(task.owner_permission)] if task.owner_permission else []
        wake_on_commit(channels + ([user_channel(task.owner_id)] if task.owner_id else []))
    return task


# ---------------------------------------------------------------- cancel


@transaction.atomic
def process_cancel(*, process: Process, user: User, reason: str) -> Process:
    """A process manager cancels a running process: its open tasks and timers are cancelled;
    where its flow has a compensation path (ProcessDescriptor.compensation_node, as the orders
    flow's) that path runs instead of a bare cancel, and the process ends at its end. A finished
    or cancelled process is refused. The requester and the open tasks' holders are told."""
    reason = reason_clean(reason)
    flow_class = process.flow_class
    with acting_as(user), flow_class.lock(process.pk):
        process = type(process)._default_manager.get(pk=process.pk)
        process_manage_authorize(user=user, process=process)
        if process.status != PROCESS.NEW:
            raise InterventionRefused(
                _("Process #%(process)s is finished already (%(status)s).")
                % {"process": process.pk, "status": process.status}
            )
        open_tasks = list(process.task_set.exclude(status__in=_CLOSED).order_by("pk"))
        activations = [task.flow_task.activation_class(task) for task in open_tasks]
        stuck = [
            a.task for a in activations if getattr(a, "cancel", None) is None or not a.cancel.can_proceed()
        ]
        if stuck:
            raise InterventionRefused(
                _("Step %(steps)s is running now: cancel again when it is done.")
                % {"steps": ", ".join(f"{t.flow_task.name} (#{t.pk})" for t in stuck)}
            )
        descriptor = registry.for_process(process)
        compensation = descriptor.compensation_node()
        holders = [t.owner_id for t in open_tasks if t.flow_task_type == "HUMAN"]
        before = {
            "status": str(process.status),
            "open": [f"{t.flow_task.name}:{t.status}" for t in open_tasks],
        }
        with transition_details(intervention="canceled", reason=reason):
            for activation in activations:
                activation.cancel()
            if compensation is not None:
                last = Task.objects.filter(process=process).latest("pk")
                previous = last.flow_task.activation_class(last)
                started = compensation._create(previous, last.token)
                started._activate_next({started})
            else:
                process.status = PROCESS.CANCELED
                process.finished = timezone.now()
                process.save(update_fields=["status", "finished"])
        process.refresh_from_db()
        audit_record(
            action="intervention.canceled",
            process=process,
            actor=user,
            details={
                "reason": reason,
                "before": before,
                "after": {"status": str(process.status)},
                "compensation": compensation.name if compensation is not None else None,
            },
        )
        summary = descriptor.summary(process.coerced)
        _tell(
            user_ids=[descriptor.starter_id(process), *holders],
            actor=user,
            title=_("%(user)s canceled %(summary)s") % {"user": user.get_username(), "summary": summary},
            reason=reason,
            process=process,
            task=None,
        )
    return process
