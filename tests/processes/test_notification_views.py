"""The notification center: a user reads and manages their own notifications only."""

from __future__ import annotations

import pytest

from processes.models import Delivery, Notification, NotificationKind, NotificationPreference

pytestmark = pytest.mark.django_db


def test_the_bell_shows_the_unread_count_on_every_page(client, submit_request, olivia):
    submit_request(title="Standing desk")
    client.force_login(olivia)

    page = client.get("/purchase/queue/", follow=True).content.decode()

    assert 'class="portal-bell' in page
    assert "data-portal-unread >1</span>" in page
    last = Notification.objects.get(user=olivia).pk
    assert f'<meta name="portal-live-last-id" content="{last}">' in page


def test_the_center_lists_marks_read_and_marks_all_read(client, submit_request, olivia):
    submit_request(title="Standing desk")
    submit_request(title="Monitor arm")
    client.force_login(olivia)
    first, _ = Notification.objects.filter(user=olivia).order_by("id")

    page = client.get("/notifications/").content.decode()
    assert page.count("portal-notification--unread") == 2
    assert "Monitor arm (640.00 EUR)" in page

    client.post(f"/notifications/{first.pk}/read/")
    first.refresh_from_db()
    assert first.read_at is not None

    client.post("/notifications/read-all/")
    assert not Notification.objects.filter(user=olivia, read_at__isnull=True).exists()


def test_opening_a_notification_marks_it_read_and_goes_to_its_task(client, submit_request, olivia):
    submit_request()
    client.force_login(olivia)
    notification = Notification.objects.get(user=olivia)

    response = client.get(f"/notifications/{notification.pk}/open/")

    assert response.status_code == 302
    assert response["Location"] == notification.url
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_someone_elses_notification_is_a_404(client, submit_request, olivia, oscar):
    submit_request()
    client.force_login(oscar)
    olivias = Notification.objects.get(user=olivia)

    assert client.get(f"/notifications/{olivias.pk}/open/").status_code == 404
    assert client.post(f"/notifications/{olivias.pk}/read/").status_code == 404
    olivias.refresh_from_db()
    assert olivias.read_at is None


def test_preferences_are_saved_per_kind(client, olivia):
    client.force_login(olivia)
    choices = {kind: Delivery.LIVE for kind in NotificationKind.values}

    client.post("/notifications/preferences/", {**choices, NotificationKind.TASK_QUEUED: Delivery.EMAIL})

    assert (
        NotificationPreference.objects.get(user=olivia, kind=NotificationKind.TASK_QUEUED).delivery == "email"
    )
    page = client.get("/notifications/").content.decode()
    assert '<option value="email" selected>' in page


def test_the_center_needs_a_login(client):
    assert client.get("/notifications/").status_code == 302


def test_the_drawer_counts_are_the_users_own_per_flow_they_may_see(client, submit_request, olivia, alice):
    submit_request(title="Standing desk")

    client.force_login(olivia)
    counts = client.get("/notifications/counts/")
    client.force_login(alice)
    alices = client.get("/notifications/counts/").json()["counts"]

    assert counts["Cache-Control"] == "private, no-store"
    assert counts.json()["counts"]["/purchase/queue/"] == 1
    assert counts.json()["counts"]["/purchase/inbox/"] == 0
    assert alices.get("/purchase/queue/", 0) == 0


def test_the_drawer_counters_are_marked_for_live_refresh(client, olivia):
    client.force_login(olivia)

    page = client.get("/purchase/mine/").content.decode()  # any page of the purchase app

    assert 'data-live-count="/purchase/queue/"' in page
    assert 'data-live-count="/purchase/inbox/"' in page
    assert '<meta name="portal-task-counts-url" content="/notifications/counts/">' in page


def test_the_drawer_counts_need_a_login(client):
    assert client.get("/notifications/counts/").status_code == 302
