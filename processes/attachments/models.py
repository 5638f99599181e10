"""Attachments of a process: the metadata row; the bytes live in the private attachment storage."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Attachment(models.Model):
    """A file a person attached to a process.

    The file is stored under a random name (`storage_name`) in ATTACHMENTS_ROOT, outside the
    static and media roots, and served only by the attachment view after a permission check.
    The name the uploader gave it is metadata, never a path. The content type is the one the
    upload checks derived from its extension and leading bytes, not the browser's claim.
    """

    process = models.ForeignKey("viewflow.Process", on_delete=models.CASCADE, related_name="attachments")
    # The task whose form brought it (None: the start form).
    task = models.ForeignKey(
        "viewflow.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    original_name = models.CharField(_("name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    storage_name = models.CharField(max_length=100, unique=True, editable=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return f"{self.original_name} (#{self.process_id})"
