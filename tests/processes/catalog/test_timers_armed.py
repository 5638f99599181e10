"""A stage task records which of its timer boundaries were armed with it (processes/nodes/
deadline.py, TIMERS_ARMED), so that finishing one that armed none reads nothing to cancel; one
that armed some cancels them as before, and so does a task written before the record existed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.catalog.services import catalog_request_start, catalog_task_decide
from processes.nodes.boundaries import TIMERS_ARMED
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _laptop(expense_type, alice, amount: str = "1200"):
    return catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Laptop", "amount": Decimal(amount), "category": "Equipment"},
    )


def _decide(process, user):
    task = task_of(process, "approve")
    task_claim(task=task, user=user)
    task.refresh_from_db()
    catalog_task_decide(task=task, user=user, approved=True, comment="ok")
    return task


def _timers(task) -> list:
    return list(Task.objects.filter(previous=task, flow_task_type="TIMER").order_by("pk"))


def _decided_reading_open_boundaries(process, user) -> int:
    """Decide `process`'s open stage as `user`; how many reads of a finished host's open
    followers (HostFinishedMixin) that took."""
    with CaptureQueriesContext(connection) as captured:
        _decide(process, user)
    return sum(
        '"viewflow_task_previous"' in q["sql"] and 'NOT ("viewflow_task"."status" IN' in q["sql"]
        for q in captured
    )


def _armed(task) -> tuple[list[str] | None, list[str]]:
    """What `task`'s data says was armed with it, and the statuses of its timers."""
    task.refresh_from_db()
    return task.data.get(TIMERS_ARMED), [timer.status for timer in _timers(task)]


def test_a_stage_without_timers_records_none_and_reads_none_when_decided(expense_type, alice, olivia):
    process = _laptop(expense_type, alice, amount="300")  # the Approval stage only: no levels
    assert _armed(task_of(process, "approve")) == ([], [])
    assert _decided_reading_open_boundaries(process, olivia) == 0
    assert type(process).objects.get(pk=process.pk).status == STATUS.DONE


def test_a_stage_with_a_level_records_it_and_cancels_it_when_decided(expense_type, alice, olivia, frank):
    process = _laptop(expense_type, alice)
    _decide(process, olivia)
    finance = task_of(process, "approve")  # Finance: escalation level 1 at its due time
    assert _armed(finance) == (["approve__timeout_2"], [STATUS.SCHEDULED])
    assert _decided_reading_open_boundaries(process, frank) == 1
    assert _armed(finance) == (["approve__timeout_2"], [STATUS.CANCELED])


def test_a_task_written_before_the_record_cancels_its_timers_as_before(expense_type, alice, olivia, frank):
    process = _laptop(expense_type, alice)
    _decide(process, olivia)
    finance = task_of(process, "approve")
    finance.data.pop(TIMERS_ARMED)
    finance.save(update_fields=["data"])
    _decide(process, frank)
    assert _armed(finance) == (None, [STATUS.CANCELED])
