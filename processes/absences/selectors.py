"""Reads of absences: who stands in for whom now, which rights a substitute lacks, and whose
absence a manager may set (their team)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone
from viewflow.workflow.models import Task

from processes.absences.models import Absence
from processes.gate import is_process_manager, view_permission
from processes.locks import prepared_read
from processes.notifications.audiences import users_holding
from processes.policies.models import is_candidate_permission
from processes.registry import registry


def absence_active_for(user: Any, at: datetime | None = None) -> Absence | None:
    """`user`'s absence in force at `at` (now), with its substitute, or None."""
    if user is None or getattr(user, "pk", None) is None:
        return None
    return (
        Absence.objects.active_at(at or timezone.now())
        .filter(user_id=user.pk)
        .select_related("substitute", "user")
        .first()
    )


def absence_substitute_for(user: Any, at: datetime | None = None) -> Any:
    """The active substitute of `user` at `at` (now), or None when they are not absent."""
    absence = absence_active_for(user, at)
    return absence.substitute if absence is not None else None


def absences_active_by_user(user_ids: Iterable[int], at: datetime | None = None) -> dict[int, Absence]:
    """The absences in force at `at` (now) of those of `user_ids` who are away, by user id: one
    query however many users."""
    ids = {int(pk) for pk in user_ids if pk is not None}
    if not ids:
        return {}
    absences = Absence.objects.active_at(at or timezone.now()).filter(user_id__in=ids)
    return {absence.user_id: absence for absence in absences.select_related("user", "substitute")}


def absences_stood_in_for(user: Any, at: datetime | None = None) -> list[Absence]:
    """The absences in force in which `user` is the substitute (the inbox's "on behalf of")."""
    return list(
        Absence.objects.active_at(at or timezone.now()).filter(substitute_id=user.pk).select_related("user")
    )


def absences_of(user: Any) -> QuerySet[Absence]:
    """`user`'s current and coming absences (not cancelled, not over), soonest first."""
    return (
        Absence.objects.filter(user_id=user.pk, cancelled_at__isnull=True, ends_at__gt=timezone.now())
        .select_related("substitute", "set_by")
        .order_by("starts_at")
    )


def absence_by_pk(pk: int) -> Absence | None:
    return Absence.objects.select_related("user", "substitute").filter(pk=pk).first()


# ---------------------------------------------------------------- rights


def _node_permissions() -> set[str]:
    """The candidate permissions the registered flows' nodes declare (`.Permission(...)`)."""
    permissions = set()
    for flow_class in registry.flows():
        for node in flow_class.instance.nodes():
            permission = getattr(node, "_owner_permission", None)
            if isinstance(permission, str):
                permissions.add(permission)
    return permissions


def task_holding_permissions(user: Any) -> set[str]:
    """The permissions `user` holds that let them hold tasks: the candidate permissions of every
    registered flow's nodes and of the approval policies' queues, and each process type's `view_`
    permission (processes.gate.hold_permissions)."""
    held = user.get_all_permissions()
    wanted = _node_permissions() | {view_permission(flow) for flow in registry.flows()}
    return {p for p in held if p in wanted or is_candidate_permission(p)}


def rights_missing(*, user: Any, substitute: Any) -> list[str]:
    """The task-holding permissions `user` has and `substitute` lacks (sorted; empty: same rights)."""
    return sorted(task_holding_permissions(user) - substitute.get_all_permissions())


def permission_names(permissions: Iterable[str]) -> list[str]:
    """The permissions' names as the admin shows them ("Candidate for tasks of group finance")."""
    from django.contrib.auth.models import Permission

    names = []
    for permission in permissions:
        app_label, _sep, codename = permission.partition(".")
        row = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
        names.append(row.name if row is not None else permission)
    return names


# ---------------------------------------------------------------- teams


def _team_permissions(manager: Any) -> set[str]:
    """The permissions that let someone hold a task of a process type `manager` manages."""
    from processes.tasklist.models import TaskRow

    flows = [flow for flow in registry.flows() if is_process_manager(manager, flow)]
    permissions: set[str] = set()
    for flow in flows:
        for node in flow.instance.nodes():
            permission = getattr(node, "_owner_permission", None)
            if isinstance(permission, str):
                permissions.add(permission)
    if flows:
        permissions.update(
            TaskRow.objects.filter(flow_class__in=flows)
            .exclude(owner_permission__isnull=True)
            .exclude(owner_permission="")
            .values_list("owner_permission", flat=True)
            .distinct()
        )
    return permissions


def team_members(manager: Any) -> QuerySet:
    """The active users who may hold tasks of a process type `manager` manages (the team whose
    absences they may set), by username; none for someone who manages nothing."""
    users = get_user_model().objects.none()
    for permission in sorted(_team_permissions(manager)):
        users = users | users_holding(permission)
    return users.filter(is_active=True).distinct().order_by("username")


def may_set_absence_for(actor: Any, user: Any) -> bool:
    """May `actor` set or cancel `user`'s absence? Themselves, a superuser, or a manager of a
    process type whose tasks `user` may hold."""
    if actor is None or not actor.is_authenticated or not actor.is_active or user is None:
        return False
    if actor.pk == user.pk or actor.is_superuser:
        return True
    return team_members(actor).filter(pk=user.pk).exists()


def substitute_candidates(user: Any) -> QuerySet:
    """The active users who hold every task-holding right of `user`, but `user`: the substitutes
    offered (the service checks the choice again on save)."""
    return users_holding(*sorted(task_holding_permissions(user))).exclude(pk=user.pk).order_by("username")


def absences_concerning(user: Any, at: datetime | None = None) -> tuple[Absence | None, list[Absence]]:
    """For the task lists' banner, in one query: `user`'s own absence in force, and the absences in
    force in which they stand in for someone."""
    own, standing_in = None, []
    at = at or timezone.now()
    # every list page asks: compiled once a connection and prepared on the server (ADR 0033)
    absences = prepared_read(("absences.concerning",), _concerning, at, user.pk).run()
    for absence in absences:
        if absence.user_id == user.pk:
            own = absence
        else:
            standing_in.append(absence)
    return own, standing_in


def _concerning(at: datetime, user_pk: int) -> QuerySet[Absence]:
    """Absences in force at `at` of user `user_pk` or in which they stand in, with both users."""
    return (
        Absence.objects.active_at(at)
        .filter(Q(user_id=user_pk) | Q(substitute_id=user_pk))
        .select_related("user", "substitute")
    )


def tasks_on_behalf(task_ids: Iterable[int]) -> dict[int, str]:
    """Of `task_ids`, those held on behalf of an absent user: task id -> that user's username."""
    from processes.audit import ON_BEHALF_KEY

    result = {}
    for pk, owner_id, data in Task.objects.filter(pk__in=list(task_ids)).values_list(
        "pk", "owner_id", "data"
    ):
        mark = (data or {}).get(ON_BEHALF_KEY) or {}
        if owner_id is not None and mark.get("substitute_id") == owner_id:
            result[pk] = str(mark.get("user", ""))
    return result


def user_for_absence(pk: int) -> Any:
    """An active user by id (whose absence a manager opens), or None."""
    return get_user_model().objects.filter(pk=pk, is_active=True).first()
