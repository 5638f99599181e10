"""Read-side queries shared by every process."""

from __future__ import annotations

import functools
from typing import Any

from django.db.models import Q as models_q
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.registry import registry
from processes.tasklist.selectors import flows_managed_by


def process_with_subclass(pk: int, flow_class: Any = None) -> Any:
    """The process as its own model (a purchase request, an order) in one query, or None.

    viewflow's `coerced` reads the base row, then the subclass row; here the subclass tables are
    joined to the base row (each process model is a multi-table child of viewflow's Process).
    With the process's `flow_class` known (a task's), only its own model's table is joined.
    """
    from django.core.exceptions import ObjectDoesNotExist
    from viewflow.workflow.models import Process

    if flow_class is not None:
        return flow_class.process_class._default_manager.filter(pk=pk).first()

    links = [
        rel.get_accessor_name() for rel in Process._meta.related_objects if rel.one_to_one and rel.parent_link
    ]
    process = Process.objects.select_related(*links).filter(pk=pk).first()
    if process is None:
        return None
    for name in links:
        try:
            return getattr(process, name)
        except ObjectDoesNotExist:
            continue
    return process


def process_correlation_id(pk: int) -> str:
    """The correlation id of process `pk` ('' when there is no such process, or its model has
    none), in one query whose SQL is built once: every page of a process asks, for its logs."""
    from processes.planned import planned_cursor

    sql, fields = _correlation_sql()
    with planned_cursor() as cursor:  # planned once a connection (ADR 0033)
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    for field, value in zip(fields, row or (), strict=False):
        if value is not None:
            return str(field.to_python(value))
    return ""


@functools.cache
def _correlation_sql() -> tuple[str, list[Any]]:
    """The base process row joined to every process model's own table that has a correlation
    id: one column per table (a process has a row in one of them)."""
    from django.db import connection
    from viewflow.workflow.models import Process

    quote = connection.ops.quote_name
    base = Process._meta
    joins, columns, fields = [], [], []
    for index, rel in enumerate(
        rel for rel in Process._meta.related_objects if rel.one_to_one and rel.parent_link
    ):
        model = rel.related_model._meta
        field = next((f for f in model.concrete_fields if f.name == "correlation_id"), None)
        if field is None or field.model._meta.db_table != model.db_table:
            continue
        alias = f"t{index}"
        joins.append(
            f"LEFT JOIN {quote(model.db_table)} {alias} ON {alias}.{quote(rel.field.column)} = p.{quote(base.pk.column)}"
        )
        columns.append(f"{alias}.{quote(field.column)}")
        fields.append(field)
    select = ", ".join(columns) or "NULL"
    sql = f"SELECT {select} FROM {quote(base.db_table)} p {' '.join(joins)} WHERE p.{quote(base.pk.column)} = %s"  # noqa: S608
    return sql, fields


def incidents_for_user(user: Any) -> QuerySet[Task]:
    """Failed automated steps (status ERROR) of the processes `user` manages, newest first."""
    return (
        Task.objects.filter(
            flow_task_type="JOB", status=STATUS.ERROR, process__flow_class__in=flows_managed_by(user)
        )
        .select_related("process")
        .order_by("-finished", "-pk")
    )


