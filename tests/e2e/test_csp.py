"""The Content-Security-Policy in a real browser: the pages people use raise no violation (no
inline script anywhere), the websocket still connects, and an injected inline script is refused."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import task_of

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

# Registered before any page script runs, on every document the page loads.
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


def _open(browser, base_url: str, username: str):
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 860})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(LISTEN)
    page.goto("/accounts/login/")
    assert page.evaluate("window.__cspViolations") == []
    page.fill("#id_username_control", username)
    page.fill("#id_password_control", "portal-demo")
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))  # logged in before going on
    page.wait_for_load_state("networkidle")
    return page, console


def _visit(page, path: str, *, live: bool = True) -> None:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    if live:
        expect(page.locator("html")).to_have_attribute("data-live", "on")  # the websocket is open
    assert page.evaluate("window.__cspViolations") == [], path


def test_pages_raise_no_csp_violation_and_the_websocket_connects(
    live_server_url, browser, purchase_policy, submit_request, alice, olivia, maria, shoot
):
    task = task_of(submit_request(title="Standing desk"), "approve")
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("root", "root@example.com", "portal-demo")

    page, console = _open(browser, live_server_url, "olivia")
    for path in ("/tasks/inbox/", "/tasks/queue/", "/notifications/", f"/purchase/{task.process_id}/"):
        _visit(page, path)
    page.goto("/tasks/queue/")
    page.locator("tbody tr a", has_text="Standing desk").first.click()  # the task's own page
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__cspViolations") == []
    page.get_by_role("button", name="Assign and continue").click()  # then the approval form
    expect(page).to_have_url(re.compile(r"/approve/\d+/execute/"))
    expect(page.get_by_label("Approve", exact=True)).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__cspViolations") == []
    shoot(page, "csp-01-olivia-task-form")
    # An inline script injected into the page is refused, and that is seen: the check works.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1'; document.head.append(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ran") is None
    assert page.evaluate("window.__cspViolations")
    assert not [line for line in console[:-1] if "Content Security Policy" in line]

    page, console = _open(browser, live_server_url, "maria")
    _visit(page, "/tasks/team/")
    _visit(page, f"/tasks/{task.pk}/reassign/?next=/tasks/team/")
    page, console = _open(browser, live_server_url, "alice")
    _visit(page, "/purchase/")
    page, console = _open(browser, live_server_url, "root")
    for path in ("/admin/", "/admin/processes/auditevent/", "/admin/auth/user/"):
        _visit(page, path, live=False)
    shoot(page, "csp-02-admin")
    assert not [line for line in console if "Content Security Policy" in line]


def test_the_api_docs_render_offline_without_a_csp_violation(live_server_url, browser, alice):
    """Swagger UI at /api/docs: its script, styles and the schema come from this site only."""
    context = browser.new_context(base_url=live_server_url, viewport={"width": 1280, "height": 860})
    outside: list[str] = []
    context.route(
        re.compile(r"^(?!" + re.escape(live_server_url) + ").*"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    page = context.new_page()
    page.add_init_script(LISTEN)
    page.goto("/accounts/login/")
    page.fill("#id_username_control", "alice")
    page.fill("#id_password_control", "portal-demo")
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))

    page.goto("/api/docs")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/processes").first).to_be_visible()
    page.wait_for_load_state("networkidle")

    assert page.evaluate("window.__cspViolations") == []
    assert outside == []
