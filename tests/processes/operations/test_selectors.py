"""The operations dashboard's selectors: what is stuck, at risk, breached and failed, and each
process type's compensation rate, throughput and time to decision (ADR 0020)."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.operations import selectors
from processes.orders.flows import OrderFlow
from processes.purchase import services as purchase_services
from processes.purchase.flows import PurchaseFlow
from processes.purchase.services import purchase_task_decide
from processes.registry import registry
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from tests.conftest import error_boundary_arm_legacy, task_of

pytestmark = pytest.mark.django_db

FLOWS = [PurchaseFlow, OrderFlow]


def _run_jobs(process) -> None:
    """Run the process's scheduled automated steps through the worker's entry point."""
    for _ in range(20):
        job = Task.objects.filter(process=process, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None:
            return
        job_execute(job.flow_task.activation_class(job).ref())


def _later(minutes: float):
    return timezone.now() + timedelta(minutes=minutes)


def _stuck(minutes: float) -> list[int]:
    return list(selectors.stuck_processes(FLOWS, now=_later(minutes)).values_list("pk", flat=True))


def _cancel(process, *nodes: str) -> None:
    Task.objects.filter(
        process=process, flow_task__in=[getattr(process.flow_class, n) for n in nodes]
    ).update(status=STATUS.CANCELED)


@pytest.fixture
def delivery_wait(place_order):
    """An order whose steps ran: it waits for the carrier's message (WAIT) and its timeout (TIMER)."""
    order = place_order()
    _run_jobs(order)
    assert {
        (t.flow_task_type, t.status) for t in Task.objects.filter(process=order, status=STATUS.SCHEDULED)
    } == {
        ("WAIT", STATUS.SCHEDULED),
        ("TIMER", STATUS.SCHEDULED),
    }
    return order


# ---------------------------------------------------------------- stuck


def test_a_process_waiting_on_a_person_is_never_stuck(purchase_policy, submit_request):
    submit_request()

    assert _stuck(24 * 60) == []


def test_a_process_waiting_on_a_message_or_a_timer_is_not_stuck(delivery_wait):
    assert _stuck(180) == []

    _cancel(delivery_wait, "await_delivery__timeout")  # only the message wait is left
    assert _stuck(180) == []

    Task.objects.filter(process=delivery_wait, flow_task_type="WAIT").update(status=STATUS.CANCELED)
    Task.objects.filter(process=delivery_wait, flow_task_type="TIMER").update(status=STATUS.SCHEDULED)
    assert _stuck(180) == []  # only the timer is left


def test_a_process_with_nothing_open_is_stuck_once_idle_past_the_setting(delivery_wait, settings):
    settings.STUCK_AFTER_MINUTES = 60
    Task.objects.filter(process=delivery_wait, status=STATUS.SCHEDULED).update(status=STATUS.CANCELED)

    assert _stuck(59) == []  # its last transition is less than an hour old
    assert _stuck(61) == [delivery_wait.pk]
    settings.STUCK_AFTER_MINUTES = 120
    assert _stuck(61) == []


def test_a_lost_job_is_stuck_even_with_its_error_boundary_open(place_order):
    """A job activated before error boundaries were made on failure has its boundary open."""
    order = place_order()  # authorize_payment is SCHEDULED
    error_boundary_arm_legacy(task_of(order, "authorize_payment"))
    assert Task.objects.filter(process=order, flow_task_type="EVENT", status=STATUS.NEW).exists()

    assert _stuck(30) == []
    assert _stuck(61) == [order.pk]


def test_a_process_waiting_in_a_message_catch_is_not_stuck(place_order):
    """viewflow's message and signal catches are EVENT tasks like an error boundary: they wait by
    their node, not their type. None of these flows has one: the error boundary stands in."""
    order = place_order()
    boundary = error_boundary_arm_legacy(task_of(order, "authorize_payment"))
    Task.objects.filter(process=order, flow_task_type="JOB").update(status=STATUS.CANCELED)
    assert _stuck(61) == [order.pk]

    with mock.patch.object(selectors, "_nodes_of", return_value=[boundary.flow_task]):
        assert _stuck(61) == []


