from django.apps import AppConfig


class ExpenseConfig(AppConfig):
    """The expense claim process: a plug-in of the core (processes/registry.py) that lives in the
    test suite only. Nothing under processes/ or portal/ imports it."""

    name = "tests.plugins.expense"
    label = "expense"
    verbose_name = "Expense claims"
