"""The task list's rows in the admin, read-only: they are derived from viewflow's tasks and kept in
the task's transaction, so an edit here would only make a list lie."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.status import STATUS

from processes.admin_base import ReadOnlyAdmin, process_admin_link
from processes.registry import registry
from processes.tasklist.models import OPEN_STATUSES, TaskRow
from processes.tasklist.selectors import stage_names
from processes.tasklist.views import task_page_url

# A human task's statuses as its row holds them (STARTED is never saved for a human task).
_ROW_STATUSES = (STATUS.NEW, STATUS.ASSIGNED, STATUS.DONE, STATUS.CANCELED)


class _ExactFilter(admin.SimpleListFilter):
    """Rows whose `field` is the chosen value; the choices come from code, not from a DISTINCT
    over a table of a row per human task ever created."""

    field = ""

    def queryset(self, request, queryset):
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class _StatusFilter(_ExactFilter):
    title = _("status")
    parameter_name = field = "status"

    def lookups(self, request, model_admin):
        return [(status.value, status.label) for status in _ROW_STATUSES]


class _FlowFilter(_ExactFilter):
    """The process types from the flows themselves."""

    title = _("process type")
    parameter_name = "flow"
    field = "flow_class"

    def lookups(self, request, model_admin):
        return [(get_flow_ref(flow), flow.process_title) for flow in registry.flows()]


class _StageFilter(_ExactFilter):
    """The stages the task list's own filter offers."""

    title = _("stage")
    parameter_name = "stage"
    field = "stage_name"

    def lookups(self, request, model_admin):
        return [(name, name) for name in stage_names()]


class _OverdueFilter(admin.SimpleListFilter):
    """Open tasks past their due time."""

    title = _("overdue")
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return [("yes", _("Overdue")), ("no", _("Not overdue"))]

    def queryset(self, request, queryset):
        overdue = {"status__in": OPEN_STATUSES, "due_at__lt": timezone.now()}
        if self.value() == "yes":
            return queryset.filter(**overdue)
        if self.value() == "no":
            return queryset.exclude(**overdue)
        return queryset


@admin.register(TaskRow)
class TaskRowAdmin(ReadOnlyAdmin):
    """One row per human task, as the task lists show it; links to the task's page in the portal
    and to its process's admin page."""

    list_display = [
        "task_id",
        "subject",
        "process_type",
        "node",
        "stage_name",
        "status",
        "owner",
        "priority",
        "due_at",
        "overdue",
        "created",
        "portal_page",
        "process_link",
    ]
    list_filter = [_StatusFilter, _FlowFilter, _StageFilter, _OverdueFilter, "priority"]
    search_fields = ["subject", "requester", "owner__username", "=task__id", "=process__id"]
    list_select_related = ["owner"]
    # The table holds a row per human task ever created: no second count, no per-filter counts.
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "task_id",
        "process_link",
        "portal_page",
        "process_type",
        "node",
        "subject",
        "requester",
        "amount",
        "currency",
        "stage_name",
        "owner_permission",
        "owner",
        "status",
        "priority",
        "due_at",
        "overdue",
        "created",
        "finished",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # django-stubs types the two apart; names here

    @admin.display(description=_("process type"))
    def process_type(self, row: TaskRow) -> str:
        return str(row.flow.process_title) if row.flow else ""  # type: ignore[attr-defined]  # a viewflow Flow class

    @admin.display(description=_("overdue"), boolean=True)
    def overdue(self, row: TaskRow) -> bool:
        return row.is_overdue(timezone.now())

    @admin.display(description=_("task page"))
    def portal_page(self, row: TaskRow) -> str:
        url = task_page_url(row) if row.flow else ""
        return format_html('<a href="{}">{}</a>', url, _("open in the portal")) if url else ""

    @admin.display(description=_("process"))
    def process_link(self, row: TaskRow) -> str:
        return process_admin_link(row.flow, row.process_id)
