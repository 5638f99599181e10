"""`task_locked` (processes/locks.py): the task re-read in place under the flow lock, with its
process as its own model and who started it, on PostgreSQL in the lock's own round trip."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.locks import task_locked
from processes.purchase.models import PurchaseProcess
from processes.registry import registry
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def test_the_task_is_reread_in_place_with_its_process_and_starter(
    purchase_policy, submit_request, alice, olivia
):
    process = submit_request()
    held = task_of(process, "approve")
    Task.objects.filter(pk=held.pk).update(status=STATUS.ASSIGNED, owner=olivia)  # meanwhile, elsewhere

    with CaptureQueriesContext(connection) as captured, transaction.atomic(), task_locked(held) as task:
        assert task is held  # whoever holds the object sees the fresh row
        assert (task.status, task.owner_id) == (STATUS.ASSIGNED, olivia.pk)
        assert type(task.process) is PurchaseProcess
        assert task.process.title == process.title
        assert registry.for_task(task).starter_id(task.process) == alice.pk
    statements = [query["sql"] for query in captured if not query["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "postgresql":  # the lock and the three reads: one round trip
        assert len(statements) == 1, statements
        assert "FOR UPDATE" in statements[0]


def test_a_task_that_is_gone_is_said_so(purchase_policy, submit_request):
    process = submit_request()
    gone = Task(
        pk=task_of(process, "approve").pk + 10_000,
        process_id=process.pk,
        flow_task=process.flow_class.approve,
    )
    with pytest.raises(Task.DoesNotExist, match="is gone"), transaction.atomic(), task_locked(gone):
        pass
