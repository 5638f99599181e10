"""Read-side queries of attachments, and who may see a process."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet
from viewflow.workflow.models import Task

from processes.attachments.models import Attachment

PEOPLE_TASK_TYPES = ("HUMAN", "HUMAN_START")


def processes_visible_ids(*, user: Any, processes: Iterable[Any]) -> set[int]:
    """The ids of those `processes` that `user` may see: their pages, attachments and notifications.

    Superusers and a flow's managers see all of its processes; a requester sees their own; anyone
    who holds, held or may claim (holds the permission of) one of a process's people's tasks sees
    it. Everyone else does not, even with the model-wide view permission. Flows that do not opt
    in (`visible_per_process = True` on the flow class) keep viewflow's own check. At most one
    query for the tasks and one per flow for the requesters, however many processes.
    """
    if not user.is_authenticated or not user.is_active:
        return set()
    visible: set[int] = set()
    pending: dict[type, list[Any]] = defaultdict(list)
    for process in processes:
        flow = process.flow_class
        if user.is_superuser:
            visible.add(process.pk)
        elif not getattr(flow, "visible_per_process", False):
            if flow.instance.has_view_permission(user, process):
                visible.add(process.pk)
        elif flow.instance.has_manage_permission(user):
            visible.add(process.pk)
        else:
            pending[flow].append(process)
    if not pending:
        return visible
    for flow, flow_processes in pending.items():
        known = [p for p in flow_processes if hasattr(p, "requester_id")]
        visible.update(p.pk for p in known if p.requester_id == user.pk)
        unknown = [p.pk for p in flow_processes if not hasattr(p, "requester_id")]
        if unknown and hasattr(flow.process_class, "requester"):
            visible.update(
                flow.process_class.objects.filter(pk__in=unknown, requester_id=user.pk).values_list(
                    "pk", flat=True
                )
            )
    rest = [p.pk for flow_processes in pending.values() for p in flow_processes if p.pk not in visible]
    if rest:
        tasks = Task.objects.filter(process_id__in=rest, flow_task_type__in=PEOPLE_TASK_TYPES).values_list(
            "process_id", "owner_id", "owner_permission"
        )
        for process_id, owner_id, permission in tasks:
            if owner_id == user.pk or (permission and user.has_perm(permission)):
                visible.add(process_id)
    return visible


def process_visible_to(*, user: Any, process: Any) -> bool:
    """May `user` see this process? (processes_visible_ids for one process.)"""
    return process.pk in processes_visible_ids(user=user, processes=[process])


def attachments_of(process: Any) -> QuerySet[Attachment]:
    """A process's attachments, oldest first, with their uploader."""
    return (
        Attachment.objects.filter(process_id=process.pk)
        .select_related("uploaded_by")
        .order_by("created_at", "pk")
    )


def attachment_for_user(*, user: Any, attachment_id: int) -> Attachment | None:
    """The attachment, if `user` may see its process; None otherwise (the view answers 404)."""
    attachment = Attachment.objects.select_related("process").filter(pk=attachment_id).first()
    if attachment is None or not process_visible_to(user=user, process=attachment.process):
        return None
    return attachment
