"""The policy-driven chain in the browser: a two-stage approval by olivia and frank, and an admin
publishing a new policy version that the next request follows while a running one does not."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import PROCESS

from processes.policies.models import PolicyVersion
from processes.purchase.models import PurchaseOrder, PurchaseProcess
from processes.purchase.services import purchase_request_start
from tests.e2e.test_first_request_journey import log_in
from tests.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _claim_and_approve(page, title: str, comment: str):
    page.goto("/purchase/queue/")
    expect(page.locator("body")).to_contain_text(title)
    page.locator("tr", has_text=title).get_by_role("link").first.click()
    page.get_by_role("button", name="Assign and continue").click()
    expect(page).to_have_url(re.compile(r"/approve/\d+/execute/"))
    page.get_by_label("Approve", exact=True).check()
    page.fill("#id_comment_control", comment)
    page.get_by_role("button", name="Execute", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/execute/"))


def test_olivia_then_frank_approve_a_large_request_and_alice_sees_the_result(
    live_server_url, celery_worker_process, browser, purchase_policy, alice, olivia, frank, shoot
):
    page = log_in(browser, live_server_url, "alice")
    page.get_by_text("New purchase request").click()
    page.fill("#id_title_control", "Team offsite venue")
    page.fill("#id_amount_control", "1500.00")
    page.fill("#id_justification_control", "Quarterly planning.")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("body")).to_contain_text("Team offsite venue")
    process = PurchaseProcess.objects.get(title="Team offsite venue")

    _claim_and_approve(log_in(browser, live_server_url, "olivia"), "Team offsite venue", "Team agrees.")

    page = log_in(browser, live_server_url, "frank")
    page.goto("/purchase/queue/")
    expect(page.locator("body")).to_contain_text("Finance review")
    shoot(page, "policy-01-frank-finance-queue")
    _claim_and_approve(page, "Team offsite venue", "Budget is there.")

    def finished() -> bool:
        process.refresh_from_db()
        return process.status == PROCESS.DONE

    wait_for(finished, timeout=30, what="the worker to create the purchase order")
    assert PurchaseOrder.objects.filter(process=process).exists()

    page = log_in(browser, live_server_url, "alice")
    page.goto("/purchase/mine/")
    expect(page.locator(f"#request-{process.pk}")).to_contain_text("Approved")
    shoot(page, "policy-02-alice-my-requests")
    page.goto(f"/purchase/{process.pk}/")
    history = page.locator(".portal-history")
    expect(history).to_contain_text("Budget is there.")
    expect(history).to_contain_text("Purchase order created")
    shoot(page, "policy-03-alice-process-history")


def test_an_admin_publishes_a_new_version_and_only_the_next_request_follows_it(
    live_server_url, celery_worker_process, browser, purchase_policy, alice, olivia, shoot
):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("admin", "admin@example.com", "portal-demo", first_name="Admin")

    def submit(title):
        return purchase_request_start(
            requester=alice,
            data={"title": title, "amount": Decimal("800.00"), "currency": "EUR", "justification": "x"},
        )

    running = submit("Monitor arms")

    page = log_in(browser, live_server_url, "admin")
    page.goto("/admin/processes/policyversion/")
    page.locator("tr", has_text="purchase v1").locator("input.action-select").check()
    page.select_option("select[name=action]", "copy_to_draft")
    page.locator("button[title='Run the selected action']").click()
    expect(page.locator(".messagelist")).to_contain_text("v2 is a new draft")
    page.get_by_role("link", name=re.compile(r"purchase v2")).click()
    page.fill("#id_stages-1-amount_above", "500.00")
    page.fill("#id_note", "Finance reviews everything above 500")
    shoot(page, "policy-04-admin-draft")
    page.get_by_role("button", name="Save", exact=True).click()
    page.locator("tr", has_text="purchase v2").locator("input.action-select").check()
    page.select_option("select[name=action]", "publish")
    page.locator("button[title='Run the selected action']").click()
    expect(page.locator(".messagelist")).to_contain_text("v2 is published")
    shoot(page, "policy-05-admin-published")
    page.goto(f"/admin/processes/policyversion/{purchase_policy.pk}/change/")
    expect(page.locator("body")).to_contain_text("1 running")
    shoot(page, "policy-06-admin-retired-readonly")

    following = submit("Docking stations")
    assert following.policy_version == PolicyVersion.objects.get(number=2)
    assert [s.name for s in following.chain()] == ["Team approval", "Finance review"]
    running.refresh_from_db()
    assert running.policy_version == purchase_policy
    assert [s.name for s in running.chain()] == ["Team approval"]
