"""The portal's groups and the permissions each one grants.

A task's candidate group is whoever holds its node's permission (viewflow's `.Permission`), so a
group's queue is exactly what its members may claim. Everyone who works with a process needs its
`view_` permission to see it at all.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

ROLES: dict[str, list[str]] = {
    "requesters": ["processes.view_purchaseprocess", "processes.start_purchase"],
    "approvers": ["processes.view_purchaseprocess", "processes.approve_purchase"],
    "finance": ["processes.view_purchaseprocess"],
    "managers": [
        "processes.view_purchaseprocess",
        "processes.manage_purchaseprocess",
        "processes.view_orderprocess",
        "processes.manage_orderprocess",
    ],
    "sales": ["processes.view_orderprocess", "processes.start_order"],
    "fraud": ["processes.view_orderprocess", "processes.review_fraud"],
}


def roles_sync() -> dict[str, Group]:
    """Create the groups and grant their permissions; running it again changes nothing."""
    groups = {}
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.add(*wanted)
        groups[name] = group
    return groups
