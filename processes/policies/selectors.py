"""Read-side queries of approval policies."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet

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
    """A version's stages in order, each with its version (the calendar), candidate group,
    escalation target and levels at hand: two queries for a whole chain, however many stages and
    levels."""
    return list(
        PolicyStage.objects.filter(version_id=version_id)
        .select_related("version", "group", "escalation_group", "escalation_user")
        .prefetch_related("levels")
        .order_by("order")
    )


def policy_stages(version: PolicyVersion) -> list[PolicyStage]:
    """A version's stages in order (prefetched ones when the caller prefetched them)."""
    return sorted(version.stages.all(), key=lambda stage: stage.order)


def _pinning() -> list[Any]:
    """The process types that pin approval policy versions (their descriptor's `policy_field`)."""
    return [descriptor for descriptor in registry if descriptor.policy_field is not None]


def _running_key(descriptor: Any) -> str:
    opts = descriptor.flow.process_class._meta
    return f"running_{opts.app_label}_{opts.model_name}"


def policy_versions_with_running_counts(versions: QuerySet[Any] | None = None) -> QuerySet[Any]:
    """Versions annotated with how many running processes of each pinning process type pinned
    them (read with `running_pinned`): one query for a page of versions, whatever the types."""
    annotations = {}
    for descriptor in _pinning():
        field = descriptor.flow.process_class._meta.get_field(descriptor.policy_field)
        related = field.related_query_name()
        annotations[_running_key(descriptor)] = Count(
            related, filter=Q(**{f"{related}__status": "NEW"}), distinct=True
        )
    return (versions if versions is not None else PolicyVersion.objects.all()).annotate(**annotations)


def running_pinned(version: PolicyVersion) -> list[tuple[Any, int]]:
    """Each process type with running processes pinned to `version` (one annotated by
    `policy_versions_with_running_counts`), and how many."""
    counts = [(descriptor, getattr(version, _running_key(descriptor))) for descriptor in _pinning()]
    return [(descriptor, n) for descriptor, n in counts if n]
