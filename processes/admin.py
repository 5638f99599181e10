from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from viewflow.workflow import admin as viewflow_admin
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

from processes.actionlinks import admin as actionlinks_admin  # noqa: F401 - registers the action links' admin
from processes.admin_base import ReadOnlyAdmin
from processes.api import admin as api_admin  # noqa: F401 - registers the API clients' admin
from processes.attachments import admin as attachments_admin  # noqa: F401 - registers the attachments' admin
from processes.connectors import admin as connectors_admin  # noqa: F401 - registers the connectors' admin
from processes.exceptions import IncidentError
from processes.forms import IncidentSkipForm
from processes.mail import admin as mail_admin  # noqa: F401 - registers the outbox admin
from processes.messages import admin as messages_admin  # noqa: F401 - registers the received messages' admin
from processes.models import (
    AuditEvent,
    Incident,
    ProcessComment,
)
from processes.policies import admin as policies_admin  # noqa: F401 - registers the policies' admin
from processes.services import incident_retry, incident_skip
from processes.tasklist import admin as tasklist_admin  # noqa: F401 - registers the task list rows' admin
from processes.webhooks import admin as webhooks_admin  # noqa: F401 - registers the webhooks' admin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit trail, read-only: it is append-only everywhere."""

    list_display = ["created_at", "action", "actor_name", "process_id", "task_id", "correlation_id"]
    list_filter = ["action"]
    search_fields = ["correlation_id", "actor_name", "action"]
    date_hierarchy = "created_at"


@admin.register(ProcessComment)
class ProcessCommentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "author", "process", "text"]
    readonly_fields = ["process", "task", "author", "created_at"]


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdmin):
    """Failed automated steps, with error and traceback; retry or skip (with a reason) as actions."""

    list_display = ["pk", "process", "step", "finished", "attempts", "error"]
    list_filter = ["process__flow_class"]
    readonly_fields = ["process", "step", "finished", "attempts", "error", "traceback", "idempotency_key"]
    fields = readonly_fields  # type: ignore[assignment]  # django-stubs types the two apart; names here
    actions = ["retry", "skip"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(flow_task_type="JOB", status=STATUS.ERROR)
            .select_related("process")
        )

    @admin.display(description=_("step"))
    def step(self, obj):
        return obj.flow_task.task_title

    @admin.display(description=_("attempts"))
    def attempts(self, obj):
        return len((obj.data or {}).get("attempts") or [])

    @admin.display(description=_("error"))
    def error(self, obj):
        return ((obj.data or {}).get("_exception") or {}).get("title", "")

    @admin.display(description=_("traceback"))
    def traceback(self, obj):
        return format_html("<pre>{}</pre>", ((obj.data or {}).get("_exception") or {}).get("traceback", ""))

    @admin.display(description=_("idempotency key"))
    def idempotency_key(self, obj):
        return (obj.data or {}).get("idempotency_key", "")

    def _each(self, request, queryset, action):
        done = 0
        for task in queryset:
            try:
                action(task)
                done += 1
            except (IncidentError, PermissionDenied) as exc:
                self.message_user(request, f"#{task.pk}: {exc}", messages.ERROR)
        return done

    @admin.action(description=_("Retry the selected steps (same idempotency key)"))
    def retry(self, request, queryset):
        done = self._each(request, queryset, lambda task: incident_retry(task=task, user=request.user))
        self.message_user(request, f"{done} step(s) run again.", messages.SUCCESS)

    @admin.action(description=_("Skip the selected steps (asks for a reason)"))
    def skip(self, request, queryset):
        form = IncidentSkipForm(request.POST if "reason" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            done = self._each(
                request, queryset, lambda task: incident_skip(task=task, user=request.user, reason=reason)
            )
            self.message_user(request, f"{done} step(s) skipped.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "admin/processes/incident_skip.html",
            {
                **self.admin_site.each_context(request),
                "form": form,
                "incidents": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


# viewflow's own process and task admins edit raw fields (a task's data and candidate permission,
# a process's data) past the flow's state machine, its lock and the authorization gate
# (processes/gate.py). Here they only show: a running instance is changed through the portal's
# services (claim, delegate, reassign, retry, skip), which go through the gate.
for _model, _admin_class in ((Process, viewflow_admin.ProcessAdmin), (Task, viewflow_admin.TaskAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(f"ReadOnly{_admin_class.__name__}", (ReadOnlyAdmin, _admin_class), {}))
