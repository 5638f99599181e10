"""The OLD code's half of the upgrade test (tests/services/test_upgrade.py): build live state.

Run from the old checkout, which must be the current directory (its code is imported, not the
tree this file lives in), against a freshly migrated database:

    cd <old checkout> && python <this file> <out.json>

It uses the old code's own services, the way the portal did, to leave behind what an upgrade
must carry: requests waiting at each kind of step, armed escalation timers, a job whose message
waits in the broker for a worker, an escalation email already delivered with its action links,
and an order in fraud review. It writes the ids, the links' secrets and a snapshot of every
process and task to <out.json> for tests/upgrade/new_checks.py.

Only module paths that survive the split of issue 12 are imported (processes.purchase.*,
processes.orders.*, processes.models, processes.services, ...), and nothing here reads an app
label: this file must keep working against the pinned old commit whatever the new tree becomes.
"""

from __future__ import annotations

import email
import json
import os
import sys
import time
from datetime import timedelta
from decimal import Decimal
from email import policy as email_policy
from pathlib import Path

PASSWORD = "portal-demo"

# username, groups (processes.roles), as in the demo data and tests/conftest.py
PEOPLE = [
    ("alice", ["requesters", "sales"]),  # starts every purchase request
    ("olivia", ["approvers"]),
    ("frank", ["finance"]),
    ("maria", ["managers"]),  # the escalation user: gets the email with action links
    ("fiona", ["fraud"]),
    ("ava", ["requesters"]),  # sees none of alice's requests
]

# Timer moments of the request whose escalation is armed at the upgrade (offsets from its
# approval task's creation): a reminder and a first level due before the new code runs, a
# second level due after it has taken over.
ARMED_SLA = timedelta(seconds=4)
ARMED_REMINDER_BEFORE = timedelta(seconds=2)
ARMED_LEVEL_2_AFTER = timedelta(seconds=16)
FRAUD_REVIEW_SLA = timedelta(seconds=3)


def django_setup() -> Path:
    code = Path.cwd().resolve()
    sys.path[0] = str(code)  # the checkout under test, not this file's folder
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    import processes

    imported = Path(processes.__file__).resolve()
    if code not in imported.parents:
        raise SystemExit(f"imported {imported}, not the code in {code}: check PYTHONPATH")
    return code


def people() -> dict:
    from django.contrib.auth import get_user_model

    from processes.roles import roles_sync

    groups = roles_sync()
    users = {}
    for username, group_names in PEOPLE:
        user = get_user_model().objects.create_user(
            username=username, password=PASSWORD, email=f"{username}@example.com"
        )
        user.groups.add(*(groups[name] for name in group_names))
        users[username] = user
    return {"groups": groups, "users": users}


def publish(name: str, stages: list[dict]):
    from processes.policies.services import policy_create

    return policy_create(name="purchase", stages=stages, version_fields={"note": name})


def submit(alice, title: str, amount: str):
    from processes.purchase.services import purchase_request_start

    return purchase_request_start(
        requester=alice,
        data={"title": title, "amount": Decimal(amount), "currency": "EUR", "justification": "Upgrade test."},
    )


def task_at(process, node_name: str):
    """The newest task of `process` at the node called `node_name` (found by name, not by ref)."""
    from viewflow.workflow.models import Task

    tasks = [task for task in Task.objects.filter(process=process) if task.flow_task.name == node_name]
    return max(tasks, key=lambda task: task.pk)


def timers_of(process) -> list:
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    return list(
        Task.objects.filter(process=process, flow_task_type="TIMER", status=STATUS.SCHEDULED).order_by(
            "scheduled"
        )
    )


def wait_until_due(timers) -> None:
    from django.utils import timezone

    latest = max(timer.scheduled for timer in timers)
    while timezone.now() <= latest:
        time.sleep(0.1)


def links_from_mail(mail_dir: Path, addressee: str) -> dict[str, str]:
    """The Approve, Reject and Open links of the escalation email as delivered (file backend)."""
    found = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text().split("-" * 79):
            if not chunk.strip():
                continue
            message = email.message_from_string(chunk.strip(), policy=email_policy.default)
            if addressee not in message["To"] or "Overdue" not in message["Subject"]:
                continue
            found.append(message.get_body(preferencelist=("plain",)).get_content())
    if len(found) != 1:
        raise SystemExit(f"expected one escalation email to {addressee} in {mail_dir}, found {len(found)}")
    lines = [line.strip() for line in found[0].splitlines()]

    def after(label: str) -> str:
        return lines[lines.index(label) + 1]

    return {"approve": after("Approve:"), "reject": after("Reject:"), "open": after("Open in portal:")}


