"""Load the demo data of design.md section 5; running it twice changes nothing."""

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.connectors.models import Connector, ConnectorFaults, Product
from processes.nodes.celery_job import job_execute
from processes.orders.models import OrderPolicy, OrderProcess
from processes.orders.services import order_start_api
from processes.policies.models import EscalationAction
from processes.policies.selectors import PURCHASE_POLICY, policy_version_published
from processes.policies.services import policy_create
from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_request_start, purchase_task_decide
from processes.roles import roles_sync
from processes.services import task_claim

DEMO_PASSWORD = "portal-demo"  # noqa: S105 - the documented demo password (design.md section 5)

USERS = [
    # username, first name, groups, superuser
    ("admin", "Ada", [], True),
    ("alice", "Alice", ["requesters", "sales"], False),
    ("olivia", "Olivia", ["approvers"], False),
    ("frank", "Frank", ["finance"], False),
    ("maria", "Maria", ["managers"], False),
    ("fiona", "Fiona", ["fraud"], False),
]

PRODUCTS = [
    # sku, name, unit price, on hand
    ("DESK-01", "Standing desk", "499.00", 25),
    ("CHAIR-02", "Office chair", "189.00", 40),
    ("LAMP-03", "Desk lamp", "39.90", 0),
    ("MON-04", "27-inch monitor", "279.00", 15),
]

# The order policy on first load: the default fraud threshold and a short fraud review SLA, as
# the purchase policy's are short, so the waiting review's reminder comes during a demo.
ORDER_POLICY = {"fraud_threshold": 70, "fraud_review_sla": timedelta(minutes=30)}

# customer, email, lines, what the demo shows
ORDERS = [
    ("Ada Lovelace", "ada@example.com", [("DESK-01", 1), ("CHAIR-02", 1)], "completed"),
    ("Mallory Fraudster", "mallory@mailinator.com", [("MON-04", 2)], "fraud review"),
    ("Grace Hopper", "grace@example.com", [("MON-04", 1), ("LAMP-03", 2)], "compensated"),
    ("Alan Turing", "alan@example.com", [("CHAIR-02", 2)], "failed job"),
]

# title, amount, what happens after submission
REQUESTS = [
    ("Standing desk for the design team", "640.00", "queued"),
    ("Conference tickets: DjangoCon Europe", "1180.00", "claimed"),
    ("Replacement laptop battery", "129.00", "approved"),
    ("Espresso machine for the office", "2400.00", "rejected"),
    ("Team offsite venue deposit", "3200.00", "finance"),
    # more for the task list's queue: filters, sorting and bulk claim (processes/tasklist)
    ("Ergonomic chairs for support", "450.00", "queued urgent"),
    ("Second monitor for accounting", "279.00", "queued"),
    ("Noise-cancelling headsets", "380.00", "queued high"),
]


class Command(BaseCommand):
    help = "Create the demo users, groups and processes (idempotent)."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = self._users()
            if policy_version_published(policy_name=PURCHASE_POLICY) is None:
                self._policy(users)
        with transaction.atomic():
            self._order_policy()
            for sku, name, price, stock in PRODUCTS:
                Product.objects.get_or_create(
                    sku=sku, defaults={"name": name, "unit_price": price, "on_hand": stock}
                )
        for customer, email, lines, shows in ORDERS:
            if OrderProcess.objects.filter(customer_email=email).exists():
                continue
            self._order(customer, email, lines, shows)
            self.stdout.write(f"demo order: {customer} ({shows})")
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

    def _policy(self, users):
        """The published purchase policy: approvers, then finance above 1,000 (short demo SLAs)."""
        groups = roles_sync()
        policy_create(
            name=PURCHASE_POLICY,
            user=users["admin"],
            stages=[
                {
                    "name": "Team approval",
                    "group": groups["approvers"],
                    "sla": timedelta(minutes=30),
                    "reminder_before": timedelta(minutes=10),
                    # Late: email maria (the escalation user, in managers) with action links,
                    # then let the whole managers group take it.
                    "escalation_group": groups["managers"],
                    "escalation_user": users["maria"],
                    "levels": [
                        (timedelta(0), EscalationAction.EMAIL),
                        (timedelta(minutes=15), EscalationAction.ADD_CANDIDATES),
                    ],
                },
                {
                    "name": "Finance review",
                    "group": groups["finance"],
                    "amount_above": Decimal("1000.00"),
                    "sla": timedelta(hours=1),
                    "reminder_before": timedelta(minutes=15),
                    "escalation_user": users["maria"],
                    "escalation_group": groups["managers"],
                    "levels": [
                        (timedelta(0), EscalationAction.NOTIFY),
                        (timedelta(minutes=30), EscalationAction.REASSIGN),
                    ],
                },
            ],
        )
        self.stdout.write("demo policy: purchase v1 (approvers, then finance above 1,000)")

    def _order_policy(self):
        """The order rules (fraud threshold, fraud review SLA), unless an admin already set them."""
        if OrderPolicy.objects.exists():
            return
        policy = OrderPolicy(pk=OrderPolicy.SINGLE_PK, **ORDER_POLICY)
        policy.full_clean()
        policy.save()
        self.stdout.write(
            f"demo order policy: fraud threshold {policy.fraud_threshold}, "
            f"fraud review SLA {policy.fraud_review_sla}"
        )

    def _order(self, customer, email, lines, shows):
        """Place an order and run its automated steps right here, as the worker would."""
        order = order_start_api(
            order={
                "customer_name": customer,
                "customer_email": email,
                "payment_method": "card",
                "shipping_address": "1 Demo Street, Springfield",
                "lines": [{"sku": sku, "qty": qty} for sku, qty in lines],
            }
        )
        if shows == "failed job":  # the mailer is down for longer than the step retries
            ConnectorFaults.objects.update_or_create(
                connector=Connector.MAILER, defaults={"refuse_next": 100}
            )
        try:
            for _ in range(50):
                job = Task.objects.filter(
                    process=order, flow_task_type="JOB", status=STATUS.SCHEDULED
                ).first()
                if job is None:
                    break
                job_execute(job.flow_task.activation_class(job).ref())
        finally:
            ConnectorFaults.objects.filter(connector=Connector.MAILER).update(refuse_next=0)

    def _request(self, users, title, amount, outcome):
        process = purchase_request_start(
            requester=users["alice"],
            data={
                "title": title,
                "amount": amount,
                "currency": "EUR",
                "justification": f"Demo request: {title}.",
                "priority": {"queued urgent": 4, "queued high": 3}.get(outcome, 2),
            },
        )
        if outcome.startswith("queued"):
            return
        task = Task.objects.get(process=process, flow_task=process.flow_class.approve)
        task_claim(task=task, user=users["olivia"])
        if outcome == "approved":
            purchase_task_decide(
                task=task, user=users["olivia"], approved=True, comment="Fine, within budget."
            )
        elif outcome == "finance":  # the team approved; it waits in the finance queue
            purchase_task_decide(task=task, user=users["olivia"], approved=True, comment="Team agrees.")
        elif outcome == "rejected":
            purchase_task_decide(
                task=task,
                user=users["olivia"],
                approved=False,
                comment="Not a business need; ask facilities.",
            )
