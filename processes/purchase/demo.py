"""The purchase requests of the demo (design.md section 5): a published policy, and requests in
every state an operator should see. Loaded by `manage.py demo_data`; running it twice changes
nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import F
from viewflow.workflow.models import Process, Task

from processes.policies.models import EscalationAction
from processes.policies.selectors import policy_version_published
from processes.policies.services import policy_create
from processes.purchase.models import PURCHASE_POLICY, PurchaseProcess
from processes.purchase.services import purchase_request_start, purchase_task_decide
from processes.services import task_claim
from processes.tasklist.models import TaskRow

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
    # submitted 40 minutes before the demo starts: past its 30-minute SLA, so the queue shows an
    # overdue task at once, and the escalation (email to maria) follows within seconds of `make run`
    ("Printer toner for the second floor", "95.00", "queued overdue"),
    # submitted 25 minutes before: in the last fifth of its 30-minute SLA, so the operations
    # dashboard shows a task at risk at once (and, five minutes later, a second breach)
    ("Label printer for shipping", "180.00", "queued at risk"),
]

# How long ago the overdue request was submitted (the Team approval SLA is 30 minutes).
OVERDUE_BY = timedelta(minutes=40)
AT_RISK_AGO = timedelta(minutes=25)
# How long the decided requests waited for their team approval: the operations dashboard's time
# to decision then shows real figures rather than the seconds the demo loader takes.
DECIDED_AFTER = {
    "approved": timedelta(minutes=18),
    "rejected": timedelta(minutes=41),
    "finance": timedelta(minutes=9),
}


def demo_load(users: dict[str, Any], write: Any) -> None:
    with transaction.atomic():
        if policy_version_published(policy_name=PURCHASE_POLICY) is None:
            _policy(users)
            write("demo policy: purchase v1 (approvers, then finance above 1,000)")
    for title, amount, outcome in REQUESTS:
        if PurchaseProcess.objects.filter(title=title, requester=users["alice"]).exists():
            continue
        with transaction.atomic():
            _request(users, title, Decimal(amount), outcome)
        write(f"demo request: {title} ({outcome})")


def _policy(users: dict[str, Any]) -> None:
    """The published purchase policy: approvers, then finance above 1,000 (short demo SLAs)."""
    groups = {
        group.name: group for group in Group.objects.filter(name__in=["approvers", "finance", "managers"])
    }
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


def _request(users: dict[str, Any], title: str, amount: Decimal, outcome: str) -> None:
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
    if outcome == "queued overdue":
        _submitted_ago(process, OVERDUE_BY)
    elif outcome == "queued at risk":
        _submitted_ago(process, AT_RISK_AGO)
    elif outcome in DECIDED_AFTER:
        _submitted_ago(process, DECIDED_AFTER[outcome])
    if outcome.startswith("queued"):
        return
    task = Task.objects.get(process=process, flow_task=process.flow_class.approve)
    task_claim(task=task, user=users["olivia"])
    if outcome == "approved":
        purchase_task_decide(task=task, user=users["olivia"], approved=True, comment="Fine, within budget.")
    elif outcome == "finance":  # the team approved; it waits in the finance queue
        purchase_task_decide(task=task, user=users["olivia"], approved=True, comment="Team agrees.")
    elif outcome == "rejected":
        purchase_task_decide(
            task=task,
            user=users["olivia"],
            approved=False,
            comment="Not a business need; ask facilities.",
        )


def _submitted_ago(process: PurchaseProcess, ago: timedelta) -> None:
    """Move a fresh request back in time, as if it had been submitted `ago` earlier: its process,
    tasks, timers (the SLA's reminder and escalations) and task list rows. Its history keeps the
    real time (the audit log is append-only). Demo data only: a real request's times are never
    rewritten."""
    Process.objects.filter(pk=process.pk).update(created=F("created") - ago)
    Task.objects.filter(process=process).update(created=F("created") - ago)
    Task.objects.filter(process=process, scheduled__isnull=False).update(scheduled=F("scheduled") - ago)
    TaskRow.objects.filter(process_id=process.pk).update(created=F("created") - ago, due_at=F("due_at") - ago)
