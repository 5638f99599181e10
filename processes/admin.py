from django.contrib import admin

from processes.connectors import admin as connectors_admin  # noqa: F401 - registers the connectors' admin
from processes.models import (
    AuditEvent,
    OrderPolicy,
    OrderProcess,
    ProcessComment,
    PurchaseOrder,
    PurchaseProcess,
)


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


@admin.register(OrderProcess)
class OrderProcessAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "customer_name",
        "total",
        "currency",
        "payment_method",
        "fraud_score",
        "outcome",
        "status",
        "created",
    ]
    list_filter = ["status", "outcome", "payment_method"]
    search_fields = ["customer_name", "customer_email", "correlation_id"]
    readonly_fields = [
        "correlation_id",
        "flow_class",
        "status",
        "created",
        "finished",
        "lines",
        "total",
        "fraud_score",
        "fraud_threshold",
        "fraud_cleared",
        "authorization_ref",
        "capture_ref",
        "reservation_ref",
        "shipping_cost",
        "outcome",
    ]
    fields = ["customer_name", "customer_email", "payment_method", "shipping_address", *readonly_fields]

    def has_add_permission(self, request):
        return False  # orders start in the portal or through the API, through the flow


@admin.register(OrderPolicy)
class OrderPolicyAdmin(admin.ModelAdmin):
    list_display = ["fraud_threshold"]

    def has_add_permission(self, request):
        return not OrderPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
