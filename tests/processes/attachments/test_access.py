"""Who sees a purchase request's pages and attachments, per role; everyone else gets 404 or 403."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from processes.attachments.checks import uploads_check
from processes.attachments.services import attachments_add
from processes.purchase.flows import PurchaseFlow
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from tests.conftest import task_of
from tests.processes.attachments.conftest import PDF, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_with_quote(submit_request, alice):
    """alice's 640 EUR request (approvers only) with one PDF attached."""
    process = submit_request()
    (attachment,) = attachments_add(process=process, uploads=uploads_check([upload("quote.pdf")]), user=alice)
    return process, attachment


def _as(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("alice", 200),
        ("olivia", 200),
        ("oscar", 200),
        ("maria", 200),
        ("frank", 404),
        ("fiona", 404),
        ("bob", 404),
    ],
)
def test_attachment_download_per_role(client, request, request_with_quote, persona, status):
    _process, attachment = request_with_quote

    response = _as(client, request.getfixturevalue(persona)).get(
        reverse("attachment_download", args=[attachment.pk])
    )

    assert response.status_code == status
    if status == 200:
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Disposition"] == 'attachment; filename="quote.pdf"'
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Cache-Control"] == "private, no-store"


def test_a_superuser_downloads_any_attachment(client, request_with_quote, django_user_model):
    _process, attachment = request_with_quote
    admin = django_user_model.objects.create_superuser("admin", "admin@example.com", "portal-demo")

    assert _as(client, admin).get(reverse("attachment_download", args=[attachment.pk])).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(client, request_with_quote):
    _process, attachment = request_with_quote

    response = client.get(reverse("attachment_download", args=[attachment.pk]))

    assert response.status_code == 302
    assert "login/?next=" in response["Location"]


def test_an_unknown_attachment_and_a_lost_file_are_404(client, request_with_quote, alice, attachment_root):
    _process, attachment = request_with_quote
    _as(client, alice)
    assert client.get(reverse("attachment_download", args=[attachment.pk + 1])).status_code == 404

    (attachment_root / attachment.storage_name).unlink()

    assert client.get(reverse("attachment_download", args=[attachment.pk])).status_code == 404


def test_an_attachment_name_cannot_inject_headers(client, submit_request, alice):
    process = submit_request()
    (attachment,) = attachments_add(
        process=process, uploads=uploads_check([upload('evil"\r\nX-Bad: 1.pdf')]), user=alice
    )

    response = _as(client, alice).get(reverse("attachment_download", args=[attachment.pk]))

    assert response.status_code == 200
    assert "X-Bad" not in response.headers
    assert response["Content-Disposition"].startswith("attachment;")


def test_finance_sees_a_request_once_its_stage_is_reached(
    client, purchase_policy, submit_request, alice, olivia, frank
):
    process = submit_request(amount="5000.00")
    (attachment,) = attachments_add(process=process, uploads=uploads_check([upload()]), user=alice)
    url = reverse("attachment_download", args=[attachment.pk])
    _as(client, frank)
    assert client.get(url).status_code == 404  # finance has no task on it yet

    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True)

    assert process.amount == Decimal("5000.00")
    assert client.get(url).status_code == 200
    assert client.get(PurchaseFlow.instance.reverse("process_detail", args=[process.pk])).status_code == 200


@pytest.mark.parametrize(
    ("persona", "status"),
    [("alice", 200), ("olivia", 200), ("maria", 200), ("frank", 403), ("fiona", 403), ("bob", 403)],
)
def test_process_page_per_role(client, request, request_with_quote, persona, status):
    process, _attachment = request_with_quote

    response = _as(client, request.getfixturevalue(persona)).get(
        PurchaseFlow.instance.reverse("process_detail", args=[process.pk])
    )

    assert response.status_code == status
    if status == 200:
        page = response.content.decode()
        assert "quote.pdf" in page
        assert reverse("attachment_download", args=[_attachment.pk]) in page
        assert "<svg" in page
        assert 'class="portal-diagram' in page
        assert "Submitted" in page  # the history
        # Only the steps people care about: the start and the approval, not the routing step.
        table = page.split('class="mdc-data-table"')[1].split("</table>")[0]
        assert table.count('<tr class="mdc-data-table__row">') == 2
        assert process.task_set.count() == 3


@pytest.mark.parametrize(
    ("persona", "status"),
    [("alice", 200), ("olivia", 200), ("maria", 200), ("frank", 403), ("fiona", 403), ("bob", 403)],
)
def test_process_chart_per_role(client, request, request_with_quote, persona, status):
    process, _attachment = request_with_quote

    response = _as(client, request.getfixturevalue(persona)).get(
        PurchaseFlow.instance.reverse("process_chart", args=[process.pk])
    )

    assert response.status_code == status


