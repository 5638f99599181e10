"""Headless walk through the policy-driven chain: each stage condition, rejection and revision,
withdrawal, and pinning of the policy version a request started with."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.models import AuditEvent
from processes.nodes.celery_job import job_execute
from processes.policies.models import PolicyStage
from processes.policies.services import policy_version_copy, policy_version_publish
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_task_decide, purchase_task_revise
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _decide(process, user, approved=True, comment=""):
    task = task_of(process, "approve")
    task_claim(task=task, user=user)
    purchase_task_decide(task=task, user=user, approved=approved, comment=comment)
    process.refresh_from_db()
    return task


def _approve_tasks(process):
    return list(Task.objects.filter(process=process, flow_task=process.flow_class.approve).order_by("pk"))


def _run_job(process) -> str:
    job = task_of(process, "create_order")
    return job_execute(job.flow_task.activation_class(job).ref())


def test_a_request_pins_the_published_version_and_enters_its_first_stage(
    purchase_policy, submit_request, olivia, frank
):
    process = submit_request(amount="640.00")

    assert process.policy_version == purchase_policy
    assert process.stage_order == 1
    approve = task_of(process, "approve")
    assert approve.owner_permission == f"processes.candidate_{purchase_policy.stages.get(order=1).group_id}"
    assert approve.data["stage_name"] == "Team approval"
    flows = [process.flow_class]
    assert list(Task.objects.queue(flows, olivia)) == [approve]
    assert list(Task.objects.queue(flows, frank)) == []


def test_an_amount_at_or_below_the_condition_skips_the_finance_stage(purchase_policy, submit_request, olivia):
    process = submit_request(amount="1000.00")

    _decide(process, olivia)

    assert [t.data["stage_name"] for t in _approve_tasks(process)] == ["Team approval"]
    assert task_of(process, "create_order").status == STATUS.SCHEDULED
    assert _run_job(process) == "done"
    process.refresh_from_db()
    assert process.status == PROCESS.DONE
    assert PurchaseOrder.objects.filter(process=process).exists()


def test_an_amount_above_the_condition_goes_on_to_finance_where_only_finance_may_claim(
    purchase_policy, submit_request, olivia, oscar, frank
):
    process = submit_request(amount="1180.00")
    _decide(process, olivia, comment="Team agrees.")

    finance = task_of(process, "approve")
    assert process.stage_order == 2
    assert finance.data["stage_name"] == "Finance review"
    assert list(Task.objects.queue([process.flow_class], frank)) == [finance]
    with pytest.raises(PermissionDenied):
        task_claim(task=finance, user=oscar)
    assert not Task.objects.filter(process=process, flow_task_type="JOB").exists()

    _decide(process, frank)

    assert process.approved is True
    assert task_of(process, "create_order").status == STATUS.SCHEDULED
    decided = AuditEvent.objects.filter(process=process, action="purchase.approved")
    assert [(e.actor_name, e.details["stage_name"]) for e in decided] == [
        ("olivia", "Team approval"),
        ("frank", "Finance review"),
    ]


def test_a_rejection_returns_the_request_and_a_revision_restarts_the_chain_on_the_same_version(
    purchase_policy, submit_request, alice, olivia, frank, admin_user
):
    process = submit_request(amount="1180.00")
    _decide(process, olivia)
    _decide(process, frank, approved=False, comment="Too expensive; find a cheaper offer.")

    revise = task_of(process, "revise")
    assert (revise.status, revise.owner) == (STATUS.ASSIGNED, alice)
    # A newer version published meanwhile does not change this request's chain.
    newer = policy_version_copy(version=purchase_policy, user=admin_user)
    newer.stages.filter(order=2).update(amount_above=Decimal("500.00"))
    policy_version_publish(version=newer, user=admin_user)

    purchase_task_revise(
        task=revise,
        user=alice,
        withdraw=False,
        comment="Found one for 900.",
        data={
            "title": "Conference tickets",
            "amount": Decimal("900.00"),
            "currency": "EUR",
            "justification": "x",
        },
    )

    process.refresh_from_db()
    assert (process.revision, process.amount, process.policy_version) == (
        1,
        Decimal("900.00"),
        purchase_policy,
    )
    restarted = task_of(process, "approve")
    assert (restarted.status, restarted.data["stage"]) == (STATUS.NEW, 1)
    _decide(process, olivia)
    # 900 is not above 1,000 in the pinned version, so finance is skipped this time.
    assert task_of(process, "create_order").status == STATUS.SCHEDULED
    revised = AuditEvent.objects.get(process=process, action="purchase.revised")
    assert revised.details["changes"]["amount"] == {"from": "1180.00", "to": "900.00"}


def test_the_requester_may_withdraw_a_rejected_request(purchase_policy, submit_request, alice, olivia):
    process = submit_request()
    _decide(process, olivia, approved=False, comment="Not now.")

    with pytest.raises(PermissionDenied):
        purchase_task_revise(task=task_of(process, "revise"), user=olivia, withdraw=True)
    purchase_task_revise(task=task_of(process, "revise"), user=alice, withdraw=True, comment="Fine.")

    process.refresh_from_db()
    assert process.status == PROCESS.DONE
    assert process.withdrawn is True
    assert task_of(process, "withdrawn").status == STATUS.DONE
    assert not Task.objects.filter(process=process, flow_task_type="JOB").exists()


def test_publishing_a_new_version_changes_the_next_request_but_not_a_running_one(
    purchase_policy, submit_request, olivia, maria, roles, admin_user
):
    running = submit_request(amount="200.00")
    draft = policy_version_copy(version=purchase_policy, user=admin_user)
    PolicyStage.objects.create(version=draft, order=3, name="Manager sign-off", group=roles["managers"])
    published = policy_version_publish(version=draft, user=admin_user)

    following = submit_request(amount="200.00")

    assert following.policy_version == published
    assert running.policy_version == purchase_policy
    _decide(running, olivia)
    assert task_of(running, "create_order").status == STATUS.SCHEDULED  # the old chain: one stage

    _decide(following, olivia)
    manager_stage = task_of(following, "approve")
    assert (manager_stage.status, manager_stage.data["stage_name"]) == (STATUS.NEW, "Manager sign-off")
    _decide(following, maria)
    assert task_of(following, "create_order").status == STATUS.SCHEDULED


def test_without_a_published_policy_the_approvers_decide_alone(submit_request, olivia):
    process = submit_request(amount="5000.00")

    assert process.policy_version is None
    assert task_of(process, "approve").owner_permission == "purchase.approve_purchase"
    _decide(process, olivia)
    assert task_of(process, "create_order").status == STATUS.SCHEDULED