def test_the_waiting_index_says_what_the_stuck_query_asks():
    """PostgreSQL uses the partial index ops_task_waiting (migration 0027) only if its predicate
    is the query's: the same open statuses and waiting node types."""
    import importlib

    sql = importlib.import_module("processes.migrations.0028_scrape_indexes").TASK_WAITING
    statuses = ", ".join(f"'{status}'" for status in selectors.OPEN_TASK_STATUSES)
    kinds = ", ".join(f"'{kind}'" for kind in selectors.WAITING_NODE_TYPES)

    assert f"WHERE status IN ({statuses}) AND flow_task_type IN ({kinds})" in sql


def test_a_failed_step_is_an_incident_not_a_stuck_process(place_order):
    order = place_order()
    Task.objects.filter(process=order, flow_task_type="JOB").update(status=STATUS.ERROR)

    assert _stuck(120) == []
    assert list(selectors.incidents(FLOWS).values_list("process_id", flat=True)) == [order.pk]
    assert list(selectors.incidents([PurchaseFlow])) == []  # only the types asked about


def test_a_finished_process_is_not_stuck(place_order):
    order = place_order()
    Process.objects.filter(pk=order.pk).update(status=PROCESS.DONE, finished=timezone.now())

    assert _stuck(120) == []


def test_stuck_counts_name_every_process_type(place_order):
    order = place_order()

    counts = selectors.stuck_process_counts(now=_later(120))

    assert counts == {descriptor.flow_ref: 0 for descriptor in registry} | {"orders/flows.OrderFlow": 1}
    assert order.pk in [p.pk for p in selectors.stuck_panel(FLOWS, now=_later(120))[0]]


def test_the_stuck_panel_says_since_when_and_what_is_open(place_order):
    order = place_order()

    rows, count = selectors.stuck_panel(FLOWS, now=_later(120))

    assert count == 1
    assert rows[0].idle_since == Task.objects.filter(process=order).latest("created").created
    assert [t.flow_task.name for t in rows[0].open_tasks] == ["authorize_payment"]  # no armed boundary


# ---------------------------------------------------------------- SLA risk and breach


def test_a_task_is_at_risk_in_the_last_fifth_of_its_sla_then_breached(
    purchase_policy, submit_request, settings
):
    settings.SLA_AT_RISK_PERCENT, settings.SLA_AT_RISK_HOURS = 20, 4
    row = TaskRow.objects.get(process_id=submit_request().pk)  # Team approval: a 4-hour SLA
    created = row.created

    def state(after: timedelta) -> tuple[bool, bool]:
        now = created + after
        return (
            row.pk in selectors.tasks_at_risk(FLOWS, now=now).values_list("pk", flat=True),
            row.pk in selectors.tasks_breached(FLOWS, now=now).values_list("pk", flat=True),
        )

    assert state(timedelta(hours=3)) == (False, False)  # 60 min left: more than 48
    assert state(timedelta(hours=3, minutes=13)) == (True, False)  # 47 min left
    assert state(timedelta(hours=4, minutes=1)) == (False, True)


def test_at_risk_is_never_further_ahead_than_the_hours_setting(purchase_policy, submit_request, settings):
    settings.SLA_AT_RISK_PERCENT, settings.SLA_AT_RISK_HOURS = 20, 4
    row = TaskRow.objects.get(process_id=submit_request().pk)
    TaskRow.objects.filter(pk=row.pk).update(due_at=row.created + timedelta(days=2))
    now = row.created + timedelta(days=2) - timedelta(hours=5)  # 5 h left of 48: 10 %, but over 4 h

    assert list(selectors.tasks_at_risk(FLOWS, now=now)) == []
    assert [r.pk for r in selectors.tasks_at_risk(FLOWS, now=now + timedelta(hours=2))] == [row.pk]