# The core's audit actions shown in a process's history, in words; other task transitions of
# people's tasks are shown by their step. Internal steps (routing, gates, ends) are left out.
# A process type's own actions (`purchase.approved`) are labelled by its descriptor; one it does
# not label is still shown, by its name, rather than dropped.
_HISTORY_LABELS = {
    "process.started": gettext_noop("Submitted"),
    "process.finished": gettext_noop("Finished"),
    "task.assigned": gettext_noop("Claimed"),
    "task.unassigned": gettext_noop("Released"),
    "task.reassigned": gettext_noop("Reassigned"),
    "task.failed": gettext_noop("Failed"),
    "task.reminded": gettext_noop("Reminder sent"),
    "task.escalated": gettext_noop("Escalated"),
    "incident.retried": gettext_noop("Retried"),
    "incident.skipped": gettext_noop("Skipped"),
    "email.sent": gettext_noop("Escalation email sent"),
    "email.skipped": gettext_noop("Escalation email not sent"),
    "email.failed": gettext_noop("Email not delivered"),
    "actionlink.opened": gettext_noop("Email link opened"),
    "actionlink.used": gettext_noop("Decided by email link"),
    "actionlink.refused": gettext_noop("Email link refused"),
    "attachment.added": gettext_noop("Attached"),
    "message.consumed": gettext_noop("Message received"),
    "api.process_started": gettext_noop("Started through the API"),
    "intervention.reassigned": gettext_noop("Reassigned by a process manager"),
    "intervention.due_changed": gettext_noop("Due time changed"),
    "intervention.canceled": gettext_noop("Canceled by a process manager"),
    "absence.task_handed_over": gettext_noop("Handed to the substitute"),
    "absence.handover_refused": gettext_noop("Not handed to the substitute"),
}
_HISTORY_NODE_TYPES = {"HUMAN", "JOB"}
# The time per stage also shows a wait for an outside event (processes/nodes/wait_message.py).
_STAGE_NODE_TYPES = _HISTORY_NODE_TYPES | {"WAIT"}
# Prefixes of the core's own audit actions: those without a label above are internal.
_CORE_PREFIXES = (
    "process.",
    "task.",
    "incident.",
    "email.",
    "actionlink.",
    "attachment.",
    "job.",
    "policy.",
    "message.",
    "intervention.",
    "absence.",
)


def _history_label(action: str, labels: dict[str, str]) -> str | None:
    # The labels are marked with gettext_noop (the core's and the descriptors'): translated here.
    label = _HISTORY_LABELS.get(action) or labels.get(action)
    if label is not None:
        return _(label)
    if not action.startswith(_CORE_PREFIXES):
        return action.partition(".")[2].replace("_", " ").capitalize() or action
    return None


def process_history(process: Any) -> list[dict[str, Any]]:
    """What happened to a process, oldest first: who did what and when, with comments."""
    from processes.models import AuditEvent

    labels = registry.history_labels()
    rows = []
    for event in AuditEvent.objects.filter(process_id=process.pk).select_related("task"):
        label = _history_label(event.action, labels)
        details = event.details or {}
        if label is None or (
            event.action.startswith("task.")
            # a transition a manager's fix caused is told by the fix's own row (intervention.*)
            and (details.get("node_type") not in _HISTORY_NODE_TYPES or details.get("intervention"))
        ):
            continue
        # (process.finished: the end's own title is the row's step, "Compensated", "Refunded".)
        if event.action == "task.reassigned" and details.get("delegated"):
            label = _("Delegated")  # by the holder, to a colleague; "Reassigned" is a manager's
        rows.append(
            {
                "at": event.created_at,
                "who": _history_who(event.actor_name, details),
                "what": label,
                "step": event.task.flow_task.task_title if event.task_id and event.task else "",
                "detail": _history_detail(event.action, details),
                "comment": details.get("comment") or details.get("reason", ""),
            }
        )
    return rows


def _history_who(actor_name: str, details: dict[str, Any]) -> str:
    """Who did it: "bob on behalf of alice" for a substitute acting for someone away (ADR 0023)."""
    who = actor_name or "system"
    if details.get("on_behalf_of") and actor_name:
        return _("%(actor)s on behalf of %(user)s") % {"actor": who, "user": details["on_behalf_of"]}
    return who


