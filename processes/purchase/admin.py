"""The purchase requests and purchase orders in the admin (changed through the flow only)."""

from django.contrib import admin

from processes.purchase.models import PurchaseOrder, PurchaseProcess


@admin.register(PurchaseProcess)
class PurchaseProcessAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "title",
        "amount",
        "currency",
        "requester",
        "status",
        "approved",
        "policy_version",
        "stage_order",
        "created",
    ]
    list_filter = ["status", "approved", "currency", "policy_version"]
    search_fields = ["title", "correlation_id", "requester__username"]
    readonly_fields = [
        "correlation_id",
        "flow_class",
        "status",
        "created",
        "finished",
        "approved",
        "requester",
        "policy_version",
        "stage_order",
        "revision",
        "withdrawn",
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
