"""Headless walk through the purchase flow: every branch, through services and node APIs."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.models import AuditEvent, ProcessComment
from processes.nodes.celery_job import job_execute
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim, task_unclaim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _run_job(process) -> str:
    job = task_of(process, "create_order")
    activation = job.flow_task.activation_class(job)
    return job_execute(activation.ref())


def test_submitted_request_waits_in_the_approvers_queue(submit_request, alice, olivia, frank):
    process = submit_request()

    approve = task_of(process, "approve")
    assert approve.status == STATUS.NEW
    assert approve.owner_permission == "purchase.approve_purchase"
    flows = [process.flow_class]
    assert list(Task.objects.queue(flows, olivia)) == [approve]
    assert list(Task.objects.queue(flows, frank)) == []
    assert process.requester == alice


def test_approval_schedules_the_order_job_and_the_job_finishes_the_process(
    submit_request, olivia, django_capture_on_commit_callbacks
):
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    with django_capture_on_commit_callbacks() as callbacks:
        purchase_task_decide(task=approve, user=olivia, approved=True, comment="Fine.")

    job = task_of(process, "create_order")
    assert job.status == STATUS.SCHEDULED
    assert job.external_task_id
    assert job.data["idempotency_key"] == f"{process.pk}:create_order:{job.pk}"
    # The Celery message goes out only after commit (so do the live notifications' wake-ups).
    assert len([c for c in callbacks if "CeleryJobActivation" in c.__qualname__]) == 1

    assert _run_job(process) == "done"

    process.refresh_from_db()
    assert process.status == PROCESS.DONE
    assert process.approved is True
    order = PurchaseOrder.objects.get(process=process)
    assert order.number == f"PO-{process.pk:06d}"
    assert task_of(process, "approved").status == STATUS.DONE


def test_rejection_needs_a_comment_and_returns_the_request_to_the_requester(submit_request, olivia, alice):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    with pytest.raises(ValueError, match="A rejection needs a comment"):
        purchase_task_decide(task=approve, user=olivia, approved=False, comment="  ")

    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Not in this budget.")

    process.refresh_from_db()
    assert process.status == PROCESS.NEW
    assert process.approved is False
    revise = task_of(process, "revise")
    assert (revise.status, revise.owner) == (STATUS.ASSIGNED, alice)
    assert not Task.objects.filter(process=process, flow_task_type="JOB").exists()
    assert ProcessComment.objects.get(process=process).text == "Not in this budget."


def test_only_holders_of_the_approve_permission_may_claim(submit_request, frank, alice):
    approve = task_of(submit_request(), "approve")

    for outsider in (frank, alice):
        with pytest.raises(PermissionDenied):
            task_claim(task=approve, user=outsider)

    approve.refresh_from_db()
    assert approve.status == STATUS.NEW
    assert approve.owner is None


def test_only_the_owner_may_decide(submit_request, olivia, oscar):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)

    with pytest.raises(PermissionDenied):
        purchase_task_decide(task=approve, user=oscar, approved=True)


def test_a_claimed_task_can_be_released_by_its_owner_or_a_manager(submit_request, olivia, oscar, maria):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)

    with pytest.raises(PermissionDenied):
        task_unclaim(task=approve, user=oscar)
    task_unclaim(task=approve, user=maria)

    approve.refresh_from_db()
    assert approve.status == STATUS.NEW
    assert approve.owner is None


def test_requesters_without_the_start_permission_cannot_start(submit_request, frank):
    with pytest.raises(PermissionDenied):
        submit_request(requester=frank)


def test_every_state_change_is_audited_with_the_correlation_id(submit_request, olivia):
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True, comment="ok")
    _run_job(process)

    events = list(AuditEvent.objects.filter(process=process))
    actions = [(e.action, e.details.get("node", ""), e.actor_name) for e in events]
    assert ("process.started", "", "alice") in actions
    assert ("task.assigned", "approve", "olivia") in actions
    assert ("purchase.approved", "", "olivia") in actions
    assert ("task.completed", "approve", "olivia") in actions
    assert ("task.created", "create_order", "olivia") in actions
    assert ("task.started", "create_order", "") in actions  # the worker acts as the system
    assert ("purchase.order_created", "", "") in actions
    assert ("task.completed", "create_order", "") in actions
    assert actions[-1] == ("process.finished", "", "")
    assert {e.correlation_id for e in events} == {str(process.correlation_id)}
    # Viewing a task form (HUMAN start on GET) is not a state change, so it is never recorded.
    assert not AuditEvent.objects.filter(action="task.started", details__node="approve").exists()
