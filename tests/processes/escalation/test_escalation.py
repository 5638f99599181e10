"""Reminders and each escalation level, fired by the real timer sweep at travelled times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.models import AuditEvent, Notification, NotificationKind
from processes.policies.models import EscalationAction
from processes.policies.services import policy_create
from processes.purchase.services import purchase_task_decide
from processes.scheduler import timers_fire_due
from processes.selectors import process_history
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def sweep_in_process(monkeypatch):
    """The sweep's batches run right here (eager Celery), with no marker left by another test."""
    from django.core.cache import cache

    from portal.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)
    cache.clear()


T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
SLA = timedelta(hours=4)


@pytest.fixture
def policy(roles, maria):
    def make(*levels, reminder=timedelta(hours=1), auto=False, **stage):
        return policy_create(
            name="purchase",
            version_fields={"allow_auto_decisions": auto},
            stages=[
                {
                    "name": "Team approval",
                    "group": roles["approvers"],
                    "sla": SLA,
                    "reminder_before": reminder,
                    "escalation_group": roles["managers"],
                    "escalation_user": maria,
                    "levels": list(levels),
                    **stage,
                },
                {"name": "Finance", "group": roles["finance"], "amount_above": 1000, "sla": SLA},
            ],
        )

    return make


def _fire_at(moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        timers_fire_due()


def _timers(process):
    return Task.objects.filter(process=process, flow_task_type="TIMER").order_by("scheduled")


def _actions(process, action):
    return list(AuditEvent.objects.filter(process=process, action=action).order_by("pk"))


def test_the_reminder_and_levels_are_armed_at_their_moments_and_nothing_else(policy, submit_request):
    policy((timedelta(0), EscalationAction.NOTIFY), (timedelta(hours=2), EscalationAction.ADD_CANDIDATES))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    timers = _timers(process)
    assert [(t.flow_task.name, t.scheduled) for t in timers] == [
        ("approve__timeout", T0 + timedelta(hours=3)),
        ("approve__timeout_2", T0 + SLA),
        ("approve__timeout_3", T0 + SLA + timedelta(hours=2)),
    ]  # no level 3: its boundary is never armed
    assert {t.status for t in timers} == {STATUS.SCHEDULED}


def test_a_reminder_reaches_the_queue_on_time_and_not_before(policy, submit_request, olivia, oscar):
    policy()
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    _fire_at(T0 + timedelta(hours=3) - timedelta(seconds=1))
    assert _actions(process, "task.reminded") == []

    _fire_at(T0 + timedelta(hours=3))
    (event,) = _actions(process, "task.reminded")
    assert event.details == {
        "node": "approve",
        "node_type": "HUMAN",
        "stage": 1,
        "stage_name": "Team approval",
        "to": 2,
    }
    reminded = Notification.objects.filter(kind=NotificationKind.TASK_REMINDER, process=process)
    assert set(reminded.values_list("user__username", flat=True)) == {"olivia", "oscar"}
    assert "Reminder sent" in [row["what"] for row in process_history(process)]


def test_level_notify_tells_the_owner(policy, submit_request, olivia):
    policy((timedelta(0), EscalationAction.NOTIFY))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")
        task_claim(task=task_of(process, "approve"), user=olivia)

    _fire_at(T0 + SLA)

    (event,) = _actions(process, "task.escalated")
    assert (event.details["level"], event.details["action"]) == (1, "notify")
    escalated = Notification.objects.get(kind=NotificationKind.TASK_ESCALATED, process=process)
    assert escalated.user == olivia
    assert "Escalated" in [row["what"] for row in process_history(process)]


def test_level_add_candidates_lets_the_escalation_group_take_it_too(
    policy, submit_request, olivia, maria, roles
):
    policy((timedelta(0), EscalationAction.ADD_CANDIDATES))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    _fire_at(T0 + SLA)

    task = task_of(process, "approve")
    ids = sorted([roles["approvers"].pk, roles["managers"].pk])
    assert task.owner_permission == f"processes.candidates_{ids[0]}_{ids[1]}"
    flows = [process.flow_class]
    olivia, maria = type(olivia).objects.get(pk=olivia.pk), type(maria).objects.get(pk=maria.pk)
    assert list(Task.objects.queue(flows, maria)) == [task]
    assert list(Task.objects.queue(flows, olivia)) == [task]
    assert Notification.objects.filter(kind=NotificationKind.TASK_ESCALATED, user=maria).exists()


def test_level_reassign_moves_the_task_to_the_escalation_group(policy, submit_request, olivia, maria, roles):
    policy((timedelta(0), EscalationAction.REASSIGN))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")
        task_claim(task=task_of(process, "approve"), user=olivia)

    _fire_at(T0 + SLA)

    task = task_of(process, "approve")
    assert (task.status, task.owner_id) == (STATUS.NEW, None)
    assert task.owner_permission == f"processes.candidate_{roles['managers'].pk}"
    maria = type(maria).objects.get(pk=maria.pk)
    assert list(Task.objects.queue([process.flow_class], maria)) == [task]
    assert Notification.objects.filter(kind=NotificationKind.TASK_TAKEN, user=olivia).exists()


def test_level_email_routes_the_task_and_sends_action_links(policy, submit_request, maria):
    from processes.actionlinks.models import ActionToken
    from processes.mail.models import OutgoingEmail

    policy((timedelta(0), EscalationAction.EMAIL))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    _fire_at(T0 + SLA)

    (event,) = _actions(process, "task.escalated")
    assert event.details["emailed"] == ["maria"]
    (email,) = OutgoingEmail.objects.filter(to_user=maria)  # in the outbox, in the same transaction
    assert "escalation level 1" in email.subject
    task = task_of(process, "approve")
    assert set(ActionToken.objects.filter(user=maria, task=task).values_list("action", flat=True)) == {
        "approve",
        "reject",
    }  # maria was made a candidate first, so her email carries the links


@pytest.mark.parametrize(
    ("action", "next_node", "what"),
    [
        (EscalationAction.AUTO_APPROVE, "approve", "Approved"),
        (EscalationAction.AUTO_REJECT, "revise", "Rejected"),
    ],
)
def test_automatic_decisions_finish_the_task_as_the_system(policy, submit_request, action, next_node, what):
    policy((timedelta(0), EscalationAction.NOTIFY), (timedelta(hours=1), action), auto=True)
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    _fire_at(T0 + SLA)
    _fire_at(T0 + SLA + timedelta(hours=1))

    first = Task.objects.filter(process=process, flow_task=process.flow_class.approve).earliest("pk")
    assert first.status == STATUS.DONE
    assert task_of(process, next_node).status in (STATUS.NEW, STATUS.ASSIGNED)
    history = [(row["what"], row["who"], row["comment"]) for row in process_history(process)]
    whats = [row[0] for row in history]
    assert whats.index("Escalated") < whats.index(what)
    decided = next(row for row in history if row[0] == what)
    assert decided[1] == "system"
    assert "automatically" in decided[2]


def test_a_task_completed_a_moment_before_its_deadline_is_never_escalated(policy, submit_request, olivia):
    policy((timedelta(0), EscalationAction.REASSIGN), reminder=None)
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="640.00")
    with time_machine.travel(T0 + SLA - timedelta(milliseconds=1), tick=False):
        task = task_of(process, "approve")
        task_claim(task=task, user=olivia)
        purchase_task_decide(task=task, user=olivia, approved=True)

    _fire_at(T0 + SLA + timedelta(minutes=5))

    assert _actions(process, "task.escalated") == []
    assert [t.status for t in _timers(process)] == [STATUS.CANCELED]


