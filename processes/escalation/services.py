"""Reminders and escalation actions: what a late task's boundary timers do when they fire.

They run inside the timer sweep, under the process's flow lock (the sweep fires each timer with
`task.activation()`), in the same transaction that marks the timer done. A human task finished
before that moment cancelled its boundaries under the same lock, so a finished task is never
reminded or escalated; these services still check that the task is open, because an action
must never touch a decided task. Each action is audited on the task (`task.reminded`,
`task.escalated`, shown in the process history) and notified through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import structlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.absences.selectors import absences_active_by_user
from processes.absences.services import (
    absence_handover_refused,
    absence_route,
    on_behalf_mark,
    substitute_may_hold,
)
from processes.audit import acting_as, audit_record
from processes.gate import hold_permissions
from processes.models import NotificationKind
from processes.notifications.audiences import users_holding
from processes.notifications.selectors import task_url
from processes.notifications.services import notifications_record, notify_task_reminder, task_text
from processes.policies.models import (
    EscalationAction,
    EscalationLevel,
    PolicyStage,
    candidate_codename,
    candidate_group_ids,
)
from processes.policies.services import candidate_permission_grant
from processes.registry import registry
from processes.services import ActingRequest, task_routing_changed

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from viewflow.workflow.models import Process

logger = structlog.get_logger(__name__)

_OPEN = (STATUS.NEW, STATUS.ASSIGNED)

_Target = TypeVar("_Target")


def _target(value: _Target | None, stage: PolicyStage, what: str) -> _Target:
    """The escalation group or user a level's action needs. Publishing refuses a version whose
    level lacks it (policies.services._level_problems), so a missing one is a bug, said plainly."""
    if value is None:
        raise ValueError(f"Stage {stage.pk} has no escalation {what}")
    return value


def _is_open(task: Task) -> bool:
    task.refresh_from_db(fields=["status", "owner", "owner_permission"])
    return task.status in _OPEN


def _task_details(task: Task) -> dict[str, Any]:
    # node_type HUMAN: the process history shows task.* events of people's tasks only.
    return {"node": task.flow_task.name, "node_type": "HUMAN"}


def _stage_details(task: Task, stage: PolicyStage) -> dict[str, Any]:
    return {**_task_details(task), "stage": stage.order, "stage_name": stage.name}


def task_remind(*, task: Task, stage: PolicyStage | None = None) -> bool:
    """Remind the owner (or the queue's candidates when nobody holds it) that `task` is due: soon
    for a purchase approval (its `stage`'s reminder), now for a fraud review (no stage).

    False, and nothing happens, when the task is no longer open.
    """
    if not _is_open(task):
        return False
    rows = notify_task_reminder(task=task)
    details = _stage_details(task, stage) if stage is not None else _task_details(task)
    audit_record(action="task.reminded", task=task, details={**details, "to": len(rows)})
    return True


def _also_for(task: Task) -> list[str]:
    """What a candidate of `task` needs besides the candidate permission (processes.gate)."""
    return [p for p in hold_permissions(task) if p != task.owner_permission]


def candidate_set_permission_ensure(*, group_ids: list[int], also: Sequence[str] = ()) -> str:
    """The permission that puts a task in the queues of all `group_ids`, granted to each group.

    A task has one `owner_permission`; a task several groups may take is routed by a set
    permission (`processes.candidates_<id>_<id>`), created on first use. The live notifications
    and task lists treat it like a single group's `candidate_<id>` (is_candidate_permission).
    """
    codename = candidate_codename(*group_ids)
    groups = list(Group.objects.filter(pk__in=group_ids).order_by("pk"))
    candidate_permission_grant(
        codename=codename,
        name="Candidate for tasks of groups " + ", ".join(g.name for g in groups),
        groups=groups,
        also=also,
    )
    return f"processes.{codename}"


def _candidates_add(task: Task, group: Group) -> list[int]:
    """Let `group` take the task too, keeping its current candidates and owner. The group's
    members who could not see the task before (their ids) are returned."""
    current = candidate_group_ids(task.owner_permission or "")
    if group.pk in current:
        return []
    before = set(_candidate_user_ids(task))
    also = _also_for(task)
    task.owner_permission = candidate_set_permission_ensure(group_ids=[*current, group.pk], also=also)
    task.save(update_fields=["owner_permission"])
    task_routing_changed(task=task)
    return sorted(set(_candidate_user_ids(task)) - before)


def _candidate_user_ids(task: Task) -> list[int]:
    if not task.owner_permission:
        return []
    return list(users_holding(task.owner_permission).values_list("pk", flat=True))


def _reassign(task: Task, stage: PolicyStage) -> dict[str, Any]:
    """Move the task to the escalation group's queue (released: nobody holds it), or, with only
    an escalation user, to that user."""
    previous_owner_id = task.owner_id
    if stage.escalation_group_id is not None:
        also = _also_for(task)
        task.owner_permission = candidate_set_permission_ensure(
            group_ids=[stage.escalation_group_id], also=also
        )
        task.owner = None
        task.status = STATUS.NEW
        on_behalf_mark(task, None)  # whoever claims it next acts for themselves
        target = {"group": _target(stage.escalation_group, stage, "group").name}
    elif registry.for_task(task).starter_id(task.process) == stage.escalation_user_id:
        # Segregation of duties (processes.gate): nothing hands a request to whoever started it.
        return {
            "user": _target(stage.escalation_user, stage, "user").get_username(),
            "skipped": "started this request",
        }
    else:
        user = _target(stage.escalation_user, stage, "user")
        # While the escalation user is away, their substitute gets it, on their behalf (ADR 0023).
        holder, absence = absence_route(task=task, to_user=user)
        if absence is not None and not substitute_may_hold(substitute=holder, task=task):
            absence_handover_refused(
                task=task, absence=absence, why="escalation: the substitute may not hold it"
            )
            return {"user": user.get_username(), "skipped": "away; the substitute may not hold it"}
        task.owner = holder
        task.status = STATUS.ASSIGNED
        on_behalf_mark(task, absence)
        target = {"user": holder.get_username()}
        if absence is not None:
            target["on_behalf_of"] = user.get_username()
    task.save(update_fields=["owner_permission", "owner", "status", "data"])
    task_routing_changed(task=task)
    if previous_owner_id and previous_owner_id != task.owner_id:
        title, brief = task_text(task, task.process)
        notifications_record(
            user_ids=[previous_owner_id],
            kind=NotificationKind.TASK_TAKEN,
            title=format_lazy(_("Escalated away from you (overdue): {title}"), title=title),
            body=brief,
            url=task_url(task),
            process=task.process,
            task=task,
        )
    return target


def _escalation_addressees(task: Task, stage: PolicyStage) -> list[User]:
    """Who an escalation email goes to: the escalation user, else each active group member; never
    whoever started the request (segregation of duties, processes.gate)."""
    starter_id = registry.for_task(task).starter_id(task.process)
    if stage.escalation_user_id is not None:
        user = _target(stage.escalation_user, stage, "user")
        return [user] if user.is_active and user.pk != starter_id else []
    members = get_user_model().objects.filter(
        groups=_target(stage.escalation_group_id, stage, "group"), is_active=True
    )
    if starter_id is not None:
        members = members.exclude(pk=starter_id)
    return list(members.order_by("pk"))


def _email(task: Task, stage: PolicyStage, level: EscalationLevel) -> dict[str, Any]:
    """Route the task so the addressees may act on it, then email each of them action links."""
    if stage.escalation_group_id is not None:
        _candidates_add(task, _target(stage.escalation_group, stage, "group"))
    from processes.actionlinks.services import escalation_email_send

    addressees = _escalation_addressees(task, stage)
    sent, on_behalf = _substitutes_for(task, addressees)
    for user, absent in sent:
        escalation_email_send(task=task, addressee=user, level=level, on_behalf_of=absent)
    details: dict[str, Any] = {"emailed": [user.get_username() for user, _absent in sent]}
    if on_behalf:
        details["on_behalf_of"] = on_behalf
    return details


def _substitutes_for(
    task: Task, addressees: list[User]
) -> tuple[list[tuple[User, User | None]], dict[str, str]]:
    """Each addressee, or while they are away their substitute, with whom they stand in for. A
    substitute already addressed is not emailed twice; one who started the request (or cannot
    sign in) is not emailed at all, audited."""
    absences = absences_active_by_user([user.pk for user in addressees])
    sent: list[tuple[User, User | None]] = []
    on_behalf: dict[str, str] = {}
    seen = {user.pk for user in addressees if user.pk not in absences}
    for user in addressees:
        absence = absences.get(user.pk)
        if absence is None:
            sent.append((user, None))
            continue
        substitute = absence.substitute
        if substitute.pk in seen:
            continue
        # The email goes to the substitute unless they started the request (segregation of
        # duties) or cannot sign in; its links are there only if they may act (the gate decides).
        if not substitute.is_active or registry.for_task(task).starter_id(task.process) == substitute.pk:
            absence_handover_refused(
                task=task,
                absence=absence,
                why="escalation email: the substitute started this request or is inactive",
            )
            continue
        seen.add(substitute.pk)
        sent.append((substitute, user))
        on_behalf[substitute.get_username()] = user.get_username()
    return sent, on_behalf


def _decide(task: Task, process: Process, stage: PolicyStage, level: EscalationLevel) -> dict[str, Any]:
    """Approve or reject as the system, with a comment saying why; the flow then goes on as
    after a person's decision (next stage, or back to the requester)."""
    version = stage.version
    if not version.allow_auto_decisions:  # publishing refuses this; never act on it
        raise PermissionError(f"Policy version {version.pk} does not allow automatic decisions")
    descriptor = registry.for_task(task)
    if not descriptor.decides(task):
        raise PermissionError(f"Task {task.pk} is not decided with a yes or no: no automatic decision")
    approved = level.action == EscalationAction.AUTO_APPROVE
    late = f"still open {level.after} after its due time" if level.after else "not decided by its due time"
    comment = f"{'Approved' if approved else 'Rejected'} automatically: the {stage.name} stage was {late}."
    with acting_as(None), task.activation() as activation:
        # viewflow checks a transition's permission only when asked (has_perm), never on the
        # call: the system takes the task (no owner) and starts it, as a person's form would.
        if activation.task.status == STATUS.NEW:
            activation.assign(None)
        activation.start(ActingRequest(None))
        descriptor.decide_automatically(activation=activation, approved=approved, comment=comment)
    return {"decision": "approved" if approved else "rejected", "comment": comment}


def task_escalate(
    *, task: Task, process: Process, stage: PolicyStage, level_order: int
) -> EscalationLevel | None:
    """Run level `level_order` of `stage` on the still-open `task`: notify, add or reassign to the
    escalation group, email action links, or decide automatically. Audited as `task.escalated`.

    Returns the level, or None (nothing happens) when the task is closed or the stage has no such
    level (a level removed from a draft never reaches a pinned version, so this is defensive).
    """
    from processes.escalation.selectors import stage_level

    level = stage_level(stage, level_order)
    if level is None or not _is_open(task):
        return None
    details: dict[str, Any] = {
        **_stage_details(task, stage),
        "level": level.order,
        "action": level.action,
        "after": str(level.after),
    }
    if level.is_auto_decision:
        # Recorded before the decision: the history must show the escalation before the
        # decision it caused (audit rows are append-only, so the details are complete here).
        audit_record(action="task.escalated", task=task, details=details)
        details.update(_decide(task, process, stage, level))
        logger.info("task.escalated", task_id=task.pk, **details)
        return level
    if level.action == EscalationAction.NOTIFY:
        details["notified"] = len(notify_task_reminder(task=task, escalated=True))
    elif level.action == EscalationAction.ADD_CANDIDATES:
        group = _target(stage.escalation_group, stage, "group")
        added = _candidates_add(task, group)
        details["group"] = group.name
        notify_task_reminder(task=task, escalated=True, to_user_ids=added)
    elif level.action == EscalationAction.REASSIGN:
        details.update(_reassign(task, stage))
        notify_task_reminder(task=task, escalated=True)
    else:  # EMAIL
        details.update(_email(task, stage, level))
        notify_task_reminder(task=task, escalated=True)
    audit_record(action="task.escalated", task=task, details=details)
    logger.info("task.escalated", task_id=task.pk, **details)
    return level