def _history_detail(action: str, details: dict[str, Any]) -> str:
    if action in ("task.assigned", "task.reassigned") and details.get("owner"):
        if details.get("on_behalf_of") and details["on_behalf_of"] != details["owner"]:
            return _("to %(whom)s on behalf of %(user)s") % {
                "whom": details["owner"],
                "user": details["on_behalf_of"],
            }
        return _("to %(whom)s") % {"whom": details["owner"]}
    if action.startswith("absence."):
        text = f"{details.get('user', '')} → {details.get('to') or details.get('substitute', '')}"
        return f"{text}: {details['why']}" if details.get("why") else text
    if action == "intervention.reassigned":
        return _("to %(whom)s") % {"whom": (details.get("after") or {}).get("owner", "")}
    if action == "intervention.due_changed":
        return _("to %(when)s") % {"when": _moment((details.get("after") or {}).get("due_at", ""))}
    if action == "intervention.canceled" and details.get("compensation"):
        return _("compensated (%(how)s)") % {"how": details["compensation"]}
    if action == "attachment.added":
        return ", ".join(details.get("names") or [])
    if action == "message.consumed":
        return _("%(name)s %(id)s from %(client)s") % {
            "name": details.get("name", ""),
            "id": details.get("message_id", ""),
            "client": details.get("client") or _("the portal"),
        }
    if action == "task.failed":
        return details.get("error", "")
    if action.startswith(("email.", "actionlink.")):
        return _email_link_detail(action, details)
    if action == "task.escalated":
        return _escalation_detail(details)
    descriptor = registry.for_history_action(action)
    return descriptor.history_detail(action, details) if descriptor is not None else ""


def _moment(value: Any) -> str:
    """An ISO date-time from an audit row's details, as the active language writes it."""
    moment = parse_datetime(value) if isinstance(value, str) else None
    if moment is None:
        return str(value or "")
    return date_format(
        timezone.localtime(moment) if timezone.is_aware(moment) else moment, "SHORT_DATETIME_FORMAT"
    )


def _email_link_detail(action: str, details: dict[str, Any]) -> str:
    whom = {"whom": details.get("to_user")}
    if action == "email.sent":
        text = (
            _("to %(whom)s, level %(level)s") % {**whom, "level": details["level"]}
            if details.get("level")
            else _("to %(whom)s") % whom
        )
        return text if details.get("links") else _("%(text)s (no action links)") % {"text": text}
    if action in ("email.skipped", "email.failed"):
        return _("to %(whom)s: %(why)s") % {**whom, "why": details.get("reason") or details.get("error", "")}
    if action == "actionlink.refused":
        from processes.actionlinks.selectors import REASON_TEXT

        reason = REASON_TEXT.get(details.get("reason", ""), details.get("reason", ""))
        if details.get("viewer"):
            reason = f"{reason} ({details['viewer']})"
        return (_("%(action)s link: %(why)s") % {"action": details.get("action", ""), "why": reason}).lstrip()
    return (_("%(action)s link") % {"action": details.get("action", "")}).lstrip()


def _escalation_detail(details: dict[str, Any]) -> str:
    from processes.policies.models import EscalationAction

    action = details.get("action", "")
    label = EscalationAction(action).label if action in EscalationAction.values else action
    text = _("level %(level)s: %(what)s") % {"level": details.get("level"), "what": label}
    target = details.get("group") or details.get("user") or ", ".join(details.get("emailed") or [])
    return f"{text} ({target})" if target else text


def menu_task_counts(user: Any) -> dict[str, int]:
    """The Inbox and Queue counters of each flow's menu, keyed by the page they link to (as
    viewflow's menu counts them); the live pages refresh the drawer's counters with these."""
    from django.urls import get_resolver
    from viewflow.workflow.models import Task

    get_resolver().url_patterns  # noqa: B018 - flows learn their URL namespace when the URLconf loads
    counts = {}
    for flow_class in registry.flows():
        flow = flow_class.instance
        if not flow.has_view_permission(user):
            continue
        counts[flow.reverse("inbox")] = Task.objects.inbox([flow_class], user).count()
        counts[flow.reverse("queue")] = Task.objects.queue([flow_class], user).count()
    return counts


