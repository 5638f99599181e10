"""Read-side queries of approval policies."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from processes.policies.models import PolicyStage, PolicyVersion
from processes.registry import registry


def policy_version_published(*, policy_name: str) -> PolicyVersion | None:
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


def running_processes_pinned(version_ids: list[int]) -> dict[int, list[tuple[Any, int]]]:
    """Per version id: each process type (its descriptor) with running processes pinned to it,
    and how many. One query per process type that pins policies (its `policy_field`)."""
    counts: dict[int, list[tuple[Any, int]]] = {pk: [] for pk in version_ids}
    for descriptor in registry:
        if descriptor.policy_field is None:
            continue
        model = descriptor.flow.process_class
        rows = (
            model._default_manager.filter(status="NEW", **{f"{descriptor.policy_field}__in": version_ids})
            .values_list(descriptor.policy_field)
            .annotate(n=Count("pk"))
        )
        for version_id, n in rows:
            counts[version_id].append((descriptor, n))
    return counts
