"""The catalog's part in the core's policy version life cycle (processes/policies/signals.py):
a version of a process type's chain has the type's request form beside it. And its part in the
webhooks out (processes/webhooks/): a request's outcome in its `process.completed` event."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from processes.catalog.fields import field_problems, field_specs
from processes.catalog.models import MANAGED_BY, FormField
from processes.catalog.selectors import version_fields
from processes.catalog.services import catalog_rights_grant
from processes.catalog.signals import request_finished
from processes.policies.models import PolicyVersion
from processes.policies.signals import (
    version_checking,
    version_copied,
    version_form_fields,
    version_published,
)
from processes.webhooks.services import webhook_process_completed_amend


def _ours(version: PolicyVersion) -> bool:
    return version.policy.managed_by == MANAGED_BY


@receiver(version_form_fields, sender=PolicyVersion)
def catalog_form_specs(sender: Any, version: PolicyVersion, **kwargs: Any) -> Any:
    return field_specs(version_fields(version)) if _ours(version) else None


@receiver(version_checking, sender=PolicyVersion)
def catalog_form_problems(sender: Any, version: PolicyVersion, **kwargs: Any) -> list[str]:
    return field_problems(version_fields(version)) if _ours(version) else []


@receiver(version_copied, sender=PolicyVersion)
def catalog_form_copy(sender: Any, source: PolicyVersion, draft: PolicyVersion, **kwargs: Any) -> None:
    if not _ours(source):
        return
    fields = version_fields(source)
    for field in fields:
        field.pk = None
        field.version = draft
    FormField.objects.bulk_create(fields)


@receiver(version_published, sender=PolicyVersion)
def catalog_published(sender: Any, version: PolicyVersion, **kwargs: Any) -> None:
    if _ours(version):
        catalog_rights_grant(process_type=version.policy.process_type)


@receiver(request_finished, dispatch_uid="processes.catalog.webhook_outcome")
def catalog_webhook_outcome(sender: Any, process: Any, approved: bool, outcome: str, **kwargs: Any) -> None:
    """The request's outcome in the `process.completed` webhook event (processes/webhooks/),
    queued in the decision's transaction like the event itself."""
    webhook_process_completed_amend(
        process=process,
        outcome="approved" if approved else "rejected",
        on_finish=outcome,
        type_slug=process.process_type.slug,
    )
