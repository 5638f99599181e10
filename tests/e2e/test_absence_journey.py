"""Out-of-office in the browser (ADR 0023): olivia, holding a task, sets her absence from her
profile with oscar as her substitute; the task is in oscar's inbox "on behalf of olivia", and
her own list says where her tasks go. Screenshots at desktop and phone width, in English and
German, under var/test/screenshots/ (looked at by people)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from processes.languages.services import language_preference_set
from processes.services import task_claim
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in
from tests.e2e.test_phone_width import _fits

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _at_width(page, width: int):
    page.set_viewport_size({"width": width, "height": 860})
    page.reload()
    return page


def test_olivia_sets_her_absence_and_oscar_gets_her_task_on_her_behalf(
    live_server_url, browser, purchase_policy, submit_request, olivia, oscar, maria, shoot
):
    task = task_of(submit_request(title="Standing desk for the design team"), "approve")
    task_claim(task=task, user=olivia)

    page = log_in(browser, live_server_url, "olivia")
    page.goto("/accounts/profile/")
    page.get_by_role("link", name="Out of office: set a substitute").click()
    expect(page).to_have_url(re.compile(r"/accounts/absence/$"))
    start = timezone.localtime() - timedelta(minutes=5)
    page.fill("input[name=starts_at]", start.strftime("%Y-%m-%dT%H:%M"))
    page.fill("input[name=ends_at]", (start + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"))
    page.select_option("select[name=substitute]", label="oscar")
    page.fill("input[name=reason]", "Holiday")
    page.get_by_role("button", name="Save absence").click()
    expect(page.locator("body")).to_contain_text("Saved: oscar stands in for olivia")
    expect(page.locator(".portal-absence table").first).to_contain_text("Holiday")
    shoot(page, "absence-01-olivia-desktop-en")
    shoot(_at_width(page, 390), "absence-02-olivia-phone-en")
    _fits(page, 390, "the absence page")

    page.goto("/tasks/inbox/")
    expect(page.locator(".portal-absence-banner")).to_contain_text("your tasks go to oscar")
    expect(page.locator("#live-rows")).not_to_contain_text("Standing desk")

    other = log_in(browser, live_server_url, "oscar")
    other.goto("/tasks/inbox/")
    row = other.locator("#live-rows tbody tr", has_text="Standing desk for the design team")
    expect(row).to_contain_text("on behalf of olivia")
    expect(other.locator(".portal-absence-banner")).to_contain_text("You stand in for olivia")
    shoot(other, "absence-03-oscar-inbox-desktop-en")
    shoot(_at_width(other, 390), "absence-04-oscar-inbox-phone-en")
    _fits(other, 390, "the inbox")
    row.get_by_role("link", name="Standing desk for the design team").click()
    expect(other.locator("body")).to_contain_text("oscar holds this task on behalf of olivia")
    expect(other.locator(".portal-history")).to_contain_text("to oscar on behalf of olivia")
    shoot(other, "absence-11-oscar-task-phone-en")

    # In German, both sides.
    language_preference_set(user=oscar, language="de")
    language_preference_set(user=olivia, language="de")
    other.set_viewport_size({"width": 1280, "height": 860})
    other.goto("/tasks/inbox/")
    expect(other.locator("#live-rows")).to_contain_text("in Vertretung von olivia")
    shoot(other, "absence-05-oscar-inbox-desktop-de")
    shoot(_at_width(other, 390), "absence-06-oscar-inbox-phone-de")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.goto("/accounts/absence/")
    expect(page.locator("h1").first).to_contain_text("Ihre Abwesenheit")
    shoot(page, "absence-07-olivia-desktop-de")
    shoot(_at_width(page, 390), "absence-08-olivia-phone-de")

    # maria, a manager, sees her team and whose absence she may set.
    boss = log_in(browser, live_server_url, "maria")
    boss.goto("/accounts/absence/")
    team = boss.locator("#team + .portal-absence__scroll table")
    expect(team).to_contain_text("olivia")
    shoot(boss, "absence-09-maria-team-desktop-en")
    team.get_by_role("link", name="Set absence for oscar").click()
    expect(boss.locator("h1").first).to_contain_text("Absence of oscar")
    shoot(_at_width(boss, 390), "absence-10-maria-for-oscar-phone-en")
