"""Attachments in the admin, read-only: what was attached to which process, by whom. The file is
downloaded through the portal's permission-checked view; its storage name is never shown."""

from __future__ import annotations

from django.contrib import admin
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from processes.admin_base import ReadOnlyAdmin, process_admin_link
from processes.attachments.models import Attachment


@admin.register(Attachment)
class AttachmentAdmin(ReadOnlyAdmin):
    """A process's files: name, size, type, process, uploader and a download link."""

    list_display = [
        "original_name",
        "file_size",
        "content_type",
        "process_link",
        "uploaded_by",
        "created_at",
        "download",
    ]
    list_filter = ["content_type", "created_at"]
    search_fields = ["original_name", "uploaded_by__username", "=process__id", "sha256"]
    list_select_related = ["process", "uploaded_by"]
    date_hierarchy = "created_at"
    # Not `storage_name`: where the bytes lie is nobody's business but the storage's.
    fields = [
        "original_name",
        "file_size",
        "content_type",
        "sha256",
        "process_link",
        "task",
        "uploaded_by",
        "created_at",
        "download",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # django-stubs types the two apart; names here

    @admin.display(description=_("size"), ordering="size")
    def file_size(self, attachment: Attachment) -> str:
        return filesizeformat(attachment.size)

    @admin.display(description=_("process"))
    def process_link(self, attachment: Attachment) -> str:
        return process_admin_link(attachment.process.flow_class, attachment.process_id)

    @admin.display(description=_("file"))
    def download(self, attachment: Attachment) -> str:
        # The portal's view checks again that the viewer may see the process (else 404).
        url = reverse("attachment_download", args=[attachment.pk])
        return format_html('<a href="{}">{}</a>', url, _("download"))