def process_stage_durations(process: Any, *, now: Any = None) -> list[dict[str, Any]]:
    """How long each stage of a process took, in order: one entry per human or automated step
    and per wait for an outside event, with when it started and ended and its duration; a step
    still open counts up to `now`. Stages are named as the task lists name them (a policy's
    stage name), else by their step's title. A stage that ran again (after a revision) is a new
    entry named with its round, "Team approval (round 2)", so the two are told apart."""
    from django.utils import timezone

    from processes.tasklist.models import TaskRow

    now = now or timezone.now()
    tasks = list(
        Task.objects.filter(process_id=process.pk, flow_task_type__in=_STAGE_NODE_TYPES)
        .exclude(status=STATUS.CANCELED)
        .order_by("created", "pk")
    )
    names = dict(
        TaskRow.objects.filter(task_id__in=[task.pk for task in tasks])
        .exclude(stage_name="")
        .values_list("task_id", "stage_name")
    )
    stages = []
    rounds: dict[str, int] = {}
    for task in tasks:
        end = task.finished
        name = names.get(task.pk) or str(task.flow_task.task_title)
        rounds[name] = rounds.get(name, 0) + 1
        if rounds[name] > 1:
            name = _("%(stage)s (round %(round)d)") % {"stage": name, "round": rounds[name]}
        stages.append(
            {
                "name": name,
                "started": task.created,
                "finished": end,
                "duration": (end or now) - task.created,
                "open": end is None,
            }
        )
    return stages


# ---------------------------------------------------------------- fixing running instances


def reassign_candidates(task: Task) -> QuerySet[Any]:
    """Who a process manager may give `task` to: active users with the rights to hold it
    (processes.gate.hold_permissions), never whoever started its process. None for a task the flow
    gave one person (personal) or one without a candidate permission."""
    from django.contrib.auth import get_user_model

    from processes.gate import hold_permissions, task_is_personal
    from processes.notifications.audiences import users_holding

    if task_is_personal(task) or not task.owner_permission:
        return get_user_model().objects.none()
    users = users_holding(*hold_permissions(task))
    starter_id = registry.for_task(task).starter_id(task.process)
    if starter_id is not None:
        users = users.exclude(pk=starter_id)
    return users.order_by("username")


def process_manage_panel(process: Any, user: Any) -> dict[str, Any] | None:
    """What the process page's Manage panel offers `user` on `process`: its open people's tasks
    (reassign, due time), its failed steps (retry, skip) and cancelling it; None for anyone but its
    process managers, and for a finished process."""
    from django.urls import reverse
    from viewflow.workflow.status import PROCESS

    from processes.gate import is_process_manager, task_is_personal
    from processes.tasklist.models import TaskRow

    if process.status != PROCESS.NEW or not is_process_manager(user, process.flow_class):
        return None
    tasks = list(
        Task.objects.filter(process_id=process.pk)
        .filter(
            models_q(flow_task_type="HUMAN", status__in=(STATUS.NEW, STATUS.ASSIGNED))
            | models_q(flow_task_type="JOB", status=STATUS.ERROR)
        )
        .select_related("owner", "process")
        .order_by("pk")
    )
    due = dict(TaskRow.objects.filter(task_id__in=[t.pk for t in tasks]).values_list("task_id", "due_at"))
    people, failed = [], []
    for task in tasks:
        title = str(task.flow_task.task_title or task.flow_task.name)
        if task.flow_task_type == "JOB":
            failed.append(
                {
                    "task": task,
                    "title": title,
                    "retry_url": reverse("operations:incidents:retry", args=[task.pk]),
                    "skip_url": reverse("operations:incidents:skip", args=[task.pk]),
                }
            )
            continue
        people.append(
            {
                "task": task,
                "title": title,
                "due_at": due.get(task.pk),
                "personal": task_is_personal(task),
                "candidates": list(reassign_candidates(task)),
                "reassign_url": reverse("operations:reassign", args=[task.pk]),
                "due_url": reverse("operations:due", args=[task.pk]),
            }
        )
    return {
        "people": people,
        "failed": failed,
        "cancel_url": process.flow_class.instance.reverse("process_cancel", args=[process.pk]),
    }


def task_due_at(task: Any) -> Any:
    """An open people's task's due time (its task list row's), or None when it has none."""
    from processes.tasklist.models import TaskRow

    return TaskRow.objects.filter(task_id=task.pk).values_list("due_at", flat=True).first()