def test_a_decided_task_is_neither_at_risk_nor_breached(purchase_policy, submit_request, olivia):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)
    assert [r.pk for r in selectors.tasks_breached(FLOWS, now=_later(5 * 60))] == [task.pk]  # claimed: open

    with mock.patch.object(celery_job, "job_send", return_value=True):
        purchase_task_decide(task=task, user=olivia, approved=False, comment="No.")

    assert list(selectors.tasks_breached(FLOWS, now=_later(5 * 60))) == []
    assert list(selectors.tasks_at_risk(FLOWS, now=_later(3 * 60 + 30))) == []


# ---------------------------------------------------------------- per process type


def test_the_compensation_rate_counts_compensated_of_finished_per_type(place_order):
    compensated = place_order(lines=(("DESK-01", 1), ("LAMP-03", 1)), email="grace@example.com")
    _run_jobs(compensated)
    completed = place_order()
    Process.objects.filter(pk=completed.pk).update(status=PROCESS.DONE, finished=timezone.now())
    old = place_order(email="old@example.com")
    Process.objects.filter(pk=old.pk).update(status=PROCESS.DONE, finished=timezone.now() - timedelta(days=3))

    purchase, orders = selectors.type_figures(FLOWS)

    assert (purchase.compensates, orders.compensates) == (False, True)
    assert (orders.compensated_24h, orders.finished_24h, orders.rate_24h) == (1, 2, 0.5)
    assert (orders.compensated_7d, orders.finished_7d) == (1, 3)
    assert (purchase.finished_7d, purchase.rate_7d) == (0, None)


def test_throughput_counts_finished_processes_per_day(place_order):
    for days_ago in (0, 0, 2):
        order = place_order()
        Process.objects.filter(pk=order.pk).update(
            status=PROCESS.DONE, finished=timezone.now() - timedelta(days=days_ago)
        )

    (orders,) = selectors.type_figures([OrderFlow])

    assert len(orders.per_day) == selectors.THROUGHPUT_DAYS
    assert [n for _day, n in orders.per_day][-3:] == [1, 0, 2]
    assert orders.per_day[-1][0] == timezone.localdate()


def test_time_to_decision_is_created_to_decided(purchase_policy, submit_request, olivia):
    durations = []
    for minutes in (10, 30, 50):
        process = submit_request()
        task = task_of(process, "approve")
        TaskRow.objects.filter(pk=task.pk).update(created=timezone.now() - timedelta(minutes=minutes))
        Task.objects.filter(pk=task.pk).update(created=timezone.now() - timedelta(minutes=minutes))
        task.refresh_from_db()
        task_claim(task=task, user=olivia)
        with (
            mock.patch.object(celery_job, "job_send", return_value=True),
            mock.patch.object(purchase_services, "purchase_order_create"),
        ):
            purchase_task_decide(task=task, user=olivia, approved=False, comment="No.")
        row = TaskRow.objects.get(pk=task.pk)
        durations.append(row.finished - row.created)

    (purchase,) = selectors.type_figures([PurchaseFlow])

    assert purchase.decisions == 3
    assert purchase.decision_median == sorted(durations)[1]
    assert purchase.decision_p90 == max(durations)
    assert purchase.decision_per_day[-1] == (timezone.localdate(), sorted(durations)[1])
    assert purchase.decision_per_day[0][1] is None


def test_percentile_is_nearest_rank():
    values = [timedelta(minutes=m) for m in (5, 1, 3, 2, 4)]

    assert selectors.percentile(values, 0.5) == timedelta(minutes=3)
    assert selectors.percentile(values, 0.9) == timedelta(minutes=5)
    assert selectors.percentile(values[:1], 0.9) == timedelta(minutes=5)
    assert selectors.percentile([], 0.5) is None
