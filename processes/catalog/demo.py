"""The catalog's demo: "Vacation request", a process type defined as data, with short SLAs so that
`make run` shows it in the menu, in the queues, and escalating. Its definition is a portable one
(demo_definitions/vacation-request.json), imported as any other portal would import it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from processes.catalog.definitions import definition_import, definition_loads
from processes.catalog.models import CatalogRequest, ProcessType
from processes.catalog.selectors import type_published_version
from processes.catalog.services import catalog_request_start, catalog_task_decide
from processes.services import task_claim

VACATION = "vacation-request"
VACATION_DEFINITION = Path(__file__).with_name("demo_definitions") / "vacation-request.json"
# Who is in the demo's groups of this process type (the core's demo people).
EMPLOYEES = ["alice", "olivia", "oscar", "frank", "felix", "maria", "fiona", "hana"]
TEAM_LEADS = ["olivia", "oscar"]  # oscar stands in for olivia (the same rights)


def demo_load(users: dict[str, Any], write: Any) -> None:
    with transaction.atomic():
        _groups(users)
        if not ProcessType.objects.filter(slug=VACATION).exists():
            doc = definition_loads(VACATION_DEFINITION.read_bytes())
            definition_import(doc, user=users["admin"], publish=True)
            write("demo process type: Vacation request v1 (team leads, then HR from 10 days)")
    process_type = ProcessType.objects.get(slug=VACATION)
    if type_published_version(process_type) is None:
        return
    _requests(process_type, users, write)


def _groups(users: dict[str, Any]) -> dict[str, Group]:
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in ("employees", "team leads", "hr")}
    groups["employees"].user_set.add(*(users[name] for name in EMPLOYEES))
    groups["team leads"].user_set.add(*(users[name] for name in TEAM_LEADS))
    groups["hr"].user_set.add(users["hana"])
    return groups


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
