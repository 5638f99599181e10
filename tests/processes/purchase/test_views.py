"""HTTP walk-through of the purchase flow, one role at a time, through the real URLconf."""

from __future__ import annotations

import pytest
from django.urls import get_resolver
from viewflow.workflow.status import PROCESS, STATUS

from processes.models import AuditEvent
from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


def _login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("path", ["/", "/purchase/", "/purchase/queue/", "/purchase/start/", "/admin/"])
def test_anonymous_visitors_are_sent_to_a_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert "login/?next=" in response["Location"]


def test_the_login_page_carries_the_product_name(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "Approvals Portal" in response.content.decode()


def test_requester_submits_a_request_through_the_form(client, alice):
    _login(client, alice)
    start_url = PurchaseFlow.start.reverse("execute")

    invalid = client.post(start_url, {"title": "", "amount": "-5", "currency": "EUR", "justification": ""})
    assert invalid.status_code == 200  # the form again, with its errors (422 when Turbo submits it)
    assert "This field is required." in invalid.content.decode()
    assert PurchaseProcess.objects.count() == 0

    response = client.post(
        start_url,
        {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."},
    )
    assert response.status_code == 302
    process = PurchaseProcess.objects.get()
    assert process.requester == alice
    assert task_of(process, "approve").status == STATUS.NEW


def test_approver_claims_from_the_queue_and_approves(client, submit_request, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    _login(client, olivia)

    queue = client.get("/purchase/queue/", follow=True)  # the portal's queue, this process type's
    assert queue.redirect_chain == [("/tasks/queue/?flow=purchase%2Fflows.PurchaseFlow", 302)]
    assert "Standing desk" in queue.content.decode()

    assert client.post(approve.reverse("assign")).status_code == 302
    approve.refresh_from_db()
    assert approve.owner == olivia

    form = client.get(approve.reverse("execute"))
    assert form.status_code == 200
    rejected_without_reason = client.post(approve.reverse("execute"), {"decision": "reject", "comment": ""})
    assert rejected_without_reason.status_code == 200
    assert "Say why the request is rejected." in rejected_without_reason.content.decode()

    response = client.post(approve.reverse("execute"), {"decision": "approve", "comment": "Fine."})
    assert response.status_code == 302
    process.refresh_from_db()
    assert process.approved is True
    assert task_of(process, "create_order").status == STATUS.SCHEDULED
    assert AuditEvent.objects.filter(process=process, action="purchase.approved", actor=olivia).exists()


def test_a_user_outside_the_approvers_cannot_claim_or_execute(client, submit_request, frank, olivia):
    approve = task_of(submit_request(), "approve")
    _login(client, frank)

    assert "Standing desk" not in client.get("/purchase/queue/").content.decode()
    assert client.post(approve.reverse("assign")).status_code == 403
    approve.refresh_from_db()
    assert approve.owner is None


def test_someone_else_cannot_execute_a_claimed_task(client, submit_request, olivia, oscar):
    approve = task_of(submit_request(), "approve")
    _login(client, olivia).post(approve.reverse("assign"))
    client.logout()
    _login(client, oscar)

    response = client.post(approve.reverse("execute"), {"decision": "approve", "comment": ""})

    # A clear page naming the holder (processes/tasklist/middleware.py), not a bare 403.
    assert response.status_code == 409
    assert f"Task #{approve.pk} is already claimed by olivia." in response.content.decode()
    approve.refresh_from_db()
    assert approve.status == STATUS.ASSIGNED


def test_a_claim_sent_twice_says_the_task_is_already_yours(client, submit_request, olivia):
    """A double click, or a retry whose first answer was lost (a web node killed after the
    commit, tests/cluster): a clear 409, not a bare 403, and nothing changes."""
    approve = task_of(submit_request(), "approve")
    _login(client, olivia).post(approve.reverse("assign"))

    response = client.post(approve.reverse("assign"))

    assert response.status_code == 409
    page = response.content.decode()
    assert "This task is already yours" in page
    assert "changed hands" not in page
    assert f"Task #{approve.pk} is already yours." in page
    assert f'href="{approve.reverse("index")}"' in page  # she goes on to the task itself
    approve.refresh_from_db()
    assert (approve.status, approve.owner) == (STATUS.ASSIGNED, olivia)


def test_the_claim_sent_twice_page_speaks_german(client, submit_request, olivia):
    approve = task_of(submit_request(), "approve")
    _login(client, olivia).post(approve.reverse("assign"))

    page = client.post(approve.reverse("assign"), HTTP_ACCEPT_LANGUAGE="de").content.decode()

    assert "Diese Aufgabe gehört bereits Ihnen" in page
    assert f"Aufgabe #{approve.pk} gehört bereits Ihnen." in page
    assert "Aufgabe öffnen" in page


def test_a_user_without_the_view_permission_gets_403(client, django_user_model, submit_request):
    process = submit_request()
    stranger = django_user_model.objects.create_user("stranger", password="x")
    _login(client, stranger)

    assert client.get(f"/purchase/{process.pk}/").status_code == 403
    assert client.get("/purchase/queue/").status_code == 403


def test_the_requester_sees_the_process_finish(client, submit_request, alice, olivia):
    from processes.nodes.celery_job import job_execute
    from processes.purchase.services import purchase_task_decide
    from processes.services import task_claim

    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True)
    job = task_of(process, "create_order")
    job_execute(job.flow_task.activation_class(job).ref())

    page = _login(client, alice).get(f"/purchase/{process.pk}/")

    assert page.status_code == 200
    process.refresh_from_db()
    assert process.status == PROCESS.DONE
    assert "Create purchase order" in page.content.decode()


def test_logging_out_ends_the_session(client, alice):
    _login(client, alice)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert client.get("/purchase/").status_code == 302  # back to the login page


def test_the_portal_index_sends_each_user_to_an_app_they_may_see(client, alice, roles, django_user_model):
    fiona = django_user_model.objects.create_user("fiona", password="x")
    fiona.groups.add(roles["fraud"])  # orders only

    # The task list comes first (processes/tasklist): everyone who works on a process lands there.
    client.force_login(alice)
    assert client.get("/")["Location"] == "/tasks/"
    client.force_login(fiona)
    assert client.get("/")["Location"] == "/tasks/"


def test_a_user_without_any_process_gets_a_clear_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("newbie", password="x"))

    response = client.get("/")

    assert response.status_code == 403
    assert "You have no processes yet" in response.content.decode()


def test_only_those_who_may_cancel_see_the_cancel_button(client, submit_request, alice, maria):
    process = submit_request()
    url = f"/purchase/{process.pk}/"

    client.force_login(alice)
    alices = client.get(url).content.decode()
    alices_cancel = client.get(f"{url}cancel/")
    client.force_login(maria)
    marias = client.get(url).content.decode()

    assert f"/purchase/{process.pk}/cancel/" not in alices
    assert alices_cancel.status_code == 403
    assert f"/purchase/{process.pk}/cancel/" in marias
