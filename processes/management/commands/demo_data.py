"""Load the demo data of design.md section 5; running it twice changes nothing."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from viewflow.workflow.models import Task

from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_request_start, purchase_task_decide
from processes.roles import roles_sync
from processes.services import task_claim

DEMO_PASSWORD = "portal-demo"  # noqa: S105 - the documented demo password (design.md section 5)

USERS = [
    # username, first name, groups, superuser
    ("admin", "Ada", [], True),
    ("alice", "Alice", ["requesters"], False),
    ("olivia", "Olivia", ["approvers"], False),
    ("frank", "Frank", ["finance"], False),
    ("maria", "Maria", ["managers"], False),
]

# title, amount, what happens after submission
REQUESTS = [
    ("Standing desk for the design team", "640.00", "queued"),
    ("Conference tickets: DjangoCon Europe", "1180.00", "claimed"),
    ("Replacement laptop battery", "129.00", "approved"),
    ("Espresso machine for the office", "2400.00", "rejected"),
]


class Command(BaseCommand):
    help = "Create the demo users, groups and processes (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = self._users()
        for title, amount, outcome in REQUESTS:
            if PurchaseProcess.objects.filter(title=title, requester=users["alice"]).exists():
                continue
            with transaction.atomic():
                self._request(users, title, Decimal(amount), outcome)
            self.stdout.write(f"demo request: {title} ({outcome})")
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _users(self):
        groups = roles_sync()
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
            user.groups.add(*(groups[name] for name in group_names))
            users[username] = user
        return users

    def _request(self, users, title, amount, outcome):
        process = purchase_request_start(
            requester=users["alice"],
            data={
                "title": title,
                "amount": amount,
                "currency": "EUR",
                "justification": f"Demo request: {title}.",
            },
        )
        if outcome == "queued":
            return
        task = Task.objects.get(process=process, flow_task=process.flow_class.approve)
        task_claim(task=task, user=users["olivia"])
        if outcome == "approved":
            purchase_task_decide(
                task=task, user=users["olivia"], approved=True, comment="Fine, within budget."
            )
        elif outcome == "rejected":
            purchase_task_decide(
                task=task,
                user=users["olivia"],
                approved=False,
                comment="Not a business need; ask facilities.",
            )
