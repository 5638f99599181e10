"""Who hears of what: the users who hold a permission, and the channels a user may listen on."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet

from processes.notifications.channels import perm_channel, user_channel
from processes.policies.models import is_candidate_permission
from processes.registry import registry


def _permission_q(permission: str) -> Q:
    app_label, codename = permission.split(".", 1)
    perms = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    user_model = get_user_model()
    return Q(pk__in=user_model.objects.filter(groups__permissions__in=perms).values("pk")) | Q(
        pk__in=user_model.objects.filter(user_permissions__in=perms).values("pk")
    )


def users_holding(*permissions: str) -> QuerySet:
    """Active users who hold every one of `permissions` through their groups or directly.

    Superusers are not included unless they hold the permissions explicitly: they may see
    everything, but they do not want to hear about everything.
    """
    users = get_user_model().objects.filter(is_active=True)
    for permission in permissions:
        users = users.filter(_permission_q(permission))
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
