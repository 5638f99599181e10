"""Keyboard triage in the browser (static/portal/shortcuts.js): in olivia's queue j and k move,
x ticks for the bulk claim, c claims, Enter opens; on the task page a and r choose the decision
and focus the comment without submitting; ? shows the shortcuts. Nothing fires while typing in a
field or with a modifier key held."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from processes.tasklist.models import TaskRow
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

CURRENT = "#live-rows tbody tr.portal-current"


def test_olivia_triages_her_queue_and_decides_with_the_keyboard(
    live_server_url, browser, purchase_policy, submit_request, olivia, shoot
):
    tasks = [task_of(submit_request(title=title), "approve") for title in ("Laptop", "Monitor", "Desk lamp")]
    olivia.first_name = "Olivia"
    olivia.save(update_fields=["first_name"])

    page = log_in(browser, live_server_url, "olivia")
    page.goto("/tasks/queue/?sort=due")
    rows = page.locator("#live-rows tbody tr")
    expect(rows).to_have_count(3)
    expect(page.locator(CURRENT)).to_have_count(0)

    # j and k move the selection, and the focus goes to the row's subject link.
    page.keyboard.press("j")
    expect(page.locator(CURRENT)).to_contain_text("Laptop")
    expect(page.locator(CURRENT).get_by_role("link", name="Laptop")).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator(CURRENT)).to_contain_text("Desk lamp")
    page.keyboard.press("j")  # the last row stays selected
    expect(page.locator(CURRENT)).to_contain_text("Desk lamp")
    page.keyboard.press("k")
    expect(page.locator(CURRENT)).to_contain_text("Monitor")

    # x ticks the selected row for the bulk claim, and again unticks it.
    page.keyboard.press("x")
    expect(page.locator("tr", has_text="Monitor").locator("input[type=checkbox]")).to_be_checked()
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(page.locator("tr", has_text="Laptop").locator("input[type=checkbox]")).to_be_checked()
    page.keyboard.press("x")
    expect(page.locator("tr", has_text="Laptop").locator("input[type=checkbox]")).not_to_be_checked()
    shoot(page, "keyboard-01-queue-selected")

    # Inside a text field the letters are text; with a modifier they are not shortcuts either.
    page.fill("input[name=q]", "")
    page.locator("input[name=q]").press_sequentially("jkx")
    expect(page.locator("input[name=q]")).to_have_value("jkx")
    expect(page.locator(CURRENT)).to_contain_text("Laptop")
    page.locator("h1").click()  # the focus leaves the field
    page.keyboard.press("Alt+j")
    expect(page.locator(CURRENT)).to_contain_text("Laptop")
    expect(page.locator("tr", has_text="Monitor").locator("input[type=checkbox]")).to_be_checked()

    # ? shows the shortcuts in a dialog; Escape closes it.
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Claim the selected task")
    shoot(page, "keyboard-02-shortcuts-dialog")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # c claims the selected row: it leaves the queue for olivia's inbox.
    page.keyboard.press("j")
    expect(page.locator(CURRENT)).to_contain_text("Monitor")
    page.keyboard.press("c")
    expect(page.locator("body")).to_contain_text(f"Task #{tasks[1].pk} is yours now.")
    expect(rows).to_have_count(2)
    assert TaskRow.objects.get(pk=tasks[1].pk).owner_id == olivia.pk

    # Enter opens the selected task from the inbox.
    page.goto("/tasks/inbox/")
    expect(rows).to_have_count(1)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/approve/{tasks[1].pk}/"))
    comment = page.locator("textarea[name=comment]")
    expect(comment).to_be_visible()
    url = page.url

    # a chooses approve and puts the focus in the comment; nothing is submitted.
    page.keyboard.press("a")
    expect(page.locator("input[name=decision][value=approve]")).to_be_checked()
    expect(comment).to_be_focused()
    page.keyboard.type("r is a letter here")  # typing in the comment: no shortcut
    expect(page.locator("input[name=decision][value=approve]")).to_be_checked()
    expect(comment).to_have_value("r is a letter here")
    page.evaluate("document.activeElement.blur()")  # the focus leaves the comment
    page.keyboard.press("r")
    expect(page.locator("input[name=decision][value=reject]")).to_be_checked()
    expect(comment).to_be_focused()
    shoot(page, "keyboard-03-task-reject-focused")
    assert page.url == url
    assert TaskRow.objects.get(pk=tasks[1].pk).status == "ASSIGNED"  # still hers, undecided
