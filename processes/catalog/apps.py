from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Process types that process admins define as data in the admin (a request form and an
    approval chain, versioned), all run by one generic flow: a plug-in of the core."""

    name = "processes.catalog"
    label = "catalog"
    verbose_name = "Process catalog"

    def ready(self) -> None:
        from processes.catalog import receivers  # noqa: F401  # the policy life cycle's signals
