"""The If and Function nodes (processes/nodes/gateways.py): a savepoint of their own only where
their error is kept on the task; where it propagates, the flow lock's block rolls back whole."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.context import Context
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.policies.chain import StagedProcess
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from processes.purchase.services import purchase_decide
from processes.services import task_claim, task_executing
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

# A person's approval passes three of these nodes: check_approved (If), route (Function) and
# has_next_stage (If), which reads `has_stage`.
GATES_PASSED = 3


def _unreadable(self) -> bool:
    raise RuntimeError("the stage chain is unreadable")


def _claimed(submit_request, olivia) -> Task:
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    return task


def _decide(task: Task, user) -> list[str]:
    """Approve `task` as `user` in a transaction of its own; the savepoints it opened."""
    with (
        CaptureQueriesContext(connection) as captured,
        transaction.atomic(),
        task_executing(task=task, user=user) as activation,
    ):
        purchase_decide(activation=activation, user=user, approved=True, comment="")
    return [query["sql"] for query in captured if query["sql"].startswith("SAVEPOINT")]


def test_the_gates_of_a_decision_open_a_savepoint_only_where_their_error_is_kept(
    purchase_policy, submit_request, olivia
):
    propagating = _decide(_claimed(submit_request, olivia), olivia)
    with Context(propagate_exception=False):
        quiet = _decide(_claimed(submit_request, olivia), olivia)
    assert len(quiet) - len(propagating) == GATES_PASSED


def test_a_gate_that_fails_in_a_decision_rolls_the_whole_decision_back(
    purchase_policy, submit_request, olivia, monkeypatch
):
    task = _claimed(submit_request, olivia)
    monkeypatch.setattr(StagedProcess, "has_stage", property(_unreadable))
    with pytest.raises(RuntimeError, match="unreadable"):
        _decide(task, olivia)

    # The transaction around it is usable (nothing left marked for rollback) and holds nothing
    # of the decision: the task is still olivia's, no gate ran, the process is undecided.
    task.refresh_from_db()
    assert task.status == STATUS.ASSIGNED
    assert not Task.objects.filter(process_id=task.process_id, flow_task=PurchaseFlow.check_approved).exists()
    assert PurchaseProcess.objects.get(pk=task.process_id).approved is None


def test_where_a_gate_keeps_its_error_the_work_before_it_stays(
    purchase_policy, submit_request, olivia, monkeypatch
):
    task = _claimed(submit_request, olivia)
    monkeypatch.setattr(StagedProcess, "has_stage", property(_unreadable))
    with Context(propagate_exception=False):
        _decide(task, olivia)

    gate = task_of(task.process, "has_next_stage")
    assert gate.status == STATUS.ERROR
    assert "unreadable" in gate.data["_exception"]["title"]
    assert task_of(task.process, "approve").status == STATUS.DONE
    assert task_of(task.process, "route").status == STATUS.DONE
