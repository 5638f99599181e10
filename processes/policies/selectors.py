"""Read-side queries of approval policies."""

from __future__ import annotations

import copy
from typing import Any

from django.contrib.auth.models import Group
from django.db import connection
from django.db.models import Count, Q, QuerySet

from processes.locks import prepared_read
from processes.policies.models import PolicyStage, PolicyVersion
from processes.registry import registry


def policy_version_published(*, policy_name: str) -> PolicyVersion | None:
    """The active version of a policy, with its policy (read from the database each time: a
    publish takes effect for the next request without a restart), or None when nothing is
    published. Every form submission asks (its currency is checked against the version it will
    pin): the query is compiled once a connection and planned once (processes/locks.py
    `prepared_read`, ADR 0033), per policy name, a plug-in's constant."""
    found = prepared_read(
        ("policies.published", policy_name),
        lambda: (
            PolicyVersion.objects.filter(policy__name=policy_name, status=PolicyVersion.Status.PUBLISHED)
            .select_related("policy")
            .order_by()
        ),  # one row at most (the constraint `policy_one_published`)
    ).run()
    return found[0] if found else None


# A published or retired version never changes (the admin shows it read-only; a change is a new
# draft: processes/policies/admin.py), so its stages, levels and calendar are kept in this process
# once read: a request's chain then costs one query, not two with four joins. That query reads the
# candidate groups (a group may be renamed) and checks that the version row is still the one kept
# (same id and creation time), so a database flushed or restored under a running process, which
# may give another version the same id, is read afresh. A draft is read each time. A write to a
# version, stage or level in this process forgets everything kept (`policy_chains_forget`).
_chains: dict[int, list[PolicyStage]] = {}
_CHAINS_KEPT = 256


def policy_chain_stages(version_id: int) -> list[PolicyStage]:
    """A version's stages in order, each with its version (the calendar), candidate group and
    levels at hand (an escalation target is read when an escalation asks for it): one query for a
    whole chain of a published version once this process has read it, however many stages and
    levels; three otherwise."""
    kept = _chains.get(version_id)
    if kept is not None:
        stages = _kept_with_groups(kept)
        if stages is not None:
            return stages
        _chains.pop(version_id, None)  # not the version kept: the database changed under us
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
    return _copies(kept, Group.objects.in_bulk({stage.group_id for stage in kept}))


def _kept_with_groups(kept: list[PolicyStage]) -> list[PolicyStage] | None:
    """Copies of the kept stages with their groups read now, or None when the version row is no
    longer the one kept (or a group is gone): one statement."""
    version = kept[0].version
    ids = sorted({stage.group_id for stage in kept})
    quote = connection.ops.quote_name
    version_table = quote(PolicyVersion._meta.db_table)
    created = quote(PolicyVersion._meta.get_field("created_at").column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.id, g.name, EXISTS (SELECT 1 FROM {version_table} v WHERE v.id = %s "  # noqa: S608
            f"AND v.{created} = %s) FROM {quote(Group._meta.db_table)} g "
            f"WHERE g.id IN ({', '.join(['%s'] * len(ids))})",
            [version.pk, connection.ops.adapt_datetimefield_value(version.created_at), *ids],
        )
        rows = cursor.fetchall()
    if len(rows) != len(ids) or not all(row[2] for row in rows):
        return None
    return _copies(kept, {row[0]: Group.from_db(connection.alias, ["id", "name"], row[:2]) for row in rows})


def _copies(kept: list[PolicyStage], groups: dict[int, Group]) -> list[PolicyStage]:
    """The caller's own copies of the kept stages (a group set on one stays there), with `groups`."""
    stages = [copy.copy(stage) for stage in kept]
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
