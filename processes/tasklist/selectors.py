"""Read side of the task list: which rows each page shows to whom, filtered and sorted.

Every page starts from the rows of the process types the user may see (viewflow's `view_`
permission), as viewflow's own inbox and queue do; the queue rule is viewflow's too: a task
is claimable when its `owner_permission` is one the user holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet
from django.db.models.expressions import Combinable
from django.utils import timezone
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.models import Task

from processes.gate import hold_permissions, task_is_personal
from processes.notifications.audiences import users_holding
from processes.planned import planned_cursor
from processes.policies.models import PolicyStage
from processes.registry import registry
from processes.tasklist.models import OPEN_STATUSES, TaskRow


def flows_visible_to(user: Any) -> list[type]:
    """The process types whose task rows `user` may be shown: those visible per process (each row
    is then the user's own, or routed to one of their permissions), and those visible model-wide
    whose `view_` permission the user holds."""
    return [
        descriptor.flow
        for descriptor in registry
        if not descriptor.visible_model_wide or descriptor.flow.instance.has_view_permission(user)
    ]


def flows_listed_for(user: Any) -> list[type]:
    """The process types `user` works with (their `view_` permission): the task list's menu entry
    and its process type filter."""
    return [flow for flow in registry.flows() if flow.instance.has_view_permission(user)]


def start_actions_for(user: Any) -> list[dict[str, str]]:
    """The processes `user` may start from a form (title and URL), for the task list's header:
    each flow's start nodes with a form, or what its descriptor lists instead."""
    from django.urls import NoReverseMatch

    actions = []
    for descriptor in registry:
        listed = descriptor.start_entries(user)
        if listed is not None:
            actions += [{"title": entry.title, "url": entry.url} for entry in listed]
            continue
        for node in descriptor.flow.instance.get_start_nodes():
            if not node.can_execute(user):
                continue
            try:
                url = node.reverse("execute")
            except NoReverseMatch:  # a start without a form (an API handle)
                continue
            actions.append({"title": str(node.task_title), "url": url})
    return actions


def flows_managed_by(user: Any) -> list[type]:
    return [flow for flow in registry.flows() if flow.instance.has_manage_permission(user)]


def may_see_team(user: Any) -> bool:
    """Managers see their team's open tasks: holders of a flow's `manage_` permission (the right
    viewflow already requires to release someone else's task)."""
    return user.is_authenticated and bool(flows_managed_by(user))


def _rows(flows: list[type], **lookups: Any) -> QuerySet[TaskRow]:
    """The rows of `flows` that match `lookups`, with their holder (one filter(): each copies the
    query, and a page builds one for itself and one for each pinned filter)."""
    return TaskRow.objects.select_related("owner").filter(flow_class__in=flows, **lookups)


def task_rows_inbox(user: Any) -> QuerySet[TaskRow]:
    """Tasks assigned to `user`."""
    return _rows(flows_visible_to(user), status="ASSIGNED", owner=user)


def task_rows_queue(user: Any) -> QuerySet[TaskRow]:
    """Unassigned tasks `user` may claim: their permissions route them (all for superusers)."""
    if user.is_superuser:
        return _rows(flows_visible_to(user), status="NEW")
    return _rows(
        flows_visible_to(user), status="NEW", owner_permission__in=sorted(user.get_all_permissions())
    )


def task_rows_archive(user: Any) -> QuerySet[TaskRow]:
    """Tasks `user` finished."""
    return _rows(flows_visible_to(user), owner=user, finished__isnull=False)


def task_rows_team(user: Any) -> QuerySet[TaskRow]:
    """Every open task of the process types `user` manages, held or not."""
    return _rows(flows_managed_by(user), status__in=OPEN_STATUSES)


def task_row_reachable(user: Any, task_pk: int) -> TaskRow | None:
    """The row of a task `user` may act on: one of their candidate permissions routes it, they
    hold it, or they manage its process type. None otherwise (a 404: a task outside the user's
    groups does not exist for them). The status is not checked: the services say what changed."""
    row = TaskRow.objects.filter(pk=task_pk).first()
    flow = row.flow if row is not None else None
    if row is None or flow is None:
        return None
    if user.is_superuser or flow in flows_managed_by(user):
        return row
    if flow not in flows_visible_to(user):
        return None
    if row.owner_id == user.pk or (row.owner_permission and user.has_perm(row.owner_permission)):
        return row
    return None


def task_row_stage(task: Task) -> tuple[str, datetime | None]:
    """The stage name and due time on `task`'s list row: as this request wrote or read the row
    for this task object (`task_row_stage_keep`), else read now ('' and None without a row)."""
    known = task.__dict__.get(_ROW_STAGE)
    if known is not None:
        return known
    row = TaskRow.objects.filter(task_id=task.pk).values_list("stage_name", "due_at").first()
    return row if row else ("", None)


def task_named_by_row(row: TaskRow) -> Task | None:
    """The task `row` lists, as the row names it (its id, process and step, with the row's stage
    and due time kept for the action's metrics), for a service that reads it whole under the flow
    lock. None when the step is no longer in its flow (read the task as it is then)."""
    flow = row.flow
    node = getattr(flow, row.node, None) if flow is not None else None
    if node is None:
        return None
    task = Task(pk=row.task_id, process_id=row.process_id, flow_task=node)
    task_row_stage_keep(task, row.stage_name, row.due_at)
    return task


def task_row_stage_keep(task: Task, stage_name: str, due_at: datetime | None) -> None:
    """Remember on `task` the stage and due time of its row, just written or read, so that
    `task_row_stage` reads nothing."""
    task.__dict__[_ROW_STAGE] = (stage_name, due_at)


_ROW_STAGE = "_row_stage"


# The process filter's value for one of the types a flow runs: "<flow ref>#<type name>".
KIND_SEPARATOR = "#"


@dataclass(frozen=True)
class TaskFilter:
    """The validated filters and sort of a task list page (from its GET form)."""

    flow: str = ""
    kind: str = ""
    # Filters on the kind's own fields (ProcessDescriptor.kind_filters): (name, value) pairs.
    fields: tuple[tuple[str, str], ...] = ()
    stage: str = ""
    overdue: bool = False
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    q: str = ""
    sort: str = "due"


SORTS: dict[str, tuple[str | Combinable, ...]] = {
    "due": (F("due_at").asc(nulls_last=True), "created", "task_id"),
    "priority": ("-priority", F("due_at").asc(nulls_last=True), "task_id"),
    "age": ("created", "task_id"),  # oldest first
    "-age": ("-created", "-task_id"),
    "finished": ("-finished", "-task_id"),
}


def task_rows_filter(rows: QuerySet[TaskRow], spec: TaskFilter, *, now: datetime | None = None) -> QuerySet:
    """Apply the filters of `spec` to `rows` and sort them. Search matches the subject and the
    requester, case-insensitively (a trigram index serves it on PostgreSQL)."""
    lookups: dict[str, Any] = {}  # one filter() for all: each call copies the query
    if spec.flow:
        lookups["flow_class"] = spec.flow
    if spec.kind:
        lookups["kind"] = spec.kind
    if spec.kind and spec.fields:
        descriptor = next(d for d in registry if get_flow_ref(d.flow) == spec.flow)
        lookups["process_id__in"] = descriptor.kind_filter_processes(spec.kind, dict(spec.fields))
    if spec.stage:
        lookups["stage_name"] = spec.stage
    if spec.overdue:
        lookups["due_at__lt"] = now or timezone.now()
    if spec.amount_min is not None:
        lookups["amount__gte"] = spec.amount_min
    if spec.amount_max is not None:
        lookups["amount__lte"] = spec.amount_max
    if spec.q:
        lookups["search__contains"] = spec.q.lower()
    if lookups:
        rows = rows.filter(**lookups)
    return rows.order_by(*SORTS.get(spec.sort, SORTS["due"]))


def stage_names() -> list[str]:
    """The stage names the stage filter offers: every approval policy stage's, and each process
    type's own (its descriptor's `stage_names`)."""
    with planned_cursor() as cursor:  # every list page asks: written once, prepared on the server
        cursor.execute(f"SELECT DISTINCT name FROM {PolicyStage._meta.db_table}")  # noqa: S608 - the model's table
        names = {name for (name,) in cursor.fetchall()}
    for descriptor in registry:
        names |= descriptor.stage_names()
    return sorted(names)


def task_eligible_users(task: Task, *, exclude: Any = None) -> QuerySet:
    """Active users who may hold `task` (processes.gate.may_hold): its candidate permission and its
    process type's `view_`, and not whoever started its process (segregation of duties)."""
    if not task.owner_permission:
        return get_user_model().objects.none()
    users = users_holding(*hold_permissions(task)).order_by("username")
    if exclude is not None:
        users = users.exclude(pk=exclude.pk)
    if not task_is_personal(task):
        users = users.exclude(pk=registry.for_task(task).starter_id(task.process))
    return users


def user_by_pk(pk: int) -> Any:
    return get_user_model().objects.filter(pk=pk, is_active=True).first()
