"""The timer sweep: due timers go to the workers grouped by process, and are not re-sent while they wait."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

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


def _policy_with_a_reminder_and_a_level(roles) -> None:
    """Each approval task arms two timers: the reminder and one escalation level."""
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


def test_due_timers_are_sent_once_grouped_by_process_in_due_order(sent, roles, submit_request):
    _policy_with_a_reminder_and_a_level(roles)
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


def test_the_due_index_says_what_the_sweep_asks():
    """PostgreSQL uses the partial index timer_due (migration 0032) only if its predicate is the
    sweep's filter."""
    import importlib

    sql = importlib.import_module("processes.migrations.0032_timer_due_index").TIMER_DUE
    query = str(scheduler.timers_due(timezone.now(), 10).query)

    assert "WHERE flow_task_type = 'TIMER' AND status = 'SCHEDULED'" in sql
    assert '"viewflow_task"."flow_task_type" = TIMER' in query
    assert f'"viewflow_task"."status" = {STATUS.SCHEDULED}' in query


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
def test_the_sweep_reads_the_armed_timers_only_not_the_fired_ones(roles, submit_request):
    """With many timers fired and many armed for later, the sweep reads timer_due: it walks
    neither the fired timers (viewflow's index on `scheduled`) nor the armed ones (on `status`)."""
    _policy_with_a_reminder_and_a_level(roles)
    submit_request()
    with connection.cursor() as cursor:
        # as at 100,000 armed in bench/escalation.py: 40,000 fired, 100,000 armed for later
        for status, sign, copies in [("DONE", -1, 10_000), ("SCHEDULED", 1, 25_000)]:
            cursor.execute(
                """INSERT INTO viewflow_task (flow_task, flow_task_type, status, created, token,
                       process_id, data, scheduled)
                   SELECT flow_task, 'TIMER', %s, created, token, process_id, data,
                       now() + %s * make_interval(secs => g)
                   FROM viewflow_task, generate_series(1, %s) g
                   WHERE flow_task_type = 'TIMER' AND status = 'SCHEDULED'""",
                [status, sign, copies],
            )
        cursor.execute("ANALYZE viewflow_task")

    plan = scheduler.timers_due(timezone.now(), 5000).explain()

    assert "Index Scan using timer_due" in plan, plan
