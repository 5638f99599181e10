"""Load the demo data of design.md section 5; running it twice changes nothing.

The core makes the demo people and their groups (each process type's roles); each process type
loads its own demo processes through its descriptor's `demo_load` hook.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from processes.registry import registry
from processes.roles import roles_sync
from processes.webhooks.demo import webhooks_demo_load

DEMO_PASSWORD = "portal-demo"  # noqa: S105 - the documented demo password (design.md section 5)

USERS = [
    # username, first name, groups, superuser
    ("admin", "Ada", [], True),
    ("alice", "Alice", ["requesters", "sales"], False),
    ("olivia", "Olivia", ["approvers"], False),
    ("frank", "Frank", ["finance"], False),
    # Each operator has a colleague with the same rights, who can stand in while they are away
    # (ADR 0023: a substitute must hold every task-holding right of the absent user).
    ("oscar", "Oscar", ["approvers"], False),
    ("felix", "Felix", ["finance"], False),
    ("maria", "Maria", ["managers"], False),
    ("fiona", "Fiona", ["fraud"], False),
    ("hana", "Hana", ["hr"], False),  # HR: the demo's Vacation request (processes/catalog/demo.py)
]


class Command(BaseCommand):
    help = "Create the demo users, groups and processes (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = self._users()
        for descriptor in registry:
            descriptor.demo_load(users, self.stdout.write)
        webhooks_demo_load(self.stdout.write)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _users(self):
        roles_sync()
        # A group no installed process type grants (its plug-in is not installed) is left out.
        groups = {group.name: group for group in Group.objects.all()}
        User = get_user_model()
        users = {}
        for username, first_name, group_names, superuser in USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User(
                    username=username,
                    first_name=first_name,
                    email=f"{username}@example.com",
                    is_staff=superuser,
                    is_superuser=superuser,
                )
                user.set_password(DEMO_PASSWORD)
                user.full_clean()
                user.save()
            user.groups.add(*(groups[name] for name in group_names if name in groups))
            users[username] = user
        return users
