"""Who hears of what: the users who hold a permission, and the channels a user may listen on."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from processes.auth import permission_tables
from processes.notifications.channels import perm_channel, user_channel
from processes.policies.models import is_candidate_permission
from processes.registry import registry


@functools.cache
def _holders_sql(count: int) -> str:
    """The ids of the users who hold each of `count` permissions, through a group or directly,
    with two parameters per permission (its app label and codename). The permissions' ids are
    looked up once (`perm`), and each user's distinct names among their grants are counted (a
    name two models of one app both define is held through either, as `has_perm` says). SQL
    because it is on every task state change's path (a queued task's candidates): Django builds
    and relabels the same thing as nested subqueries, several milliseconds each time, and one
    join of the permission tables per permission and per path took PostgreSQL twice as long to
    plan as this (docs/benchmarks.md, issue 16)."""
    t = permission_tables()
    named = " OR ".join(["(ct.app_label = %s AND p.codename = %s)"] * count)
    return (
        f"WITH perm AS (SELECT p.id, ct.app_label || '.' || p.codename AS name FROM {t.permission} p "  # noqa: S608
        f"JOIN {t.content_type} ct ON ct.id = p.content_type_id WHERE {named}) "
        f"SELECT h.holder FROM (SELECT ug.{t.ug_user} AS holder, gp.{t.gp_perm} AS held FROM {t.user_groups} ug "
        f"JOIN {t.group_perms} gp ON gp.{t.gp_group} = ug.{t.ug_group} WHERE gp.{t.gp_perm} IN (SELECT id FROM perm) "
        f"UNION SELECT up.{t.up_user}, up.{t.up_perm} FROM {t.user_perms} up "
        f"WHERE up.{t.up_perm} IN (SELECT id FROM perm)) h JOIN perm ON perm.id = h.held "
        f"GROUP BY h.holder HAVING COUNT(DISTINCT perm.name) = {count:d}"
    )


def holders(*permissions: str) -> RawSQL:
    """The ids of the users who hold every one of `permissions` (active or not), as an expression
    for `pk__in`."""
    named = sorted(set(permissions))
    params = [part for permission in named for part in permission.split(".", 1)]
    if len(params) != 2 * len(named):
        raise ValueError(f"permissions are named <app_label>.<codename>: {permissions!r}")
    return RawSQL(_holders_sql(len(named)), params)  # noqa: S611


def users_holding(*permissions: str) -> QuerySet:
    """Active users who hold every one of `permissions` through their groups or directly.

    Superusers are not included unless they hold the permissions explicitly: they may see
    everything, but they do not want to hear about everything.
    """
    users = get_user_model().objects.filter(is_active=True)
    if permissions:
        users = users.filter(pk__in=holders(*permissions))
    return users


def process_permission(flow_class: Any, action: str) -> str:
    """The permission `<app>.<action>_<model>` on `flow_class`'s process model."""
    opts = flow_class.process_class._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def live_channels_for(user: Any) -> list[str]:
    """The channels a user may listen on: their own, and the queues of permissions they hold."""
    held = user.get_all_permissions()
    # A stage's task is routed by its candidate group's permission (approval policies), any
    # other human task by its node's declared permission.
    queues = {permission for permission in held if is_candidate_permission(permission)}
    for flow_class in registry.flows():
        for node in flow_class.instance.nodes():
            permission = getattr(node, "_owner_permission", None)
            if isinstance(permission, str) and permission in held:
                queues.add(permission)
    return [user_channel(user.pk), *(perm_channel(p) for p in sorted(queues))]
