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


# ---------------------------------------------------------------- prepared reads


def test_a_prepared_read_binds_a_time_and_a_value_used_twice(olivia, alice):
    """A time is bound as the backend writes a time column's value, and a value may be more than
    one parameter of the query: each place takes it."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.db.models import Q
    from django.utils import timezone

    from processes.locks import prepared_read

    users = get_user_model().objects

    def build(joined_by, pk):
        return users.filter(Q(pk=pk) | Q(pk=pk + 0), date_joined__lte=joined_by)

    now = timezone.now()
    assert prepared_read(("test.joined",), build, now, olivia.pk).run() == [olivia]
    assert prepared_read(("test.joined",), build, now, alice.pk).run() == [alice]  # compiled once
    assert (
        prepared_read(("test.joined",), build, olivia.date_joined - timedelta(days=1), olivia.pk).run() == []
    )
    for key in [("test.naive",), ("test.joined",)]:  # compiling it, or bound to a compiled one
        with pytest.raises(ValueError, match="aware times only"):
            prepared_read(key, build, now.replace(tzinfo=None), olivia.pk)
    with pytest.raises(ValueError, match="must be a parameter of the query"):
        prepared_read(("test.unused",), lambda joined_by, pk: users.filter(pk=pk), now, olivia.pk)


def test_a_prepared_read_keeps_the_query_s_annotations(olivia, alice):
    from django.contrib.auth import get_user_model
    from django.db.models import Value

    from processes.locks import prepared_read

    (found,) = prepared_read(
        ("test.annotated",),
        lambda pk: get_user_model().objects.filter(pk=pk).annotate(flag=Value(7)),
        olivia.pk,
    ).run()
    assert (found, found.flag) == (olivia, 7)
