"""The portal's groups and the permissions each one grants.

Each process type names its roles in its descriptor (`ProcessDescriptor.roles`); the registry
merges them, so a group like "managers" holds what every process type grants it. A task's
candidate group is whoever holds its node's permission (viewflow's `.Permission`), so a group's
queue is exactly what its members may claim.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from processes.registry import registry


def roles_sync() -> dict[str, Group]:
    """Create the groups and grant their permissions; running it again changes nothing. A
    permission the database does not have fails loudly (a typo in a descriptor's roles)."""
    groups = {}
    for name, perms in registry.roles().items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            try:
                wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
            except Permission.DoesNotExist:
                raise LookupError(f"Role {name!r} names permission {perm!r}, which does not exist") from None
        group.permissions.add(*wanted)
        groups[name] = group
    return groups
