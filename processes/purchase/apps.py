from django.apps import AppConfig


class PurchaseConfig(AppConfig):
    """The purchase request process: a plug-in of the core (processes/registry.py). Its tables
    keep the names they had under the `processes` label (ADR 0012)."""

    name = "processes.purchase"
    label = "purchase"
    verbose_name = "Purchase requests"
