"""The operator's task list in the browser: olivia filters her queue, sorts it by due time,
bulk-claims two tasks and finds them in her inbox; maria reassigns one from her team's view."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from processes.tasklist.models import Priority, TaskRow
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_olivia_bulk_claims_from_a_filtered_queue_and_maria_reassigns_one(
    live_server_url, browser, purchase_policy, submit_request, olivia, oscar, maria, shoot
):
    tasks = {
        title: task_of(submit_request(title=title, amount=amount, priority=priority), "approve")
        for title, amount, priority in [
            ("Laptop", "1800.00", Priority.NORMAL),
            ("Office chair", "190.00", Priority.URGENT),
            ("Monitor", "320.00", Priority.LOW),
            ("Desk lamp", "40.00", Priority.HIGH),
        ]
    }

    page = log_in(browser, live_server_url, "olivia")
    expect(page).to_have_url(re.compile(r"/tasks/inbox/$"))  # `/` lands an operator on the task list
    page.goto("/tasks/queue/")
    expect(page.locator("tbody tr")).to_have_count(4)
    page.fill("input[name=amount_min]", "100")
    page.fill("input[name=amount_max]", "1000")
    page.select_option("select[name=sort]", "due")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"amount_min=100.*sort=due"))
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Office chair")  # submitted first: due first
    expect(rows.nth(1)).to_contain_text("Monitor")
    shoot(page, "tasklist-01-olivia-filtered-queue")

    for title in ("Office chair", "Monitor"):
        page.locator("tr", has_text=title).locator("input[type=checkbox]").check()
    page.get_by_role("button", name="Claim selected").click()
    expect(page.locator("body")).to_contain_text("Claimed 2 tasks")
    expect(page.locator("tbody tr")).to_have_count(0)
    shoot(page, "tasklist-02-olivia-after-bulk-claim")

    page.goto("/tasks/inbox/")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("Office chair")
    expect(page.locator("tbody")).to_contain_text("Monitor")
    shoot(page, "tasklist-03-olivia-inbox")

    page = log_in(browser, live_server_url, "maria")
    page.goto("/tasks/team/")
    expect(page.locator("tbody tr")).to_have_count(4)
    shoot(page, "tasklist-04-maria-team")
    page.locator("tr", has_text="Monitor").get_by_role("link", name="Reassign").click()
    page.select_option("select[name=to_user]", label="oscar")
    shoot(page, "tasklist-05-maria-reassign-form")
    page.get_by_role("button", name="Reassign").click()
    expect(page).to_have_url(re.compile(r"/tasks/team/"))
    expect(page.locator("body")).to_contain_text("is now with oscar")
    expect(page.locator("tr", has_text="Monitor")).to_contain_text("oscar")
    shoot(page, "tasklist-06-maria-after-reassign")

    assert TaskRow.objects.get(pk=tasks["Monitor"].pk).owner_id == oscar.pk
    assert TaskRow.objects.get(pk=tasks["Office chair"].pk).owner_id == olivia.pk
