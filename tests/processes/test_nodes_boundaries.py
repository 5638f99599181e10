"""A job's `.OnError` boundary is made when the job fails (processes/nodes/boundaries.py
JobErrorBoundary); a job activated before that change keeps its armed boundary, which is
cancelled or fired as viewflow does. Delivered as the worker does, with real commits."""

from __future__ import annotations

import pytest
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.nodes.boundaries import ARMED_ON_FAILURE
from processes.nodes.celery_job import job_execute
from processes.orders.models import OrderProcess
from tests.conftest import error_boundary_arm_legacy, task_of

pytestmark = pytest.mark.django_db(transaction=True)

OUT_OF_STOCK = [("DESK-01", 1), ("LAMP-03", 1)]  # reserve_inventory fails, its .OnError compensates


def _deliver(process, until: str | None = None) -> None:
    """Deliver the process's scheduled jobs one by one, until none is left (or `until` is due)."""
    for _ in range(20):
        job = Task.objects.filter(process=process, flow_task_type="JOB", status=STATUS.SCHEDULED).first()
        if job is None or job.flow_task.name == until:
            return
        job_execute(job.flow_task.activation_class(job).ref(), message_id=job.external_task_id)
    raise AssertionError("the jobs never ran out")


def _boundaries(process) -> list:
    """The process's error boundary tasks (its compensation events are EVENT tasks too)."""
    events = Task.objects.filter(process=process, flow_task_type="EVENT")
    return [task for task in events if task.flow_task.name.endswith("__error")]


def test_jobs_that_end_well_arm_no_boundary(place_order):
    order = place_order()

    _deliver(order)

    assert OrderProcess.objects.get(pk=order.pk).outcome == OrderProcess.Outcome.COMPLETED
    assert _boundaries(order) == []
    assert task_of(order, "capture_payment").data[ARMED_ON_FAILURE] is True


def test_a_failing_job_makes_its_boundary_and_fires_it(place_order):
    order = place_order(lines=OUT_OF_STOCK)

    _deliver(order)

    failed = task_of(order, "reserve_inventory")
    (boundary,) = _boundaries(order)
    assert boundary.flow_task.name == "reserve_inventory__error"
    assert (boundary.status, boundary.token) == (STATUS.DONE, failed.token)
    assert list(boundary.previous.all()) == [failed]
    assert failed.status == STATUS.CANCELED  # the boundary interrupts its host
    assert task_of(order, "refund_payment").status == STATUS.DONE
    assert OrderProcess.objects.get(pk=order.pk).outcome == "compensated"


def test_an_armed_boundary_of_an_older_job_is_cancelled_when_it_ends_well(place_order):
    order = place_order()
    armed = error_boundary_arm_legacy(task_of(order, "authorize_payment"))

    _deliver(order, until="check_fraud")

    armed.refresh_from_db()
    assert armed.status == STATUS.CANCELED
    assert len(_boundaries(order)) == 1


def test_an_armed_boundary_of_an_older_job_fires_when_it_fails(place_order):
    order = place_order(lines=OUT_OF_STOCK)
    _deliver(order, until="reserve_inventory")
    armed = error_boundary_arm_legacy(task_of(order, "reserve_inventory"))

    _deliver(order)

    armed.refresh_from_db()
    assert armed.status == STATUS.DONE
    assert len(_boundaries(order)) == 1  # fired, not made a second time
    assert OrderProcess.objects.get(pk=order.pk).outcome == "compensated"
