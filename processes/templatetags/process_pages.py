"""Panels of the process and task pages: attachments and the flow diagram."""

from __future__ import annotations

from django import template
from django.urls import reverse

from processes.attachments.selectors import attachments_of
from processes.pages import process_chart_svg
from processes.registry import registry
from processes.selectors import process_manage_panel

register = template.Library()


@register.inclusion_tag("processes/attachments.html")
def process_attachments(process):
    return {
        "rows": [
            {"attachment": attachment, "url": reverse("attachment_download", args=[attachment.pk])}
            for attachment in attachments_of(process)
        ]
    }


@register.inclusion_tag("processes/process_diagram.html")
def process_diagram(process):
    return {"svg": process_chart_svg(process), "process": process}


@register.filter
def type_title(process) -> str:
    """The name of the process's type (a catalog type's own name, else the flow's title)."""
    process = process.coerced if process.flow_class else process
    return registry.for_process(process).type_title(process)


@register.inclusion_tag("processes/process_manage.html")
def process_manage(process, user):
    """The Manage panel: shown to the process's managers while it runs, to nobody else."""
    return {"panel": process_manage_panel(process, user)}


@register.inclusion_tag("processes/task_on_behalf.html")
def task_on_behalf(task):
    """The notice on a task held on behalf of someone away (processes/absences/, ADR 0023)."""
    from processes.audit import ON_BEHALF_KEY

    mark = (getattr(task, "data", None) or {}).get(ON_BEHALF_KEY) or {}
    held = task is not None and task.owner_id is not None and mark.get("substitute_id") == task.owner_id
    return {"user": mark.get("user", "") if held else "", "holder": task.owner if held else None}
