"""Read-side queries of approval policies."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth.models import Group
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


# A published or retired version never changes (the admin shows it read-only; a change is a new
# draft: processes/policies/admin.py), so its stages, levels and calendar are kept in this process once
# read: a request's chain costs one query (the candidate groups, whose names may change), not two
# with four joins. A draft is read each time. Any write to a version, stage or level in this
# process forgets them all (`policy_chains_forget`), which also keeps tests from seeing a chain
# of an earlier test's version that had the same id.
_chains: dict[int, list[PolicyStage]] = {}
_CHAINS_KEPT = 256


def policy_chain_stages(version_id: int) -> list[PolicyStage]:
    """A version's stages in order, each with its version (the calendar), candidate group and
    levels at hand (an escalation target is read when an escalation asks for it): one query for a
    whole chain of a published version, however many stages and levels, and two for a draft."""
    kept = _chains.get(version_id)
    if kept is None:
        kept = list(
            PolicyStage.objects.filter(version_id=version_id)
            .select_related("version")
            .prefetch_related("levels")
            .order_by("order")
        )
        if kept and kept[0].version.status != PolicyVersion.Status.DRAFT:
            if len(_chains) >= _CHAINS_KEPT:
                _chains.clear()
            _chains[version_id] = kept
    stages = [copy.copy(stage) for stage in kept]  # the caller's own: a group set here stays here
    groups = Group.objects.in_bulk({stage.group_id for stage in stages})
    for stage in stages:
        stage.group = groups[stage.group_id]
    return stages


def policy_chains_forget(**kwargs: Any) -> None:
    """`post_save` and `post_delete` receiver of versions, stages and levels."""
    _chains.clear()


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