def raw_refs() -> tuple[dict[int, str], dict[int, str]]:
    """The flow and node references as stored (viewflow's fields would turn them into objects)."""
    from django.db.models import CharField
    from django.db.models.functions import Cast
    from viewflow.workflow.models import Process, Task

    flows = Process.objects.annotate(raw=Cast("flow_class", CharField())).values_list("pk", "raw")
    nodes = Task.objects.annotate(raw=Cast("flow_task", CharField())).values_list("pk", "raw")
    return dict(flows), dict(nodes)


def snapshot() -> dict:
    """Every process and task of the two process types, as the old code sees and stores them."""
    from viewflow.workflow.models import Task

    from processes.models import AuditEvent, Notification
    from processes.orders.models import OrderProcess
    from processes.purchase.models import PurchaseProcess

    flow_refs, node_refs = raw_refs()
    processes = {}
    for kind, model in (("purchase", PurchaseProcess), ("order", OrderProcess)):
        for process in model.objects.order_by("pk"):
            processes[str(process.pk)] = {
                "kind": kind,
                "status": process.status,
                "flow_ref": flow_refs[process.pk],
                "tasks": [
                    {
                        "pk": task.pk,
                        "node": task.flow_task.name,
                        "node_ref": node_refs[task.pk],
                        "type": task.flow_task_type,
                        "status": task.status,
                        "owner": task.owner.username if task.owner_id else None,
                        "owner_permission": task.owner_permission or "",
                        "scheduled": task.scheduled.isoformat() if task.scheduled else None,
                    }
                    for task in Task.objects.filter(process=process).select_related("owner").order_by("pk")
                ],
            }
    return {
        "processes": processes,
        "audit_events": AuditEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def main(out: Path) -> None:
    code = django_setup()

    from django.conf import settings
    from django.db import transaction
    from viewflow.workflow.fields import get_task_ref
    from viewflow.workflow.models import Task
    from viewflow.workflow.status import STATUS

    from processes import scheduler
    from processes.actionlinks.models import ActionToken
    from processes.connectors.models import Product
    from processes.mail.models import OutgoingEmail
    from processes.models import AuditEvent, Notification
    from processes.nodes.celery_job import job_execute
    from processes.orders.models import OrderPolicy
    from processes.orders.services import order_start_api
    from processes.policies.models import EscalationAction
    from processes.purchase.services import purchase_task_decide
    from processes.services import task_claim

    with transaction.atomic():
        cast = people()
    groups, users = cast["groups"], cast["users"]
    alice, olivia, maria = users["alice"], users["olivia"], users["maria"]
    state: dict = {"code": str(code), "users": {name: user.pk for name, user in users.items()}}

    # 1. An escalation email with action links, delivered before the upgrade: a 1-second SLA
    #    whose only level emails maria, the escalation user; the old sweep fires it.
    publish(
        "email",
        [
            {
                "name": "Team approval",
                "group": groups["approvers"],
                "sla": timedelta(seconds=1),
                "escalation_group": groups["managers"],
                "escalation_user": maria,
                "levels": [(timedelta(0), EscalationAction.EMAIL)],
            }
        ],
    )
    emailed = submit(alice, "Standing desk (emailed)", "640.00")
    due = timers_of(emailed)
    wait_until_due(due)
    fired = scheduler.timers_fire(task_ids=[timer.pk for timer in due])
    assert fired == 1, fired
    sent = OutgoingEmail.objects.get(task=task_at(emailed, "approve"), kind="escalation")
    assert sent.status == OutgoingEmail.Status.SENT, (sent.status, sent.last_error)
    links = links_from_mail(Path(settings.EMAIL_FILE_PATH), maria.email)
    assert ActionToken.objects.filter(task=task_at(emailed, "approve"), minted_at__isnull=False).count() == 2

    # 2. Escalation armed, not fired: reminder, level 1 (notify), level 2 (add the managers).
    publish(
        "armed",
        [
            {
                "name": "Team approval",
                "group": groups["approvers"],
                "sla": ARMED_SLA,
                "reminder_before": ARMED_REMINDER_BEFORE,
                "escalation_group": groups["managers"],
                "escalation_user": maria,
                "levels": [
                    (timedelta(0), EscalationAction.NOTIFY),
                    (ARMED_LEVEL_2_AFTER, EscalationAction.ADD_CANDIDATES),
                ],
            }
        ],
    )
    armed = submit(alice, "Office chairs (armed)", "450.00")
    armed_timers = timers_of(armed)
    assert len(armed_timers) == 3, armed_timers

    # 3. The demo's plain policy (tests/conftest.py purchase_policy): no timers.
    publish(
        "plain",
        [
            {"name": "Team approval", "group": groups["approvers"], "sla": timedelta(hours=4)},
            {
                "name": "Finance review",
                "group": groups["finance"],
                "amount_above": Decimal("1000.00"),
                "sla": timedelta(hours=8),
            },
        ],
    )
    # A job queued for a worker that never came: approved, its create_order message in the broker.
    queued = submit(alice, "Laptop battery (queued job)", "129.00")
    task_claim(task=task_at(queued, "approve"), user=olivia)
    purchase_task_decide(task=task_at(queued, "approve"), user=olivia, approved=True)
    job = task_at(queued, "create_order")
    assert job.status == STATUS.SCHEDULED, job.status
    # Rejected: waiting at the requester's revise task.
    rejected = submit(alice, "Espresso machine (rejected)", "380.00")
    task_claim(task=task_at(rejected, "approve"), user=olivia)
    purchase_task_decide(
        task=task_at(rejected, "approve"), user=olivia, approved=False, comment="Too expensive."
    )
    assert task_at(rejected, "revise").owner_id == alice.pk
    # In the approvers' queue, and in olivia's inbox.
    queue = submit(alice, "Second monitor (queued)", "279.00")
    held = submit(alice, "Headsets (held by olivia)", "199.00")
    task_claim(task=task_at(held, "approve"), user=olivia)

    # 4. An order in fraud review (a risky email domain), its reminder armed. Its jobs run here,
    #    through the worker's entry point; their messages stay in the broker, already done.
    for sku, name, price, stock in [
        ("DESK-01", "Standing desk", "499.00", 10),
        ("MON-04", "Monitor", "279.00", 5),
    ]:
        Product.objects.create(sku=sku, name=name, unit_price=Decimal(price), on_hand=stock)
    OrderPolicy.objects.create(
        pk=OrderPolicy.SINGLE_PK, fraud_threshold=70, fraud_review_sla=FRAUD_REVIEW_SLA
    )
    order = order_start_api(
        order={
            "customer_name": "Mallory Fraudster",
            "customer_email": "mallory@mailinator.com",
            "payment_method": "card",
            "shipping_address": "1 Analytical Row, London",
            "lines": [{"sku": "MON-04", "qty": 1}, {"sku": "DESK-01", "qty": 1}],
        }
    )

    for _ in range(10):
        step = Task.objects.filter(process=order, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if step is None:
            break
        assert job_execute(step.flow_task.activation_class(step).ref()) == "done"
    review = task_at(order, "review_fraud")
    assert review.status == STATUS.NEW, review.status
    order_timers = timers_of(order)
    assert len(order_timers) == 1, order_timers

    def process_entry(process) -> dict:
        return {"pk": process.pk, "kind": "order" if process.pk == order.pk else "purchase"}

    state.update(
        processes={
            "emailed": process_entry(emailed),
            "armed": process_entry(armed),
            "queued_job": process_entry(queued),
            "rejected": process_entry(rejected),
            "queue": process_entry(queue),
            "held": process_entry(held),
            "order": process_entry(order),
        },
        tasks={
            "emailed_approve": task_at(emailed, "approve").pk,
            "armed_approve": task_at(armed, "approve").pk,
            "rejected_revise": task_at(rejected, "revise").pk,
            "queue_approve": task_at(queue, "approve").pk,
            "held_approve": task_at(held, "approve").pk,
            "order_review": review.pk,
        },
        timers=[
            {
                "pk": timer.pk,
                "process": timer.process_id,
                "node": timer.flow_task.name,
                "due": timer.scheduled.isoformat(),
            }
            for timer in [*armed_timers, *order_timers]
        ],
        job={
            "task": job.pk,
            "process": queued.pk,
            "external_task_id": job.external_task_id,
            "ref": job.flow_task.activation_class(job).ref(),
            "task_ref": get_task_ref(job.flow_task),
        },
        links=links,
        broker_url=settings.CELERY_BROKER_URL,
        notifications={
            "alice": list(
                Notification.objects.filter(user=alice)
                .exclude(url="")
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        },
        audit_actions=sorted(set(AuditEvent.objects.values_list("action", flat=True))),
        snapshot=snapshot(),
    )
    out.write_text(json.dumps(state, indent=2, sort_keys=True))
    print(json.dumps({"processes": state["processes"], "job": state["job"]}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
