"""`task_locked` (processes/locks.py): the task re-read in place under the flow lock, with its
process as its own model and who started it, on PostgreSQL in the lock's own round trip."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.locks import task_locked
from processes.models import AuditEvent
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

    with transaction.atomic(), CaptureQueriesContext(connection) as captured, task_locked(held) as task:
        assert task is held  # whoever holds the object sees the fresh row
        assert (task.status, task.owner_id) == (STATUS.ASSIGNED, olivia.pk)
        assert type(task.process) is PurchaseProcess
        assert task.process.title == process.title
        assert registry.for_task(task).starter_id(task.process) == alice.pk
    statements = [query["sql"] for query in captured]
    if connection.vendor == "postgresql":  # the block's savepoint, the lock and three reads: one
        assert len(statements) == 1, statements  # round trip, and no RELEASE before the commit
        assert statements[0].startswith("SAVEPOINT")
        assert "FOR UPDATE" in statements[0]


def test_a_lock_that_fails_rolls_back_its_block_only(purchase_policy, submit_request):
    """The savepoint opened with the lock is the block's: a failure in it rolls back what the
    block did (and its audit rows, and its on-commit work), and the transaction goes on."""
    from processes.audit import audit_record

    process = submit_request()
    task = task_of(process, "approve")
    committed: list[str] = []
    with transaction.atomic():
        with pytest.raises(RuntimeError), task_locked(task):
            Task.objects.filter(pk=task.pk).update(status=STATUS.CANCELED)
            audit_record(action="test.inside", task=task)
            transaction.on_commit(lambda: committed.append("inside"))
            raise RuntimeError("the block fails")
        transaction.on_commit(lambda: committed.append("after"))
        assert Task.objects.get(pk=task.pk).status == STATUS.NEW  # usable, and rolled back
    assert not AuditEvent.objects.filter(action="test.inside").exists()
    if not connection.in_atomic_block:  # on-commit work runs only where the test commits
        assert committed == ["after"]


def test_a_task_that_is_gone_is_said_so(purchase_policy, submit_request):
    process = submit_request()
    gone = Task(
        pk=task_of(process, "approve").pk + 10_000,
        process_id=process.pk,
        flow_task=process.flow_class.approve,
    )
    with pytest.raises(Task.DoesNotExist, match="is gone"), transaction.atomic(), task_locked(gone):
        pass
