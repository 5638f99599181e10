"""The catalog's demo: "Vacation request", a process type defined as data, with short SLAs so that
`make run` shows it in the menu, in the queues, and escalating."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from processes.catalog.models import CatalogRequest, FieldKind, ProcessType
from processes.catalog.selectors import type_published_version
from processes.catalog.services import (
    catalog_request_start,
    catalog_task_decide,
    process_type_create,
    type_version_fill,
)
from processes.policies.models import EscalationAction
from processes.services import task_claim

VACATION = "vacation-request"
# Who is in the demo's groups of this process type (the core's demo people, and Hana from HR).
EMPLOYEES = ["alice", "olivia", "frank", "maria", "fiona", "hana"]


def demo_load(users: dict[str, Any], write: Any) -> None:
    with transaction.atomic():
        groups = _groups(users)
        if not ProcessType.objects.filter(slug=VACATION).exists():
            process_type = process_type_create(
                name="Vacation request",
                slug=VACATION,
                description="Ask for days off: your team lead approves, and HR too from 10 days on.",
                icon="beach_access",
                starter_groups=[groups["employees"]],
                user=users["admin"],
            )
            type_version_fill(
                version=process_type.policy.versions.get(),
                fields=VACATION_FIELDS,
                stages=_vacation_stages(groups, users),
                publish=True,
                user=users["admin"],
            )
            write("demo process type: Vacation request v1 (team leads, then HR from 10 days)")
    process_type = ProcessType.objects.get(slug=VACATION)
    if type_published_version(process_type) is None:
        return
    _requests(process_type, users, write)


VACATION_FIELDS: list[dict[str, Any]] = [
    {
        "name": "period",
        "label": "Period",
        "kind": FieldKind.DATE_RANGE,
        "help_text": "The first and the last day off",
        "min_value": 1,
        "max_value": 60,
    },
    {"name": "days", "label": "Working days", "kind": FieldKind.INTEGER, "min_value": 1, "max_value": 60},
    {"name": "reason", "label": "Reason", "kind": FieldKind.LONG_TEXT, "required": False, "max_length": 1000},
]


def _groups(users: dict[str, Any]) -> dict[str, Group]:
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("employees", "team leads", "hr")}
    User = get_user_model()
    hana = User.objects.filter(username="hana").first()
    if hana is None:
        # The documented demo password, as alice has it (hashed once: the hasher is slow on purpose).
        hana = User(
            username="hana", first_name="Hana", email="hana@example.com", password=users["alice"].password
        )
        hana.save()
    users.setdefault("hana", hana)
    groups["employees"].user_set.add(*(users[name] for name in EMPLOYEES if name in users))
    groups["team leads"].user_set.add(users["olivia"])
    groups["hr"].user_set.add(hana)
    return groups


def _vacation_stages(groups: dict[str, Group], users: dict[str, Any]) -> list[dict[str, Any]]:
    managers = Group.objects.filter(name="managers").first()
    return [
        {
            "name": "Team lead",
            "group": groups["team leads"],
            "sla": timedelta(minutes=20),
            "reminder_before": timedelta(minutes=5),
            "escalation_group": managers,
            "escalation_user": users["maria"],
            "levels": [(timedelta(0), EscalationAction.EMAIL)],
        },
        {
            "name": "HR",
            "group": groups["hr"],
            "condition": "days >= 10",
            "sla": timedelta(hours=1),
            "reminder_before": timedelta(minutes=15),
            "escalation_group": managers,
            "escalation_user": users["maria"],
            "levels": [
                (timedelta(0), EscalationAction.NOTIFY),
                (timedelta(minutes=30), EscalationAction.EMAIL),
            ],
        },
    ]


def _requests(process_type: ProcessType, users: dict[str, Any], write: Any) -> None:
    """Two of alice's requests: a short one olivia approved, and a long one waiting for HR."""
    today = timezone.localdate()
    # Fresh from the database: the objects in `users` cached their rights before the groups above.
    alice, olivia = (get_user_model().objects.get(pk=users[name].pk) for name in ("alice", "olivia"))
    demo = [
        ("Long weekend", (today + timedelta(days=14), today + timedelta(days=17)), 2, "approved"),
        ("Summer trip", (today + timedelta(days=40), today + timedelta(days=55)), 12, "at HR"),
    ]
    for reason, period, days, outcome in demo:
        if CatalogRequest.objects.filter(process_type=process_type, values__reason=reason).exists():
            continue
        with transaction.atomic():
            process = catalog_request_start(
                process_type=process_type,
                requester=alice,
                values={"period": period, "days": days, "reason": reason},
            )
            task = process.task_set.get(flow_task_type="HUMAN", status="NEW")
            task_claim(task=task, user=olivia)
            task.refresh_from_db()
            catalog_task_decide(task=task, user=olivia, approved=True, comment="Enjoy!")
        write(f"demo vacation request: {reason} ({outcome})")
