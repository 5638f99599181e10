"""The timer sweep: due timers go to the workers grouped by process, and are not re-sent while they wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from viewflow.workflow.models import Task

from processes import scheduler
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from processes.tasks import timers_fire

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    cache.clear()
    calls: list[list[int]] = []
    monkeypatch.setattr(timers_fire, "delay", calls.append)
    return calls


def test_due_timers_are_sent_once_grouped_by_process_in_due_order(sent, roles, submit_request):
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "reminder_before": timedelta(hours=1),
                "levels": [(timedelta(0), EscalationAction.NOTIFY)],
            }
        ],
    )
    first, second = submit_request(), submit_request()
    Task.objects.filter(flow_task_type="TIMER").update(scheduled=timezone.now() - timedelta(seconds=1))

    assert scheduler.timers_fire_due() == {"sent": 4}
    by_process = {
        process.pk: list(
            Task.objects.filter(process=process, flow_task_type="TIMER")
            .order_by("scheduled", "pk")
            .values_list("pk", flat=True)
        )
        for process in (first, second)
    }
    assert sorted(sent) == sorted(by_process.values())

    assert scheduler.timers_fire_due() == {"sent": 0}  # still waiting for a worker: not again

    cache.delete(scheduler.TIMER_SENT.format(by_process[first.pk][0]))  # a lock was busy, or it expired
    assert scheduler.timers_fire_due() == {"sent": 1}
    assert scheduler.timers_fire(task_ids=by_process[first.pk] + by_process[second.pk]) == 4
    assert (
        scheduler.timers_fire(task_ids=by_process[first.pk]) == 0
    )  # fired already: a duplicate does nothing


def test_a_running_sweep_keeps_the_next_one_out(sent):
    cache.clear()
    assert cache.add(scheduler.TIMER_SWEEP_GUARD, "1")
    try:
        assert scheduler.timers_fire_due() == {"skipped": True}
    finally:
        cache.delete(scheduler.TIMER_SWEEP_GUARD)
