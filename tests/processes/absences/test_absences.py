"""Out-of-office substitutes (processes/absences/, ADR 0023): the rules of an absence, routing to
the substitute, on-behalf-of history, segregation of duties, notifications and escalation emails."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from viewflow.workflow.status import STATUS

from processes.absences.models import Absence
from processes.absences.selectors import absence_substitute_for, rights_missing, team_members
from processes.absences.services import absence_cancel, absence_set, absences_sweep
from processes.gate import GateDenied
from processes.models import AuditEvent, Notification, NotificationKind
from processes.notifications.services import notify_task_reminder
from processes.purchase.services import purchase_task_decide
from processes.selectors import process_history
from processes.services import task_claim, task_delegate, task_reassign
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def away(user, substitute, *, actor=None, start=None, days=3, reason=""):
    start = start or timezone.now() - timedelta(minutes=1)
    return absence_set(
        actor=actor or user,
        user=user,
        substitute=substitute,
        starts_at=start,
        ends_at=start + days * DAY,
        reason=reason,
    )


def _errors(exc) -> str:
    return " ".join(" ".join(messages) for messages in exc.value.message_dict.values())


# ---------------------------------------------------------------- the rules


def test_the_substitute_must_hold_every_right_to_take_tasks_and_the_refusal_names_them(
    purchase_policy, olivia, frank
):
    assert rights_missing(user=olivia, substitute=frank)
    with pytest.raises(ValidationError) as exc:
        away(olivia, frank)
    assert "frank lacks rights olivia holds" in _errors(exc)
    assert "approvers" in _errors(exc)  # the candidate permission, by its name
    assert not Absence.objects.exists()


def test_a_colleague_with_the_same_rights_may_stand_in_and_it_is_audited(purchase_policy, olivia, oscar):
    absence = away(olivia, oscar, reason="Holiday")

    assert absence_substitute_for(olivia) == oscar
    assert absence_substitute_for(oscar) is None
    event = AuditEvent.objects.get(action="absence.set")
    assert (event.actor_name, event.details["user"], event.details["substitute"]) == (
        "olivia",
        "olivia",
        "oscar",
    )
    assert Notification.objects.filter(user=oscar, title__contains="You stand in for olivia").exists()
    absence_cancel(actor=olivia, absence=absence)
    assert absence_substitute_for(olivia) is None
    assert AuditEvent.objects.filter(action="absence.cancelled", actor_name="olivia").exists()


@pytest.mark.parametrize(
    ("shift", "days", "message"),
    [
        (-10 * DAY, 2, "must not be over already"),
        (DAY, 0, "must end after it starts"),
    ],
)
def test_the_period_must_make_sense(purchase_policy, olivia, oscar, shift, days, message):
    with pytest.raises(ValidationError) as exc:
        away(olivia, oscar, start=timezone.now() + shift, days=days)
    assert message in _errors(exc)


def test_oneself_is_no_substitute(purchase_policy, olivia):
    with pytest.raises(ValidationError) as exc:
        away(olivia, olivia)
    assert "someone else" in _errors(exc)


def test_absences_of_one_user_never_overlap(purchase_policy, olivia, oscar):
    away(olivia, oscar, days=3)
    with pytest.raises(ValidationError) as exc:
        away(olivia, oscar, start=timezone.now() + DAY, days=3)
    assert "already away" in _errors(exc)


def test_no_chains_a_substitute_away_at_the_same_time_is_refused(purchase_policy, olivia, oscar, roles):
    from tests.conftest import _persona

    otto = _persona("otto", ["approvers"], roles)
    away(oscar, otto, days=3)
    with pytest.raises(ValidationError) as exc:
        away(olivia, oscar, start=timezone.now() + DAY, days=1)
    assert "oscar is away too" in _errors(exc)
    # ...nor may someone standing in go away while they do
    with pytest.raises(ValidationError) as exc:
        away(otto, olivia, start=timezone.now() + DAY, days=1)
    assert "stands in for oscar" in _errors(exc)


def test_only_the_user_their_manager_or_a_superuser_sets_an_absence(
    purchase_policy, submit_request, olivia, oscar, frank, maria
):
    submit_request()  # a task of the approvers' queue: olivia is on maria's team
    with pytest.raises(PermissionDenied):
        away(olivia, oscar, actor=frank)
    assert olivia in team_members(maria)
    absence = away(olivia, oscar, actor=maria)
    assert absence.set_by == maria
    with pytest.raises(PermissionDenied):
        absence_cancel(actor=frank, absence=absence)


# ---------------------------------------------------------------- routing


def test_held_tasks_go_to_the_substitute_when_the_absence_starts_now(
    purchase_policy, submit_request, olivia, oscar
):
    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)

    away(olivia, oscar)

    task.refresh_from_db()
    assert (task.status, task.owner_id) == (STATUS.ASSIGNED, oscar.pk)
    handed = AuditEvent.objects.get(action="absence.task_handed_over", task=task)
    assert handed.details["on_behalf_of"] == "olivia"
    assert Notification.objects.filter(user=oscar, task=task, kind=NotificationKind.TASK_ASSIGNED).exists()
    history = process_history(process)
    assert any(row["detail"] == "to oscar on behalf of olivia" for row in history)
    assert any(row["what"] == "Handed to the substitute" for row in history)

    purchase_task_decide(task=task, user=oscar, approved=True, comment="Fine")

    decided = [row for row in process_history(process) if row["what"] == "Approved"]
    assert [row["who"] for row in decided] == ["oscar on behalf of olivia"]


def test_a_coming_absence_hands_over_at_its_start_through_the_sweep_once(
    purchase_policy, submit_request, olivia, oscar
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    start = timezone.now() + timedelta(hours=2)
    away(olivia, oscar, start=start)
    assert absences_sweep() == 0
    task.refresh_from_db()
    assert task.owner_id == olivia.pk

    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert absences_sweep() == 1
        assert absences_sweep() == 0  # idempotent

    task.refresh_from_db()
    assert task.owner_id == oscar.pk


def test_segregation_of_duties_holds_a_substitute_never_gets_their_own_request(
    purchase_policy, submit_request, olivia, alice_approves
):
    process = submit_request()  # alice's
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)

    away(olivia, alice_approves)

    task.refresh_from_db()
    assert (task.status, task.owner_id) == (STATUS.NEW, None)  # back in the queue, not alice's
    refused = AuditEvent.objects.get(action="absence.handover_refused", task=task)
    assert refused.details["why"] == "substitute started this request"


def test_a_delegation_to_someone_away_goes_to_their_substitute(
    purchase_policy, submit_request, olivia, oscar, roles
):
    from tests.conftest import _persona

    otto = _persona("otto", ["approvers"], roles)
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    away(oscar, otto)

    task_delegate(task=task, user=olivia, to_user=oscar)

    task.refresh_from_db()
    assert task.owner_id == otto.pk
    event = AuditEvent.objects.filter(action="task.reassigned", task=task).latest("pk")
    assert (event.details["delegated"], event.details["on_behalf_of"]) == (True, "oscar")


def test_a_delegation_back_to_oneself_through_an_absence_is_refused(
    purchase_policy, submit_request, olivia, oscar
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    away(oscar, olivia)

    with pytest.raises(GateDenied) as exc:
        task_delegate(task=task, user=olivia, to_user=oscar)
    assert "stays with you" in str(exc.value)


def test_a_managers_reassignment_to_someone_away_goes_to_their_substitute(
    purchase_policy, submit_request, olivia, oscar, maria
):
    task = task_of(submit_request(), "approve")
    away(olivia, oscar)

    task_reassign(task=task, user=maria, to_user=olivia)

    task.refresh_from_db()
    assert (task.status, task.owner_id) == (STATUS.ASSIGNED, oscar.pk)


def test_a_reassignment_to_someone_away_whose_substitute_started_it_is_refused(
    purchase_policy, submit_request, olivia, alice_approves, maria
):
    task = task_of(submit_request(), "approve")
    away(olivia, alice_approves)

    with pytest.raises(GateDenied) as exc:
        task_reassign(task=task, user=maria, to_user=olivia)
    assert "alice started this request" in str(exc.value)
    task.refresh_from_db()
    assert task.status == STATUS.NEW


# ---------------------------------------------------------------- notifications and emails


def test_reminders_to_someone_away_go_to_their_substitute_once(
    purchase_policy, submit_request, olivia, oscar
):
    task = task_of(submit_request(), "approve")  # queued: olivia and oscar are its candidates
    away(olivia, oscar)
    Notification.objects.all().delete()

    notify_task_reminder(task=task)

    reminded = Notification.objects.filter(kind=NotificationKind.TASK_REMINDER)
    assert list(reminded.values_list("user__username", flat=True)) == ["oscar"]  # not twice, not olivia


def test_a_task_reminder_to_the_absent_holder_says_on_behalf_of(
    purchase_policy, submit_request, olivia, oscar, alice
):
    task = task_of(submit_request(), "approve")
    task_claim(task=task, user=olivia)
    # away from tomorrow: she keeps the task today; then the reminder comes while she is away
    away(olivia, oscar, start=timezone.now() + DAY)
    with time_machine.travel(timezone.now() + DAY + timedelta(hours=1), tick=False):
        notify_task_reminder(task=task)

    (note,) = Notification.objects.filter(kind=NotificationKind.TASK_REMINDER)
    assert note.user == oscar
    assert "(on behalf of olivia)" in note.title


def test_an_escalation_email_to_someone_away_goes_to_their_substitute_with_their_own_links(
    roles, submit_request, maria
):
    from django.contrib.auth.models import Group

    from processes.actionlinks.models import ActionToken
    from processes.mail.models import OutgoingEmail
    from processes.policies.models import EscalationAction
    from processes.policies.services import policy_create
    from processes.scheduler import timers_fire_due
    from tests.conftest import _persona

    mark = _persona("mark", ["managers"], roles)
    escalations = Group.objects.create(name="escalations")
    maria.groups.add(escalations)
    t0 = timezone.now()
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "escalation_group": escalations,
                "levels": [(timedelta(0), EscalationAction.EMAIL)],
            },
        ],
    )
    with time_machine.travel(t0, tick=False):
        process = submit_request(amount="500.00")
    away(maria, mark, start=t0, days=2)

    from django.core.cache import cache

    from portal.celery import app

    app.conf.task_always_eager = True
    cache.clear()
    try:
        with time_machine.travel(t0 + timedelta(hours=30), tick=False):
            timers_fire_due()
    finally:
        app.conf.task_always_eager = False

    (event,) = AuditEvent.objects.filter(process=process, action="task.escalated")
    assert event.details["emailed"] == ["mark"]
    assert event.details["on_behalf_of"] == {"mark": "maria"}
    assert not OutgoingEmail.objects.filter(to_user=maria).exists()
    (email,) = OutgoingEmail.objects.filter(to_user=mark)
    assert "on behalf of" in email.text
    assert not ActionToken.objects.filter(user=maria).exists()  # links, if any, are mark's own


def test_an_intervention_reassigning_to_someone_away_goes_to_their_substitute_with_the_reason(
    purchase_policy, submit_request, olivia, oscar, maria
):
    from processes.interventions import task_reassign_fix

    process = submit_request()
    task = task_of(process, "approve")
    away(olivia, oscar)

    task_reassign_fix(task=task, user=maria, to_user=olivia, reason="Olivia knows the supplier")

    task.refresh_from_db()
    assert task.owner_id == oscar.pk
    event = AuditEvent.objects.get(action="intervention.reassigned", task=task)
    assert (event.details["after"]["owner"], event.details["on_behalf_of"]) == ("oscar", "olivia")


def test_an_escalation_reassigning_to_a_user_away_gives_it_to_their_substitute(
    roles, submit_request, olivia, maria
):
    from django.core.cache import cache

    from portal.celery import app
    from processes.policies.models import EscalationAction
    from processes.policies.services import policy_create
    from processes.scheduler import timers_fire_due
    from tests.conftest import _persona

    mark = _persona("mark", ["managers"], roles)
    t0 = timezone.now()
    policy_create(
        name="purchase",
        stages=[
            {
                "name": "Team approval",
                "group": roles["approvers"],
                "sla": timedelta(hours=4),
                "escalation_user": maria,
                "levels": [(timedelta(0), EscalationAction.REASSIGN)],
            },
        ],
    )
    with time_machine.travel(t0, tick=False):
        process = submit_request(amount="500.00")
        task_claim(task=task_of(process, "approve"), user=olivia)
    maria.groups.add(roles["approvers"])  # she (and so mark) may hold the stage's tasks
    mark.groups.add(roles["approvers"])
    away(maria, mark, start=t0, days=2)

    app.conf.task_always_eager = True
    cache.clear()
    try:
        with time_machine.travel(t0 + timedelta(hours=30), tick=False):
            timers_fire_due()
    finally:
        app.conf.task_always_eager = False

    task = task_of(process, "approve")
    assert (task.status, task.owner_id) == (STATUS.ASSIGNED, mark.pk)
    (event,) = AuditEvent.objects.filter(process=process, action="task.escalated")
    assert (event.details["user"], event.details["on_behalf_of"]) == ("mark", "maria")


def test_a_task_released_by_the_substitute_and_claimed_again_is_no_longer_on_behalf(
    purchase_policy, submit_request, olivia, oscar
):
    from processes.services import task_unclaim

    process = submit_request()
    task = task_of(process, "approve")
    task_claim(task=task, user=olivia)
    away(olivia, oscar)
    task_unclaim(task=task, user=oscar)
    task_claim(task=task, user=oscar)

    purchase_task_decide(task=task, user=oscar, approved=True)

    decided = [row["who"] for row in process_history(process) if row["what"] == "Approved"]
    assert decided == ["oscar"]