def test_task_page_shows_request_attachments_diagram_and_history(client, request_with_quote, olivia, alice):
    process, attachment = request_with_quote
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    page = _as(client, olivia).get(approve.reverse("execute")).content.decode()

    assert "Standing desk" in page
    assert "quote.pdf" in page
    assert reverse("attachment_download", args=[attachment.pk]) in page
    # The diagram marks the approval step as held (assigned); done steps are marked done.
    assert '<g id="approve" transform="translate(' in page
    assert page.split('<g id="approve"')[1].split(">")[0].endswith('class="assigned"')
    assert page.split('<g id="start"')[1].split(">")[0].endswith('class="done"')
    assert "Submitted" in page
    assert "Attached" in page
    assert "Claimed" in page


def test_rejection_comments_show_on_the_revise_page(client, request_with_quote, olivia, alice):
    process, _attachment = request_with_quote
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Need a second quote.")

    page = _as(client, alice).get(task_of(process, "revise").reverse("execute")).content.decode()

    assert "Need a second quote." in page
    assert "quote.pdf" in page


@pytest.mark.parametrize(
    # oscar is olivia's fellow approver: he is told who holds it (409); nobody else learns of it
    ("persona", "status"),
    [("oscar", 409), ("frank", 403), ("fiona", 403), ("alice", 403)],
)
def test_a_task_held_by_olivia_is_not_for_others(
    client, request, request_with_quote, olivia, persona, status
):
    process, _attachment = request_with_quote
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    response = _as(client, request.getfixturevalue(persona)).get(approve.reverse("execute"))

    assert response.status_code == status


def test_visibility_of_many_processes_takes_one_query(
    submit_request, alice, olivia, frank, bob, django_assert_num_queries
):
    from viewflow.workflow.models import Process

    from processes.gate import processes_visible_ids

    mine = [submit_request(title=f"Desk {n}") for n in range(5)]
    theirs = submit_request(title="Bob's chair", requester=bob)
    rows = list(
        Process.objects.filter(pk__in=[p.pk for p in [*mine, theirs]])
    )  # base rows, as notifications hold
    for user in (alice, olivia, frank):  # warm the permission caches: they are per user object
        user.get_all_permissions()

    with django_assert_num_queries(1):  # the people's tasks (the start task names the requester)
        assert processes_visible_ids(user=alice, processes=rows) == {p.pk for p in mine}
    with django_assert_num_queries(1):
        assert processes_visible_ids(user=olivia, processes=rows) == {p.pk for p in [*mine, theirs]}
    with django_assert_num_queries(1):
        assert processes_visible_ids(user=frank, processes=rows) == set()


def test_visibility_for_many_users_at_once_is_each_users_answer_in_one_query(
    submit_request, alice, olivia, frank, bob, maria, django_assert_num_queries
):
    """A notification burst asks for many users at once (processes/notifications/selectors.py):
    the same rule as one user at a time, the task rows read once for all of them."""
    from django.contrib.auth.models import AnonymousUser
    from viewflow.workflow.models import Process

    from processes.gate import processes_visible_ids, processes_visible_ids_by_user

    mine = [submit_request(title=f"Desk {n}") for n in range(3)]
    theirs = submit_request(title="Bob's chair", requester=bob)
    rows = list(Process.objects.filter(pk__in=[p.pk for p in [*mine, theirs]]))
    users = [alice, olivia, frank, bob, maria]
    for user in users:
        user.get_all_permissions()
    expected = {user.pk: processes_visible_ids(user=user, processes=rows) for user in users}

    with django_assert_num_queries(1):
        answers = processes_visible_ids_by_user(users=users, processes=rows)

    assert answers == expected
    assert answers[alice.pk] == {p.pk for p in mine}
    assert answers[frank.pk] == set()
    assert processes_visible_ids_by_user(users=[AnonymousUser()], processes=rows) == {None: set()}


@pytest.mark.parametrize("view", ["assign", "detail"])
def test_the_claim_and_detail_pages_show_the_same_panels(client, request_with_quote, olivia, view):
    process, attachment = request_with_quote
    approve = task_of(process, "approve")

    page = _as(client, olivia).get(approve.reverse(view)).content.decode()

    assert reverse("attachment_download", args=[attachment.pk]) in page
    assert '<g id="approve"' in page
    assert "Submitted" in page
    assert "stage_name" not in page  # viewflow's raw task data panel is replaced
