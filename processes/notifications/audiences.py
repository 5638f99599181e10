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
def _holders_sql() -> str:
    """The ids of the users who hold one permission, through a group or directly: a UNION of two
    joins, with four parameters (app label and codename, twice). Written as SQL because it is on
    every task state change's path: Django builds and relabels the same thing as four nested
    subqueries per permission, several milliseconds each time (docs/benchmarks.md, issue 16)."""
    t = permission_tables()
    named = (
        f"JOIN {t.permission} p ON p.id = {{perm}} JOIN {t.content_type} ct ON ct.id = p.content_type_id "
        "WHERE ct.app_label = %s AND p.codename = %s"
    )
    return (
        f"SELECT ug.{t.ug_user} FROM {t.user_groups} ug JOIN {t.group_perms} gp ON gp.{t.gp_group} = ug.{t.ug_group} "  # noqa: S608
        + named.format(perm=f"gp.{t.gp_perm}")
        + f" UNION SELECT up.{t.up_user} FROM {t.user_perms} up "  # noqa: S608
        + named.format(perm=f"up.{t.up_perm}")
    )


def holders(permission: str) -> RawSQL:
    """The ids of the users who hold `permission` (active or not), as an expression for `pk__in`."""
    app_label, codename = permission.split(".", 1)
    return RawSQL(_holders_sql(), [app_label, codename, app_label, codename])  # noqa: S611


def users_holding(*permissions: str) -> QuerySet:
    """Active users who hold every one of `permissions` through their groups or directly.

    Superusers are not included unless they hold the permissions explicitly: they may see
    everything, but they do not want to hear about everything.
    """
    users = get_user_model().objects.filter(is_active=True)
    for permission in permissions:
        users = users.filter(pk__in=holders(permission))
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