def test_a_task_escalated_a_moment_before_completion_shows_both(policy, submit_request, olivia):
    policy((timedelta(0), EscalationAction.NOTIFY), reminder=None)
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="640.00")
        task_claim(task=task_of(process, "approve"), user=olivia)

    _fire_at(T0 + SLA)
    with time_machine.travel(T0 + SLA + timedelta(milliseconds=1), tick=False):
        purchase_task_decide(task=task_of(process, "approve"), user=olivia, approved=True)

    whats = [row["what"] for row in process_history(process)]
    assert whats.index("Escalated") < whats.index("Approved")


def test_an_escalation_email_never_goes_to_the_requester(policy, submit_request, alice, roles):
    """Segregation of duties (processes.gate): the escalation user is the requester herself."""
    from processes.mail.models import OutgoingEmail

    alice.groups.add(roles["managers"])
    policy((timedelta(0), EscalationAction.EMAIL), escalation_user=alice)
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")

    _fire_at(T0 + SLA)

    assert not OutgoingEmail.objects.filter(to_user=alice).exists()
    (event,) = _actions(process, "task.escalated")
    assert event.details["emailed"] == []


def test_an_escalation_never_reassigns_a_request_to_its_requester(
    policy, submit_request, alice, olivia, roles
):
    alice.groups.add(roles["approvers"])
    policy((timedelta(0), EscalationAction.REASSIGN), escalation_user=alice, escalation_group=None)
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")
        task_claim(task=task_of(process, "approve"), user=olivia)

    _fire_at(T0 + SLA)

    task = task_of(process, "approve")
    assert (task.status, task.owner_id) == (STATUS.ASSIGNED, olivia.pk)
    (event,) = _actions(process, "task.escalated")
    assert event.details["skipped"] == "started this request"


def test_an_escalation_and_its_timer_are_counted(
    policy, submit_request, olivia, django_capture_on_commit_callbacks
):
    """portal_escalations_total{level, action} and portal_timer_lateness_seconds (processes/instruments.py)."""
    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    policy((timedelta(0), EscalationAction.NOTIFY))
    with time_machine.travel(T0, tick=False):
        process = submit_request(amount="5000.00")
        task_claim(task=task_of(process, "approve"), user=olivia)
    escalated = value("portal_escalations_total", level="1", action="notify")
    reminded = value("portal_escalations_total", level="0", action="remind")
    fired = value("portal_timer_lateness_seconds_count")
    late = value("portal_timer_lateness_seconds_sum")

    with django_capture_on_commit_callbacks(execute=True):  # counted once the firing commits
        _fire_at(T0 + SLA + timedelta(seconds=30))  # the sweep runs 30 s after the deadline

    assert value("portal_escalations_total", level="1", action="notify") == escalated + 1
    assert value("portal_escalations_total", level="0", action="remind") == reminded + 1
    assert value("portal_timer_lateness_seconds_count") == fired + 2  # the reminder and the level
    assert value("portal_timer_lateness_seconds_sum") - late >= 30
