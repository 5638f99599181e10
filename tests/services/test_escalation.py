"""Escalation on the real stack: concurrent timer sweeps on PostgreSQL, and a worker with beat."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS
from viewflow.workflow.timers import fire_due_timers

from processes import scheduler
from processes.models import AuditEvent
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from tests.conftest import task_of
from tests.stack import wait_for

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _policy(roles, maria, sla, levels, reminder=None):
    return policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": sla,
                "reminder_before": reminder,
                "escalation_group": roles["managers"],
                "escalation_user": maria,
                "levels": levels,
            }
        ],
    )


def test_concurrent_sweeps_fire_every_timer_exactly_once(roles, maria, submit_request):
    """Four sweeps at once over 240 due timers, guard and markers bypassed: two run viewflow's own
    `fire_due_timers`, two our workers' `timers_fire` with every due id (as duplicated messages
    would). The flow lock (select_for_update) must make each timer fire exactly once."""
    assert connection.vendor == "postgresql"
    _policy(
        roles,
        maria,
        timedelta(hours=4),
        [(timedelta(0), EscalationAction.NOTIFY), (timedelta(hours=1), EscalationAction.ADD_CANDIDATES)],
        reminder=timedelta(hours=1),
    )
    processes = [submit_request(title=f"Chair {n}") for n in range(80)]
    timers = Task.objects.filter(process__in=processes, flow_task_type="TIMER")
    assert timers.filter(status=STATUS.SCHEDULED).count() == 240
    timers.update(scheduled=timezone.now() - timedelta(seconds=1))

    fired: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def ours() -> int:
        return scheduler.timers_fire(task_ids=list(timers.values_list("pk", flat=True)))

    def sweep(fire) -> None:
        try:
            barrier.wait()
            for _ in range(20):  # until nothing is due (a locked timer is retried next round)
                fired.append(fire())
                if not timers.filter(status=STATUS.SCHEDULED).exists():
                    break
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(fire,)) for fire in (fire_due_timers, ours) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert errors == []
    assert sum(fired) == 240
    assert set(timers.values_list("status", flat=True)) == {STATUS.DONE}
    steps = Counter(
        (task.process_id, task.flow_task.name)
        for task in Task.objects.filter(process__in=processes, flow_task_type="FUNCTION").exclude(
            flow_task__endswith="route"
        )
    )
    assert set(steps.values()) == {1}
    assert len(steps) == 240
    audited = Counter(
        AuditEvent.objects.filter(
            process__in=processes, action__in=["task.reminded", "task.escalated"]
        ).values_list("action", flat=True)
    )
    assert audited == {"task.reminded": 80, "task.escalated": 160}


def test_a_two_second_sla_escalates_on_time(beat_process, roles, maria, olivia, submit_request):
    _policy(
        roles,
        maria,
        timedelta(seconds=2),
        [(timedelta(0), EscalationAction.NOTIFY), (timedelta(seconds=1), EscalationAction.ADD_CANDIDATES)],
        reminder=timedelta(seconds=1),
    )
    process = submit_request()
    task = task_of(process, "approve")
    due = task.created + timedelta(seconds=2)

    wait_for(
        lambda: AuditEvent.objects.filter(process=process, action="task.escalated").count() == 2,
        timeout=30,
        what="both escalation levels",
    )

    reminded = AuditEvent.objects.get(process=process, action="task.reminded")
    first, second = AuditEvent.objects.filter(process=process, action="task.escalated").order_by("pk")
    lateness = [
        (reminded.created_at - (due - timedelta(seconds=1))).total_seconds(),
        (first.created_at - due).total_seconds(),
        (second.created_at - (due + timedelta(seconds=1))).total_seconds(),
    ]
    assert all(0 <= late < 2 for late in lateness), lateness
    assert (first.details["action"], second.details["action"]) == ("notify", "add_candidates")
    task.refresh_from_db()
    assert str(roles["managers"].pk) in task.owner_permission
