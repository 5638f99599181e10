"""Write-side use cases of attachments: add files to a process, sweep orphaned files."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import structlog
from django.conf import settings

from processes.attachments.checks import CheckedUpload, sha256_of
from processes.attachments.models import Attachment
from processes.attachments.storage import attachment_storage, storage_name_new
from processes.audit import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from viewflow.workflow.models import Process, Task

logger = structlog.get_logger(__name__)


def attachments_add(
    *, process: Process, uploads: list[CheckedUpload], user: User, task: Task | None = None
) -> list[Attachment]:
    """Store checked uploads (see checks.uploads_check) and attach them to `process`.

    Runs inside the caller's transaction, after the process row exists. The bytes are written
    first, under random names; if anything fails here, the files written so far are deleted
    before the error goes on. A failure later in the caller's transaction rolls the rows back
    but cannot delete the files: `attachments_sweep_orphans` (beat's housekeeping) removes
    files that have no row once they are older than ATTACHMENTS_ORPHAN_GRACE_SECONDS.
    """
    storage = attachment_storage()
    stored: list[str] = []
    try:
        attachments = []
        for checked in uploads:
            digest = sha256_of(checked.upload)
            name = storage.save(storage_name_new(), checked.upload)
            stored.append(name)
            attachment = Attachment(
                process=process,
                task=task,
                original_name=checked.name,
                content_type=checked.content_type,
                size=checked.upload.size,
                sha256=digest,
                storage_name=name,
                uploaded_by=user,
            )
            attachment.full_clean(exclude=["process", "task", "uploaded_by"])
            attachment.save()
            attachments.append(attachment)
        if attachments:
            audit_record(
                action="attachment.added",
                process=process,
                task=task,
                actor=user,
                details={"names": [attachment.original_name for attachment in attachments]},
            )
        return attachments
    except BaseException:
        for name in stored:
            storage.delete(name)
        raise


def attachments_sweep_orphans(*, grace_seconds: int | None = None) -> int:
    """Delete stored files that no attachment row names and that are older than the grace period
    (a younger one may belong to a transaction still running). Returns how many were deleted.

    Orphans come from a request that failed after its files were written, and from attachments
    deleted with their process. Safe to run twice at once: a missing file is skipped.
    """
    grace = settings.ATTACHMENTS_ORPHAN_GRACE_SECONDS if grace_seconds is None else grace_seconds
    root = str(settings.ATTACHMENTS_ROOT)
    if not os.path.isdir(root):
        return 0
    cutoff = time.time() - grace
    candidates = []
    for directory, _dirs, files in os.walk(root):
        for filename in files:
            path = os.path.join(directory, filename)
            try:
                if os.path.getmtime(path) <= cutoff:
                    candidates.append(os.path.relpath(path, root).replace(os.sep, "/"))
            except FileNotFoundError:
                continue
    storage = attachment_storage()
    deleted = 0
    for start in range(0, len(candidates), 500):
        batch = candidates[start : start + 500]
        known = set(Attachment.objects.filter(storage_name__in=batch).values_list("storage_name", flat=True))
        for name in batch:
            if name not in known:
                storage.delete(name)
                deleted += 1
    if deleted:
        logger.info("attachments.orphans_deleted", deleted=deleted)
    return deleted
