from django.contrib import admin

from processes.admin_base import ReadOnlyAdmin
from processes.connectors.models import (
    ConnectorFaults,
    PaymentOperation,
    Product,
    SentEmail,
    Shipment,
    ShippingQuote,
    StockReservation,
)


@admin.register(ConnectorFaults)
class ConnectorFaultsAdmin(admin.ModelAdmin):
    """Failure injection: make a fake system slow, flaky or down to show and test failure paths."""

    list_display = [
        "connector",
        "error_rate",
        "refuse_next",
        "latency_ms",
        "timeout_rate",
        "timeout_seconds",
        "callback_drop_rate",
    ]
    list_editable = [
        "error_rate",
        "refuse_next",
        "latency_ms",
        "timeout_rate",
        "timeout_seconds",
        "callback_drop_rate",
    ]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "unit_price", "on_hand"]
    list_editable = ["on_hand"]
    search_fields = ["sku", "name"]


class _RecordAdmin(ReadOnlyAdmin):
    """What the fake system recorded: read-only, like another company's database."""


@admin.register(PaymentOperation)
class PaymentOperationAdmin(_RecordAdmin):
    list_display = ["created_at", "kind", "order_ref", "amount", "currency", "reference", "idempotency_key"]
    list_filter = ["kind"]
    search_fields = ["order_ref", "reference", "idempotency_key"]


@admin.register(StockReservation)
class StockReservationAdmin(_RecordAdmin):
    list_display = ["created_at", "order_ref", "status", "reference", "released_at"]
    list_filter = ["status"]


@admin.register(ShippingQuote)
class ShippingQuoteAdmin(_RecordAdmin):
    list_display = ["created_at", "order_ref", "carrier", "cost"]


@admin.register(Shipment)
class ShipmentAdmin(_RecordAdmin):
    list_display = ["created_at", "order_ref", "reference", "status", "callback_dropped", "callback_sent_at"]


@admin.register(SentEmail)
class SentEmailAdmin(_RecordAdmin):
    list_display = ["created_at", "to", "subject"]
