"""Serving an attachment: only to people who may see its process, always as a download."""

from __future__ import annotations

import structlog
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from processes.attachments.selectors import attachment_for_user
from processes.attachments.storage import attachment_storage

logger = structlog.get_logger(__name__)


@require_GET
def attachment_download(request, attachment_id: int):
    # 404, not 403, for someone who may not see the process: the attachment's existence is not theirs to know.
    attachment = attachment_for_user(user=request.user, attachment_id=attachment_id)
    if attachment is None:
        raise Http404("No such attachment")
    try:
        stream = attachment_storage().open(attachment.storage_name, "rb")
    except FileNotFoundError as exc:
        logger.error(
            "attachments.file_missing", attachment=attachment.pk, storage_name=attachment.storage_name
        )
        raise Http404("No such attachment") from exc
    response = FileResponse(
        stream, as_attachment=True, filename=attachment.original_name, content_type=attachment.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
