"""The out-of-office pages: one's own absence, a manager's for their team, and the task lists'
banner and "on behalf of"."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from processes.absences.models import Absence
from processes.absences.services import absence_set
from processes.services import task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

PAGE = "/accounts/absence/"


def _form(substitute, *, start=None, days=2, reason="Holiday"):
    start = start or timezone.localtime() - timedelta(minutes=5)
    end = start + timedelta(days=days)
    return {
        "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ends_at": end.strftime("%Y-%m-%dT%H:%M"),
        "substitute": substitute.pk,
        "reason": reason,
    }


def test_the_profile_links_to_the_absence_page(client, olivia):
    client.force_login(olivia)
    assert PAGE in client.get("/accounts/profile/").content.decode()


def test_one_sets_ones_own_absence_and_only_colleagues_with_the_rights_are_offered(
    client, purchase_policy, olivia, oscar, frank
):
    client.force_login(olivia)
    page = client.get(PAGE)
    offered = list(page.context["form"].fields["substitute"].queryset)
    assert oscar in offered
    assert frank not in offered

    response = client.post(PAGE, _form(oscar))

    assert response.status_code == 302
    absence = Absence.objects.get()
    assert (absence.user, absence.substitute, absence.set_by, absence.reason) == (
        olivia,
        oscar,
        olivia,
        "Holiday",
    )
    assert "oscar" in client.get(PAGE).content.decode()


def test_a_refused_absence_says_why_and_keeps_what_was_typed(client, purchase_policy, olivia, frank):
    client.force_login(olivia)
    data = _form(olivia, reason="Conference")
    data["substitute"] = frank.pk  # not offered: lacks the rights

    response = client.post(PAGE, data)

    assert response.status_code == 422
    assert not Absence.objects.exists()
    body = response.content.decode()
    assert "Conference" in body
    assert "Select a valid choice" in body


def test_the_service_refusal_shows_on_the_field(client, purchase_policy, olivia, oscar):
    client.force_login(olivia)
    absence_set(
        actor=olivia,
        user=olivia,
        substitute=oscar,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=3),
    )

    response = client.post(PAGE, _form(oscar, start=timezone.localtime() + timedelta(days=1)))

    assert response.status_code == 422
    assert "already away" in response.content.decode()


def test_a_manager_sets_the_absence_of_a_team_member(
    client, purchase_policy, submit_request, olivia, oscar, maria
):
    submit_request()  # the approvers' queue has a task of a type maria manages: olivia is on her team
    client.force_login(maria)
    assert f"{PAGE}{olivia.pk}/" in client.get(PAGE).content.decode()  # the team list

    response = client.post(f"{PAGE}{olivia.pk}/", _form(oscar))

    assert response.status_code == 302
    assert Absence.objects.get().set_by == maria


def test_someone_who_is_not_their_manager_finds_no_such_person(
    client, purchase_policy, submit_request, olivia, oscar, frank
):
    submit_request()
    client.force_login(frank)
    # 404, as for an unknown id: the ids do not tell who works here
    assert client.get(f"{PAGE}{olivia.pk}/").status_code == 404
    assert client.post(f"{PAGE}{olivia.pk}/", _form(oscar)).status_code == 404
    assert client.get(f"{PAGE}999999/").status_code == 404
    client.force_login(oscar)  # a colleague, not a manager
    assert client.post(f"{PAGE}{olivia.pk}/", _form(oscar)).status_code == 404
    assert not Absence.objects.exists()


def test_cancel_is_the_users_or_their_managers_and_only_by_post(client, purchase_policy, olivia, oscar):
    absence = absence_set(
        actor=olivia,
        user=olivia,
        substitute=oscar,
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=3),
    )
    url = f"{PAGE}{absence.pk}/cancel/"
    client.force_login(oscar)
    assert client.post(url).status_code == 404  # her substitute does not end it
    client.force_login(olivia)
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 302
    absence.refresh_from_db()
    assert absence.cancelled_by == olivia


def test_the_inbox_says_who_is_away_and_on_whose_behalf_a_task_is_held(
    client, purchase_policy, submit_request, olivia, oscar
):
    task = task_of(submit_request(title="Desk lamp"), "approve")
    task_claim(task=task, user=olivia)
    absence_set(
        actor=olivia,
        user=olivia,
        substitute=oscar,
        starts_at=timezone.now() - timedelta(minutes=1),
        ends_at=timezone.now() + timedelta(days=2),
    )

    client.force_login(olivia)
    assert "You are away: your tasks go to oscar" in client.get("/tasks/inbox/").content.decode()
    client.force_login(oscar)
    inbox = client.get("/tasks/inbox/").content.decode()
    assert "You stand in for olivia" in inbox
    assert "Desk lamp" in inbox
    assert "on behalf of olivia" in inbox
    page = client.get(task.flow_task.reverse("index", args=[task.process_id, task.pk]), follow=True)
    assert "holds this task on behalf of olivia" in page.content.decode()


def test_the_admin_lists_absences_by_whether_they_are_in_force_and_cancels_through_the_service(
    admin_client, purchase_policy, olivia, oscar
):
    from processes.models import AuditEvent

    now_away = absence_set(
        actor=olivia,
        user=olivia,
        substitute=oscar,
        starts_at=timezone.now() - timedelta(minutes=1),
        ends_at=timezone.now() + timedelta(days=2),
    )
    coming = absence_set(
        actor=oscar,
        user=oscar,
        substitute=olivia,
        starts_at=timezone.now() + timedelta(days=5),
        ends_at=timezone.now() + timedelta(days=6),
    )
    listing = admin_client.get("/admin/processes/absence/?in_force=now")
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [now_away]
    assert list(admin_client.get("/admin/processes/absence/?in_force=coming").context["cl"].result_list) == [
        coming
    ]
    assert admin_client.get("/admin/processes/absence/add/").status_code == 403

    response = admin_client.post(
        "/admin/processes/absence/", {"action": "cancel_selected", "_selected_action": [now_away.pk]}
    )

    assert response.status_code == 302
    now_away.refresh_from_db()
    assert now_away.cancelled_at is not None
    assert AuditEvent.objects.filter(action="absence.cancelled", actor_name="admin").exists()
