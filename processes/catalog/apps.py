from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """Process types that process admins define as data in the admin (a request form and an
    approval chain, versioned), all run by one generic flow: a plug-in of the core."""

    name = "processes.catalog"
    label = "catalog"
    verbose_name = "Process catalog"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from processes.catalog import receivers  # noqa: F401  # the policy life cycle's signals
        from processes.catalog.models import FormField
        from processes.catalog.selectors import version_fields_forget
        from processes.policies.models import PolicyVersion

        # Published versions' form fields are kept once read; a write forgets them.
        for model in (FormField, PolicyVersion):
            for signal in (post_save, post_delete):
                signal.connect(
                    version_fields_forget, sender=model, dispatch_uid=f"catalog.forms.forget.{model.__name__}"
                )
