"""Fixing running instances (processes/interventions.py): a process manager reassigns an open task,
moves its due time (its timers follow, fired ones stay fired), retries or skips a failed step, and
cancels a process (through its compensation path where the flow has one). Each needs a reason, is
audited with before and after, tells whom it concerns, and is refused clearly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.exceptions import InterventionRefused
from processes.gate import GateDenied
from processes.interventions import REASON_MAX_LENGTH, process_cancel, task_due_change, task_reassign_fix
from processes.models import AuditEvent, Notification, NotificationKind
from processes.nodes import celery_job
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from processes.purchase.services import purchase_task_decide
from processes.scheduler import timers_fire_due
from processes.selectors import process_history
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from tests.conftest import fraud_review_of, task_of

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
SLA = timedelta(hours=4)


@pytest.fixture(autouse=True)
def _eager_sweep_and_no_broker(monkeypatch):
    from django.core.cache import cache

    from portal.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    cache.clear()
    with mock.patch.object(celery_job, "job_send", return_value=True):
        yield


@pytest.fixture
def escalating_policy(roles, maria):
    """Team approval: a 4-hour SLA, a reminder an hour before, level 1 at the due time and level 2
    two hours after."""
    return policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": SLA,
                "reminder_before": timedelta(hours=1),
                "escalation_group": roles["managers"],
                "escalation_user": maria,
                "levels": [
                    (timedelta(0), EscalationAction.NOTIFY),
                    (timedelta(hours=2), EscalationAction.NOTIFY),
                ],
            }
        ],
    )


def _event(action: str, **filters):
    return AuditEvent.objects.get(action=action, **filters)


def _armed(process):
    return {
        t.flow_task.name: t.scheduled
        for t in Task.objects.filter(process=process, flow_task_type="TIMER", status=STATUS.SCHEDULED)
    }


def _fire_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        timers_fire_due()


# ---------------------------------------------------------------- reassign


def test_a_manager_reassigns_a_queued_task_with_a_reason(purchase_policy, submit_request, maria, olivia):
    approve = task_of(submit_request(), "approve")

    task_reassign_fix(task=approve, user=maria, to_user=olivia, reason="  Oscar is on leave.  ")

    approve.refresh_from_db()
    assert (approve.status, approve.owner) == (STATUS.ASSIGNED, olivia)
    event = _event("intervention.reassigned", task=approve)
    assert event.actor == maria
    assert event.details == {
        "node": "approve",
        "reason": "Oscar is on leave.",
        "before": {"status": "NEW", "owner": ""},
        "after": {"status": "ASSIGNED", "owner": "olivia"},
    }
    assert _event("task.assigned", task=approve).details["intervention"] == "reassigned"
    assert Notification.objects.filter(user=olivia, kind=NotificationKind.TASK_ASSIGNED).exists()
    history = process_history(approve.process)
    (row,) = [r for r in history if r["what"] == "Reassigned by a process manager"]
    assert (row["detail"], row["comment"]) == ("to olivia", "Oscar is on leave.")
    assert "Claimed" not in [r["what"] for r in history]  # the fix's own row tells it


def test_a_manager_takes_a_held_task_from_one_approver_to_another(
    purchase_policy, submit_request, maria, olivia, oscar
):
    approve = task_of(submit_request(), "approve")
    task_claim(task=approve, user=olivia)

    task_reassign_fix(task=approve, user=maria, to_user=oscar, reason="Olivia is ill.")

    approve.refresh_from_db()
    assert approve.owner == oscar
    details = _event("intervention.reassigned", task=approve).details
    assert (details["before"]["owner"], details["after"]["owner"]) == ("olivia", "oscar")
    assert Notification.objects.filter(user=olivia, kind=NotificationKind.TASK_TAKEN).exists()


@pytest.mark.parametrize("reason", ["", "   ", "x" * (REASON_MAX_LENGTH + 1)])
def test_a_reassignment_needs_a_short_reason(purchase_policy, submit_request, maria, olivia, reason):
    approve = task_of(submit_request(), "approve")

    with pytest.raises(ValidationError) as caught:
        task_reassign_fix(task=approve, user=maria, to_user=olivia, reason=reason)

    assert "reason" in caught.value.message_dict
    approve.refresh_from_db()
    assert approve.owner is None
    assert not AuditEvent.objects.filter(action="intervention.reassigned").exists()


def test_reassignment_refusals(purchase_policy, submit_request, maria, olivia, oscar, frank, alice_approves):
    approve = task_of(submit_request(), "approve")

    with pytest.raises(GateDenied) as not_manager:
        task_reassign_fix(task=approve, user=olivia, to_user=oscar, reason="I say so.")
    assert not_manager.value.reason == "not_manager"
    with pytest.raises(GateDenied) as no_rights:
        task_reassign_fix(task=approve, user=maria, to_user=frank, reason="Finance knows.")
    assert no_rights.value.reason == "target_not_eligible"
    with pytest.raises(GateDenied) as own:  # segregation of duties: alice started it
        task_reassign_fix(task=approve, user=maria, to_user=alice_approves, reason="She approves too.")
    assert own.value.reason == "own_request"

    task_reassign_fix(task=approve, user=maria, to_user=olivia, reason="Olivia has time.")
    with pytest.raises(InterventionRefused, match="holds task"):
        task_reassign_fix(task=approve, user=maria, to_user=olivia, reason="Again.")
    purchase_task_decide(task=approve, user=olivia, approved=True)
    with pytest.raises(PermissionDenied):  # done: no longer open
        task_reassign_fix(task=approve, user=maria, to_user=oscar, reason="Too late.")
    assert AuditEvent.objects.filter(action="intervention.reassigned").count() == 1


# ---------------------------------------------------------------- due time


def test_moving_the_due_time_re_arms_the_timers_from_it(escalating_policy, submit_request, maria, olivia):
    with time_machine.travel(T0, tick=False):
        process = submit_request()
    approve = task_of(process, "approve")
    assert _armed(process) == {
        "approve__timeout": T0 + timedelta(hours=3),
        "approve__timeout_2": T0 + SLA,
        "approve__timeout_3": T0 + SLA + timedelta(hours=2),
    }
    task_claim(task=approve, user=olivia)
    new_due = T0 + SLA + timedelta(days=1)

    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        task_due_change(task=approve, user=maria, due_at=new_due, reason="Waiting for the supplier's quote.")

    assert _armed(process) == {
        "approve__timeout": new_due - timedelta(hours=1),
        "approve__timeout_2": new_due,
        "approve__timeout_3": new_due + timedelta(hours=2),
    }
    canceled = Task.objects.filter(process=process, flow_task_type="TIMER", status=STATUS.CANCELED)
    assert canceled.count() == 3
    assert TaskRow.objects.get(task_id=approve.pk).due_at == new_due
    event = _event("intervention.due_changed", task=approve)
    assert event.details == {
        "node": "approve",
        "reason": "Waiting for the supplier's quote.",
        "before": {"due_at": (T0 + SLA).isoformat()},
        "after": {"due_at": new_due.isoformat()},
        "rearmed": ["approve__timeout", "approve__timeout_2", "approve__timeout_3"],
        "fired": [],
    }
    assert Notification.objects.filter(user=olivia, kind=NotificationKind.INSTANCE_CHANGED).exists()

    # Nothing fires at the old moments; the reminder and level 1 fire at the new ones.
    _fire_at(T0 + SLA + timedelta(hours=3))
    assert not AuditEvent.objects.filter(
        process=process, action__in=["task.reminded", "task.escalated"]
    ).exists()
    _fire_at(new_due)
    assert AuditEvent.objects.filter(process=process, action="task.reminded").count() == 1
    assert AuditEvent.objects.filter(process=process, action="task.escalated").count() == 1


def test_a_fired_level_does_not_fire_again_after_a_move(escalating_policy, submit_request, maria):
    with time_machine.travel(T0, tick=False):
        process = submit_request()
    approve = task_of(process, "approve")
    _fire_at(T0 + SLA)  # the reminder and level 1 fired
    assert AuditEvent.objects.filter(process=process, action="task.escalated").count() == 1
    new_due = T0 + timedelta(days=2)

    with time_machine.travel(T0 + SLA + timedelta(minutes=1), tick=False):
        task_due_change(task=approve, user=maria, due_at=new_due, reason="Board meets on Wednesday.")

    details = _event("intervention.due_changed", task=approve).details
    assert details["fired"] == ["approve__timeout", "approve__timeout_2"]
    assert details["rearmed"] == ["approve__timeout_3"]
    assert _armed(process) == {"approve__timeout_3": new_due + timedelta(hours=2)}
    _fire_at(new_due + timedelta(hours=3))
    assert AuditEvent.objects.filter(process=process, action="task.reminded").count() == 1
    levels = [e.details["level"] for e in AuditEvent.objects.filter(process=process, action="task.escalated")]
    assert levels == [1, 2]


def test_due_time_refusals(escalating_policy, submit_request, maria, olivia):
    with time_machine.travel(T0, tick=False):
        process = submit_request()
    approve = task_of(process, "approve")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        with pytest.raises(ValidationError) as past:
            task_due_change(task=approve, user=maria, due_at=T0, reason="Hurry.")
        assert "due_at" in past.value.message_dict
        with pytest.raises(ValidationError) as naive:
            task_due_change(task=approve, user=maria, due_at=datetime(2027, 1, 1), reason="Later.")  # noqa: DTZ001
        assert "due_at" in naive.value.message_dict
        with pytest.raises(ValidationError):
            task_due_change(task=approve, user=maria, due_at=T0 + timedelta(days=1), reason=" ")
        with pytest.raises(GateDenied) as not_manager:
            task_due_change(task=approve, user=olivia, due_at=T0 + timedelta(days=1), reason="More time.")
        assert not_manager.value.reason == "not_manager"
    assert len(_armed(process)) == 3
    assert not AuditEvent.objects.filter(action="intervention.due_changed").exists()


# ---------------------------------------------------------------- cancel


def test_a_manager_cancels_a_running_request(escalating_policy, submit_request, maria, alice, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    process_cancel(process=process, user=maria, reason="Bought elsewhere.")

    process.refresh_from_db()
    assert process.status == PROCESS.CANCELED
    assert not process.task_set.exclude(status__in=[STATUS.DONE, STATUS.CANCELED]).exists()
    event = _event("intervention.canceled", process=process)
    assert event.details == {
        "reason": "Bought elsewhere.",
        "before": {
            "status": "NEW",
            "open": [
                "approve:ASSIGNED",
                "approve__timeout:SCHEDULED",
                "approve__timeout_2:SCHEDULED",
                "approve__timeout_3:SCHEDULED",
            ],
        },
        "after": {"status": "CANCELED"},
        "compensation": None,
    }
    told = set(
        Notification.objects.filter(kind=NotificationKind.INSTANCE_CHANGED).values_list(
            "user__username", flat=True
        )
    )
    assert told == {"alice", "olivia"}
    assert "Canceled by a process manager" in [r["what"] for r in process_history(process)]


def test_cancel_refusals(purchase_policy, submit_request, maria, olivia, ava):
    process = submit_request()

    with pytest.raises(ValidationError):
        process_cancel(process=process, user=maria, reason="")
    with pytest.raises(GateDenied):  # she may see it (her queue), not manage it
        process_cancel(process=process, user=olivia, reason="No.")
    with pytest.raises(GateDenied) as unseen:  # another requester may not even see it
        process_cancel(process=process, user=ava, reason="No.")
    assert unseen.value.reason == "not_visible"
    process_cancel(process=process, user=maria, reason="Duplicate.")
    with pytest.raises(InterventionRefused, match="finished already"):
        process_cancel(process=process, user=maria, reason="Again.")
    assert AuditEvent.objects.filter(action="intervention.canceled").count() == 1


def test_cancelling_an_order_runs_its_compensation_path(place_order, roles, maria):
    order = place_order(email="someone@mailinator.com")  # suspicious: a person reviews it
    review = fraud_review_of(order)
    assert review.status == STATUS.NEW

    process_cancel(process=order, user=maria, reason="The customer withdrew the order.")

    order.refresh_from_db()
    review.refresh_from_db()
    assert review.status == STATUS.CANCELED
    assert task_of(order, "compensate").status == STATUS.DONE
    # The payment's authorization is voided (its .CompensateWith job), then the customer is told.
    assert task_of(order, "void_authorization").status == STATUS.SCHEDULED
    assert task_of(order, "notify_compensation").status == STATUS.SCHEDULED
    assert order.status == PROCESS.NEW  # it ends at the compensation path's own end
    assert _event("intervention.canceled", process=order).details["compensation"] == "compensate"


# ---------------------------------------------------------------- the pages


class TestPages:
    def test_the_manage_panel_is_for_process_managers_only(
        self, client, purchase_policy, submit_request, maria, olivia
    ):
        process = submit_request()
        url = f"/purchase/{process.pk}/"

        client.force_login(olivia)
        assert 'id="portal-manage-title"' not in client.get(url).content.decode()
        client.force_login(maria)
        page = client.get(url).content.decode()
        assert 'id="portal-manage-title"' in page
        assert f"/operations/tasks/{task_of(process, 'approve').pk}/reassign/" in page

    def test_a_refused_reassignment_shows_its_errors_on_the_form(
        self, client, purchase_policy, submit_request, maria, olivia, frank
    ):
        approve = task_of(submit_request(), "approve")
        url = f"/operations/tasks/{approve.pk}/reassign/"
        client.force_login(maria)

        assert client.get(url).status_code == 200
        blank = client.post(url, {"to_user": olivia.pk, "reason": ""})
        assert blank.status_code == 422
        assert "This field is required" in blank.content.decode()
        not_offered = client.post(url, {"to_user": frank.pk, "reason": "Finance."})
        assert not_offered.status_code == 422  # frank is not among the task's candidates
        done = client.post(url, {"to_user": olivia.pk, "reason": "Olivia has time."})
        assert done.status_code == 302
        assert done.url == f"/purchase/{approve.process_id}/"
        approve.refresh_from_db()
        assert approve.owner == olivia

    def test_only_process_managers_open_the_fix_pages(
        self, client, purchase_policy, submit_request, olivia, ava, maria
    ):
        approve = task_of(submit_request(), "approve")
        for user in (olivia, ava):  # the Operations area is the process managers' (403 at its door)
            client.force_login(user)
            assert client.get(f"/operations/tasks/{approve.pk}/due/").status_code == 403
            assert (
                client.post(f"/operations/tasks/{approve.pk}/reassign/", {"reason": "x"}).status_code == 403
            )
        client.force_login(maria)
        assert client.get("/operations/tasks/999999/due/").status_code == 404

    def test_the_due_page_moves_the_due_time(self, client, escalating_policy, submit_request, maria):
        approve = task_of(submit_request(), "approve")
        client.force_login(maria)
        url = f"/operations/tasks/{approve.pk}/due/"

        past = client.post(url, {"due_at": "2020-01-01T09:00", "reason": "Hurry."})
        assert past.status_code == 422
        assert "must be in the future" in past.content.decode()
        done = client.post(url, {"due_at": "2099-01-01T09:00", "reason": "Later."})
        assert done.status_code == 302
        assert AuditEvent.objects.filter(action="intervention.due_changed", task=approve).exists()

    def test_the_cancel_page_asks_why(self, client, purchase_policy, submit_request, maria):
        process = submit_request()
        client.force_login(maria)
        url = f"/purchase/{process.pk}/cancel/"

        assert "Reason" in client.get(url).content.decode()
        assert client.post(url, {"reason": ""}).status_code == 422
        process.refresh_from_db()
        assert process.status == PROCESS.NEW
        assert client.post(url, {"reason": "Duplicate."}).status_code == 302
        process.refresh_from_db()
        assert process.status == PROCESS.CANCELED


class TestAdmin:
    def test_cancel_action_asks_why_then_cancels(self, admin_client, purchase_policy, submit_request):
        process = submit_request()
        selected = {"action": "cancel_processes", "_selected_action": [process.pk]}

        ask = admin_client.post("/admin/viewflow/process/", selected)
        assert ask.status_code == 200
        assert "Reason" in ask.content.decode()
        blank = admin_client.post("/admin/viewflow/process/", {**selected, "confirm": "1", "reason": ""})
        assert blank.status_code == 200  # asked again, with the error
        process.refresh_from_db()
        assert process.status == PROCESS.NEW

        done = admin_client.post(
            "/admin/viewflow/process/", {**selected, "confirm": "1", "reason": "Duplicate."}
        )
        assert done.status_code == 302
        process.refresh_from_db()
        assert process.status == PROCESS.CANCELED
        assert _event("intervention.canceled", process=process).actor_name == "admin"

    def test_reassign_and_due_actions_use_the_same_services(
        self, admin_client, purchase_policy, submit_request, olivia, frank
    ):
        approve = task_of(submit_request(), "approve")
        base = {"_selected_action": [approve.pk], "confirm": "1"}

        refused = admin_client.post(
            "/admin/viewflow/task/",
            {**base, "action": "reassign_tasks", "to_user": frank.pk, "reason": "Why not."},
        )
        assert refused.status_code == 302
        approve.refresh_from_db()
        assert approve.owner is None  # frank may not hold it: refused, reported
        admin_client.post(
            "/admin/viewflow/task/",
            {**base, "action": "reassign_tasks", "to_user": olivia.pk, "reason": "Has time."},
        )
        approve.refresh_from_db()
        assert approve.owner == olivia

        admin_client.post(
            "/admin/viewflow/task/",
            {**base, "action": "change_due_time", "due_at": "2099-01-01T09:00", "reason": "Later."},
        )
        assert AuditEvent.objects.filter(action="intervention.due_changed", task=approve).exists()
