from django.apps import AppConfig


class OrdersConfig(AppConfig):
    """The order-to-cash process: a plug-in of the core (processes/registry.py). Its tables keep
    the names they had under the `processes` label (ADR 0012)."""

    name = "processes.orders"
    label = "orders"
    verbose_name = "Orders"
