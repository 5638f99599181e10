"""Read-side queries of attachments (who may see their process: processes.gate)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from processes.attachments.models import Attachment
from processes.gate import process_visible_to


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
