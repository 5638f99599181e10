"""The task list, a task page and a request page at desktop width and at a phone's (390 px): the
pages fit the width (no sideways scrolling of the page itself; a wide table scrolls in its own
box), and the request page shows how long each stage took. Screenshots of each under
var/test/screenshots/ (looked at by people)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

OVERFLOW = "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
# What sticks out on the right: the deepest elements wider than the window (for the message).
WIDE = """(width) => Array.from(document.querySelectorAll("body *"))
  .filter((e) => e.getBoundingClientRect().right > width + 1 && !Array.from(e.children).some(
    (c) => c.getBoundingClientRect().right > width + 1))
  .slice(0, 8).map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def _fits(page, width: int, what: str) -> None:
    assert page.evaluate(OVERFLOW) <= 0, f"{what} scrolls sideways: {page.evaluate(WIDE, width)}"


@pytest.mark.parametrize(("name", "width"), [("desktop", 1280), ("phone", 390)])
def test_task_list_task_page_and_request_page_fit_the_width(
    live_server_url, browser, purchase_policy, submit_request, olivia, name, width, shoot
):
    olivia.first_name = "Olivia"
    olivia.save(update_fields=["first_name"])
    decided = submit_request(title="Conference tickets", amount="1180.00")
    approve = task_of(decided, "approve")
    task_claim(task=approve, user=olivia)
    purchase_task_decide(task=approve, user=olivia, approved=True, comment="Team agrees.")
    task = task_of(submit_request(title="Standing desk for the design team"), "approve")
    task_claim(task=task, user=olivia)

    page = log_in(browser, live_server_url, "olivia")
    page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})

    page.goto("/tasks/inbox/")
    expect(page.locator("#live-rows tbody tr")).to_have_count(1)
    shoot(page, f"width-{name}-01-task-list")
    _fits(page, width, "the task list")

    page.locator("#live-rows tbody tr a", has_text="Standing desk").first.click()
    comment = page.locator("textarea[name=comment]")
    expect(comment).to_be_visible()
    shoot(page, f"width-{name}-02-task-page")
    _fits(page, width, "the task page")
    box = comment.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= width

    page.goto(f"/purchase/{decided.pk}/")
    stages = page.locator(".portal-stages")
    expect(stages).to_contain_text("Time per stage")
    expect(stages.locator("tbody tr")).to_have_count(2)  # team approval (done), finance (waiting)
    expect(stages.locator("tbody tr").nth(1)).to_contain_text("so far")
    shoot(page, f"width-{name}-03-request-page")
    _fits(page, width, "the request page")
