"""Read-side queries of approval policies."""

from __future__ import annotations

from django.db.models import Count, Q

from processes.policies.models import PolicyStage, PolicyVersion

PURCHASE_POLICY = "purchase"


def policy_version_published(*, policy_name: str = PURCHASE_POLICY) -> PolicyVersion | None:
    """The active version of a policy (read from the database each time: a publish takes effect
    for the next request without a restart), or None when nothing is published."""
    return (
        PolicyVersion.objects.filter(policy__name=policy_name, status=PolicyVersion.Status.PUBLISHED)
        .select_related("policy")
        .first()
    )


def policy_chain_stages(version_id: int) -> list[PolicyStage]:
    """A version's stages in order, each with its version (the calendar), candidate group and
    escalation levels at hand: two queries for a whole chain, however many stages and levels."""
    return list(
        PolicyStage.objects.filter(version_id=version_id)
        .select_related("version", "group")
        .prefetch_related("levels")
        .order_by("order")
    )


def policy_stages(version: PolicyVersion) -> list[PolicyStage]:
    """A version's stages in order (prefetched ones when the caller prefetched them)."""
    return sorted(version.stages.all(), key=lambda stage: stage.order)


def policy_versions_with_running_counts():
    """Versions with the number of purchase processes pinned to them that are still running."""
    return PolicyVersion.objects.annotate(
        running=Count("purchase_processes", filter=Q(purchase_processes__status="NEW"))
    )
