"""Saved filters in the browser: olivia saves her filtered queue, shares it with the approvers and
pins it; its count follows a new request live, on the list and in the drawer; oscar sees it
read-only, pins it for himself, and cannot rename it; olivia renames it (ADR 0022)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from processes.tasklist.models import SavedFilter
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_olivia_saves_shares_and_pins_a_filter_and_oscar_reads_it(
    live_server_url, browser, purchase_policy, submit_request, olivia, oscar, shoot
):
    for title, amount in [("Chair", "190.00"), ("Lamp", "40.00"), ("Laptop", "1800.00")]:
        submit_request(title=title, amount=amount)

    page = log_in(browser, live_server_url, "olivia")
    page.goto("/tasks/queue/?amount_max=500")
    expect(page.locator("tbody tr")).to_have_count(2)
    page.fill("input[name=name]", "Cheap")
    page.select_option("select[name=shared_with]", label="approvers")
    page.get_by_role("button", name="Save filter").click()
    expect(page.locator("body")).to_contain_text("saved")
    expect(page).to_have_url(re.compile(r"/tasks/queue/\?amount_max=500"))
    page.locator(".portal-saved__list li", has_text="Cheap").get_by_role("button", name="Pin").click()
    chip = page.locator(".portal-pinned a", has_text="Cheap")
    expect(chip.locator(".portal-pinned__count")).to_have_text("2")
    shoot(page, "savedfilters-01-olivia-pinned")

    drawer = page.locator("a.portal-drawer-pin", has_text="Cheap").locator("[data-live-count]")
    expect(drawer).to_have_text("2")

    submit_request(title="Mouse", amount="25.00")  # the live page refreshes the pinned counts
    expect(chip.locator(".portal-pinned__count")).to_have_text("3", timeout=15_000)
    expect(drawer).to_have_text("3", timeout=15_000)

    other = log_in(browser, live_server_url, "oscar")
    other.goto("/tasks/queue/")
    shared = other.locator(".portal-saved__list li", has_text="Cheap")
    expect(shared).to_contain_text("read-only")
    expect(shared.get_by_role("button", name="Rename")).to_have_count(0)
    expect(shared.get_by_role("button", name="Delete")).to_have_count(0)
    shared.get_by_role("button", name="Pin").click()  # for himself
    expect(other.locator("a.portal-drawer-pin", has_text="Cheap")).to_contain_text("3")
    other.locator(".portal-saved__list li", has_text="Cheap").get_by_role("link", name="Cheap").click()
    expect(other.locator("tbody tr")).to_have_count(3)
    shoot(other, "savedfilters-02-oscar-read-only-pinned")

    page.reload()
    mine = page.locator(".portal-saved__list li", has_text="Cheap")
    mine.get_by_role("textbox").fill("Under 500")
    mine.get_by_role("button", name="Rename").click()
    expect(page.locator("body")).to_contain_text("Filter renamed to “Under 500”.")
    expect(page.locator("a.portal-drawer-pin", has_text="Under 500")).to_contain_text("3")
    saved = SavedFilter.objects.get()
    assert (saved.name, saved.query) == ("Under 500", "amount_max=500")
    assert sorted(saved.pins.values_list("user__username", flat=True)) == ["olivia", "oscar"]
