"""Orders and the order policy in the admin (orders change through the flow only)."""

from django.contrib import admin

from processes.orders.models import OrderPolicy, OrderProcess


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
        "fraud_review_sla",
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
    list_display = ["fraud_threshold", "fraud_review_sla"]

    def has_add_permission(self, request):
        return not OrderPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
