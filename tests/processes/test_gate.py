"""The authorization gate (processes/gate.py) and the pages it guards (processes/flowapp.py).

Each test is one of the attacks a demo account could try; the service-backed attack suite
(tests/services/test_attacks.py) runs the same classes against a live server on PostgreSQL.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from viewflow.workflow.status import STATUS

from processes.gate import GateDenied, TaskAction, process_visible_to, task_allows, task_authorize
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim, task_delegate, task_reassign, task_unclaim
from processes.tasklist.exceptions import TaskUnavailable
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(submit_request, olivia):
    """alice's request, rejected by olivia: alice holds its revise task."""
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=False, comment="Second quote, please.")
    return process


# ---------------------------------------------------------------- 1. another step's URL


def test_a_revise_task_posted_to_the_approve_url_is_not_found(client, rejected, alice):
    revise = task_of(rejected, "revise")
    approve = task_of(rejected, "approve")
    client.force_login(alice)
    url = approve.reverse("execute").replace(f"/{approve.pk}/", f"/{revise.pk}/")

    response = client.post(url, {"decision": "approve", "comment": ""})

    assert response.status_code == 404
    revise.refresh_from_db()
    assert revise.status == STATUS.ASSIGNED


def test_an_approve_task_posted_to_the_revise_url_is_not_found(client, submit_request, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    client.force_login(olivia)
    url = f"/purchase/{process.pk}/revise/{approve.pk}/execute/"

    response = client.post(
        url, {"title": "Changed", "amount": "1.00", "currency": "EUR", "justification": "x"}
    )

    assert response.status_code == 404
    process.refresh_from_db()
    assert process.title == "Standing desk"


def test_a_task_under_a_made_up_process_id_is_not_found(client, submit_request, olivia):
    process = submit_request()
    other = submit_request(title="Other")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    client.force_login(olivia)
    url = approve.reverse("execute").replace(f"/purchase/{process.pk}/", f"/purchase/{other.pk}/")

    assert client.post(url, {"decision": "approve", "comment": ""}).status_code == 404
    assert client.get(url).status_code == 404


def test_the_gate_refuses_the_wrong_node_and_process(submit_request, olivia):
    from django.http import Http404

    from processes.purchase.flows import PurchaseFlow

    process = submit_request()
    approve = task_of(process, "approve")

    with pytest.raises(Http404, match="No such task at this step"):
        task_authorize(user=olivia, task=approve, action=TaskAction.VIEW, node=PurchaseFlow.revise)
    with pytest.raises(Http404, match="No such task in this process"):
        task_authorize(user=olivia, task=approve, action=TaskAction.VIEW, process_pk=process.pk + 1)
    task_authorize(
        user=olivia, task=approve, action=TaskAction.VIEW, node=PurchaseFlow.approve, process_pk=process.pk
    )


# ---------------------------------------------------------------- 2. side doors


@pytest.mark.parametrize(
    "path",
    ["/purchase/flows/", "/purchase/tasks/", "/purchase/queue/assign/", "/purchase/inbox/unassign/"],
)
def test_viewflows_lists_and_bulk_actions_are_not_routed(client, frank, path):
    client.force_login(frank)

    assert client.get(path).status_code == 404


def test_the_flow_dashboard_is_the_portals_task_list(client, submit_request, frank):
    submit_request(title="Secret merger costs")
    client.force_login(frank)

    response = client.get("/purchase/", follow=True)

    assert response.redirect_chain[-1][0].startswith("/tasks/inbox/?flow=")
    assert "Secret merger costs" not in response.content.decode()


def test_viewflows_unassign_is_not_routed(client, rejected, alice):
    revise = task_of(rejected, "revise")
    client.force_login(alice)

    assert client.post(f"/purchase/{rejected.pk}/revise/{revise.pk}/unassign/").status_code == 404
    revise.refresh_from_db()
    assert revise.owner == alice


def test_a_revise_task_is_never_released_even_by_a_manager(rejected, maria):
    with pytest.raises(GateDenied, match="yours alone"):
        task_unclaim(task=task_of(rejected, "revise"), user=maria)


# ---------------------------------------------------------------- 3. per-request visibility


def test_a_rejected_request_is_not_visible_to_other_requesters(client, rejected, alice, ava):
    revise = task_of(rejected, "revise")

    assert process_visible_to(user=alice, process=rejected)
    assert not process_visible_to(user=ava, process=rejected)
    client.force_login(ava)
    assert client.get(f"/purchase/{rejected.pk}/").status_code == 403
    assert client.get(revise.reverse("detail")).status_code == 403
    assert client.get(revise.reverse("index")).status_code == 403


def test_finance_does_not_see_a_request_below_its_stage(client, submit_request, frank):
    process = submit_request(title="Small desk")
    client.force_login(frank)

    assert client.get(f"/purchase/{process.pk}/").status_code == 403


# ---------------------------------------------------------------- 4. segregation of duties


def test_a_requester_in_the_approvers_group_cannot_claim_her_own_request(submit_request, alice_approves):
    process = submit_request()
    approve = task_of(process, "approve")

    with pytest.raises(GateDenied, match="your own request") as refused:
        task_claim(task=approve, user=alice_approves)
    assert refused.value.reason == "own_request"
    approve.refresh_from_db()
    assert approve.status == STATUS.NEW


def test_a_requester_cannot_claim_her_own_request_through_viewflows_page(
    client, submit_request, alice_approves
):
    process = submit_request()
    approve = task_of(process, "approve")
    client.force_login(alice_approves)

    assert client.post(approve.reverse("assign")).status_code == 403
    approve.refresh_from_db()
    assert approve.owner_id is None


def test_nobody_delegates_or_reassigns_a_request_to_its_requester(
    submit_request, olivia, maria, alice_approves
):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    with pytest.raises(GateDenied, match="started this request"):
        task_delegate(task=approve, user=olivia, to_user=alice_approves)
    with pytest.raises(GateDenied, match="started this request"):
        task_reassign(task=approve, user=maria, to_user=alice_approves)
    approve.refresh_from_db()
    assert approve.owner == olivia


def test_a_requester_handed_her_request_anyway_cannot_decide_it(submit_request, alice_approves):
    """Even if a raw write put it in her inbox (an admin editing the row), the gate refuses."""
    process = submit_request()
    approve = task_of(process, "approve")
    approve.owner, approve.status = alice_approves, STATUS.ASSIGNED
    approve.save(update_fields=["owner", "status"])

    with pytest.raises(GateDenied, match="your own request"):
        purchase_task_decide(task=approve, user=alice_approves, approved=True)
    assert not task_allows(user=alice_approves, task=approve, action=TaskAction.DECIDE)


def test_the_delegation_picker_never_offers_the_requester(client, submit_request, olivia, alice_approves):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    client.force_login(olivia)

    page = client.get(f"/tasks/{approve.pk}/delegate/").content.decode()

    assert ">alice<" not in page
    assert f'value="{alice_approves.pk}"' not in page


def test_a_task_without_a_candidate_permission_is_nobodys_to_claim(submit_request, olivia):
    process = submit_request()
    approve = task_of(process, "approve")
    approve.owner_permission = ""
    approve.save(update_fields=["owner_permission"])

    with pytest.raises(PermissionDenied):
        task_claim(task=approve, user=olivia)


def test_a_claimed_task_reports_who_holds_it_only_to_those_who_see_it(submit_request, olivia, oscar, ava):
    process = submit_request()
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)

    with pytest.raises(TaskUnavailable, match="already claimed by olivia"):
        task_claim(task=approve, user=oscar)
    with pytest.raises(GateDenied) as refused:
        task_claim(task=approve, user=ava)
    assert "olivia" not in str(refused.value)


# ---------------------------------------------------------------- 4b. amounts in the policy's currency


def test_a_request_in_another_currency_is_refused_with_a_clear_error(submit_request, purchase_policy):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="decides amounts in EUR"):
        submit_request(title="Cheap in yen", amount="150000.00", currency="USD")


def test_the_request_form_names_the_policys_currency(client, alice, purchase_policy):
    client.force_login(alice)

    response = client.post(
        "/purchase/start/",
        {"title": "Laptop", "amount": "900.00", "currency": "GBP", "justification": "Old one died."},
    )

    assert response.status_code in (200, 422)
    assert "decides amounts in EUR" in response.content.decode()
