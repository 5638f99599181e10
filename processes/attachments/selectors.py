"""Read-side queries of attachments, and who may see a process."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from viewflow.workflow.models import Task

from processes.attachments.models import Attachment

PEOPLE_TASK_TYPES = ("HUMAN", "HUMAN_START")


def process_visible_to(*, user: Any, process: Any) -> bool:
    """May `user` see this process, its pages and its attachments?

    Superusers and the flow's managers see every process; its requester sees their own; anyone
    who holds or held one of its people's tasks, or may claim one (a candidate: the task's
    permission), sees it. Everyone else does not, even with the model-wide view permission.
    One query for the tasks; permissions come from the user's cached set.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or process.flow_class.instance.has_manage_permission(user):
        return True
    if not hasattr(process, "requester_id") and type(process) is not process.flow_class.process_class:
        process = process.coerced  # a base Process row: its flow's fields are one query away
    if getattr(process, "requester_id", None) == user.pk:
        return True
    tasks = Task.objects.filter(process_id=process.pk, flow_task_type__in=PEOPLE_TASK_TYPES).values_list(
        "owner_id", "owner_permission"
    )
    permissions = set()
    for owner_id, permission in tasks:
        if owner_id == user.pk:
            return True
        if permission:
            permissions.add(permission)
    return any(user.has_perm(permission) for permission in permissions)


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
