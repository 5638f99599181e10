"""HTTP walk-through of the policy-driven chain, one role at a time: alice submits and revises,
olivia approves the team stage, frank the finance stage; alice follows it in "my requests" and
in the process history."""

from __future__ import annotations

import pytest
from django.urls import get_resolver
from viewflow.workflow.status import PROCESS, STATUS

from processes.purchase.flows import PurchaseFlow
from processes.purchase.models import PurchaseProcess
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


def _claim_and_decide(client, user, process, decision, comment=""):
    client.force_login(user)
    task = task_of(process, "approve")
    assert client.post(task.reverse("assign")).status_code == 302
    response = client.post(task.reverse("execute"), {"decision": decision, "comment": comment})
    assert response.status_code == 302
    process.refresh_from_db()
    return task


def test_each_role_walks_the_two_stage_chain(client, purchase_policy, alice, olivia, frank):
    client.force_login(alice)
    client.post(
        PurchaseFlow.start.reverse("execute"),
        {"title": "Conference tickets", "amount": "1180.00", "currency": "EUR", "justification": "Talk."},
    )
    process = PurchaseProcess.objects.get()

    client.force_login(frank)
    assert "Conference tickets" not in client.get("/purchase/queue/", follow=True).content.decode()
    _claim_and_decide(client, olivia, process, "approve", "Team agrees.")

    client.force_login(olivia)
    assert "Conference tickets" not in client.get("/purchase/queue/", follow=True).content.decode()
    client.force_login(alice)
    mine = client.get("/purchase/mine/").content.decode()
    assert "2. Finance review" in mine
    assert "group finance" in mine

    client.force_login(frank)
    assert "Conference tickets" in client.get("/purchase/queue/", follow=True).content.decode()
    _claim_and_decide(client, frank, process, "approve")
    assert task_of(process, "create_order").status in (STATUS.SCHEDULED, STATUS.DONE)

    client.force_login(alice)
    history = client.get(f"/purchase/{process.pk}/").content.decode()
    assert "History" in history
    assert "Team agrees." in history
    assert "purchase v1" in history
    assert history.index("Team approval") < history.index("Finance review")


def test_a_rejected_request_is_revised_by_the_requester_through_the_form(
    client, purchase_policy, submit_request, alice, olivia
):
    process = submit_request(amount="640.00")
    _claim_and_decide(client, olivia, process, "reject", "Get a second quote.")

    client.force_login(alice)
    mine = client.get("/purchase/mine/").content.decode()
    assert "Returned to you" in mine
    revise = task_of(process, "revise")
    form = client.get(revise.reverse("execute"))
    assert form.status_code == 200
    assert 'value="Standing desk"' in form.content.decode()
    response = client.post(
        revise.reverse("execute"),
        {
            "title": "Standing desk (second quote)",
            "amount": "590.00",
            "currency": "EUR",
            "justification": "Back pain.",
            "decision": "resubmit",
            "comment": "Cheaper offer attached.",
        },
    )
    assert response.status_code == 302

    process.refresh_from_db()
    assert (process.title, process.revision, process.stage_order) == ("Standing desk (second quote)", 1, 1)
    assert task_of(process, "approve").status == STATUS.NEW
    history = client.get(f"/purchase/{process.pk}/").content.decode()
    assert "Get a second quote." in history
    assert "Revised and resubmitted" in history
    assert "amount 640.00 → 590.00" in history


def test_the_requester_withdraws_through_the_form(client, purchase_policy, submit_request, alice, olivia):
    process = submit_request()
    _claim_and_decide(client, olivia, process, "reject", "No.")

    client.force_login(alice)
    revise = task_of(process, "revise")
    data = {"title": "Standing desk", "amount": "640.00", "currency": "EUR", "justification": "Back pain."}
    response = client.post(revise.reverse("execute"), {**data, "decision": "withdraw"})

    assert response.status_code == 302
    process.refresh_from_db()
    assert (process.status, process.withdrawn) == (PROCESS.DONE, True)
    assert "Withdrawn" in client.get("/purchase/mine/").content.decode()


def test_my_requests_lists_only_my_own(client, purchase_policy, submit_request, alice, olivia):
    submit_request(title="Alice's desk")

    client.force_login(olivia)
    assert "Alice&#x27;s desk" not in client.get("/purchase/mine/").content.decode()
