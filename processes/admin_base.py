from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from viewflow.workflow.models import Process


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits by hand: the audit trail, incidents, another system's data."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def process_admin_link(flow_class: Any, process_id: int | None) -> str:
    """A link to a process's admin page: its own type's (purchase request, order) when that is
    registered, else viewflow's. Empty without a process."""
    if process_id is None:
        return ""
    for model in (getattr(flow_class, "process_class", None), Process):
        if model is not None and admin.site.is_registered(model):
            opts = model._meta
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[process_id])
            return format_html('<a href="{}">#{}</a>', url, process_id)
    return str(process_id)
