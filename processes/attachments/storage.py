"""The private store of attachment bytes: a directory under var/, never served as static or media."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.files.storage import FileSystemStorage


def attachment_storage() -> FileSystemStorage:
    """The store, built on each use (cheap) so that it always follows ATTACHMENTS_ROOT.

    No base_url: these files have no public URL; the attachment view streams them.
    """
    return FileSystemStorage(
        location=settings.ATTACHMENTS_ROOT,
        base_url=None,
        file_permissions_mode=0o600,
        directory_permissions_mode=0o700,
    )


def storage_name_new() -> str:
    """A random name (no extension, nothing from the uploader), fanned out over 256 directories."""
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"
