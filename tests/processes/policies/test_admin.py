"""The policy admin: drafts with inline stages, validated publishing, read-only published versions."""

from __future__ import annotations

import pytest
from django.contrib import admin

from processes.policies.models import PolicyVersion

pytestmark = pytest.mark.django_db


def _inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{key}": value for key, value in row.items()})
    return data


@pytest.mark.parametrize("page", ["processes/approvalpolicy", "processes/policyversion"])
def test_changelists_and_change_pages_render(admin_client, purchase_policy, submit_request, page):
    submit_request()

    changelist = admin_client.get(f"/admin/{page}/")
    assert changelist.status_code == 200
    obj = purchase_policy if page.endswith("version") else purchase_policy.policy
    assert admin_client.get(f"/admin/{page}/{obj.pk}/change/").status_code == 200


def test_the_version_list_shows_its_stages_and_running_processes(
    admin_client, purchase_policy, submit_request
):
    submit_request()

    page = admin_client.get("/admin/processes/policyversion/").content.decode()

    assert "2. Finance review (finance, above 1000.00)" in page
    assert f"?policy_version__id__exact={purchase_policy.pk}&amp;status__exact=NEW" in page
    assert "1 running" in page


def test_an_admin_adds_a_draft_with_stages_then_publishes_it(admin_client, purchase_policy, roles):
    response = admin_client.post(
        "/admin/processes/policyversion/add/",
        {
            "policy": purchase_policy.policy_id,
            "note": "Managers sign off big requests",
            "currency": "EUR",
            **_inline(
                "stages",
                [
                    {
                        "order": "1",
                        "name": "Team approval",
                        "group": roles["approvers"].pk,
                        "sla": "04:00:00",
                    },
                    {
                        "order": "2",
                        "name": "Managers",
                        "group": roles["managers"].pk,
                        "sla": "1 00:00:00",
                        "amount_above": "5000",
                    },
                ],
            ),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    draft = PolicyVersion.objects.get(number=2)
    assert draft.status == "draft"
    assert (
        "Ready to publish."
        in admin_client.get(f"/admin/processes/policyversion/{draft.pk}/change/").content.decode()
    )

    published = admin_client.post(
        "/admin/processes/policyversion/",
        {"action": "publish", "_selected_action": [draft.pk]},
        follow=True,
    )

    assert "Purchase v2 is published: the next request follows it." in published.content.decode()
    draft.refresh_from_db()
    purchase_policy.refresh_from_db()
    assert (draft.status, draft.published_by.username, purchase_policy.status) == (
        "published",
        "admin",
        "retired",
    )


def test_publishing_an_invalid_draft_shows_every_problem(admin_client, purchase_policy, roles):
    draft = PolicyVersion.objects.create(policy=purchase_policy.policy, number=2)
    draft.stages.create(order=2, name="Finance", group=roles["finance"], amount_above=5, amount_up_to=1)

    page = admin_client.get(f"/admin/processes/policyversion/{draft.pk}/change/").content.decode()
    assert "the amount condition is contradictory" in page
    response = admin_client.post(
        "/admin/processes/policyversion/", {"action": "publish", "_selected_action": [draft.pk]}, follow=True
    )

    content = response.content.decode()
    assert "Stages must be numbered 1, 2, 3" in content
    assert "the amount condition is contradictory" in content
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_a_published_version_is_read_only_and_is_changed_through_a_copy(admin_client, purchase_policy):
    url = f"/admin/processes/policyversion/{purchase_policy.pk}/change/"
    model_admin = admin.site._registry[PolicyVersion]

    assert model_admin.has_change_permission(admin_client.get(url).wsgi_request, purchase_policy) is False
    assert admin_client.post(url, {"note": "changed"}).status_code == 403
    assert (
        admin_client.post(
            f"/admin/processes/policyversion/{purchase_policy.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )

    response = admin_client.post(
        "/admin/processes/policyversion/",
        {"action": "copy_to_draft", "_selected_action": [purchase_policy.pk]},
        follow=True,
    )

    assert "Purchase v2 is a new draft (a copy of v1)." in response.content.decode()
    copy = PolicyVersion.objects.get(number=2)
    assert [s.name for s in copy.stages.order_by("order")] == ["Team approval", "Finance review"]


def test_the_purchase_process_admin_shows_the_pinned_version(admin_client, purchase_policy, submit_request):
    process = submit_request()

    page = admin_client.get("/admin/purchase/purchaseprocess/").content.decode()
    assert str(purchase_policy) in page
    filtered = admin_client.get(
        f"/admin/purchase/purchaseprocess/?policy_version__id__exact={purchase_policy.pk}"
    )
    assert process.title in filtered.content.decode()
