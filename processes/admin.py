from django.contrib import admin

from processes.models import AuditEvent, ProcessComment, PurchaseOrder, PurchaseProcess


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit trail, read-only: it is append-only everywhere."""

    list_display = ["created_at", "action", "actor_name", "process_id", "task_id", "correlation_id"]
    list_filter = ["action"]
    search_fields = ["correlation_id", "actor_name", "action"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PurchaseProcess)
class PurchaseProcessAdmin(admin.ModelAdmin):
    list_display = ["pk", "title", "amount", "currency", "requester", "status", "approved", "created"]
    list_filter = ["status", "approved", "currency"]
    search_fields = ["title", "correlation_id", "requester__username"]
    readonly_fields = [
        "correlation_id",
        "flow_class",
        "status",
        "created",
        "finished",
        "approved",
        "requester",
    ]
    fields = ["title", "amount", "currency", "justification", *readonly_fields]

    def has_add_permission(self, request):
        return False  # requests start in the portal, through the flow


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(admin.ModelAdmin):
    list_display = ["number", "process", "created_at"]
    readonly_fields = ["number", "process", "idempotency_key", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(ProcessComment)
class ProcessCommentAdmin(admin.ModelAdmin):
    list_display = ["created_at", "author", "process", "text"]
    readonly_fields = ["process", "task", "author", "created_at"]
