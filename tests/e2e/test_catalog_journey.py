"""Issue 13's journey on the real stack: a process admin defines "Expense claim" in the admin and
publishes it; alice starts one at once (no restart); olivia approves it from the queue; the
finance stage escalates and maria approves it by email link; the admin publishes v2 with a new
field, and the running claim keeps v1 while the next one uses v2."""

from __future__ import annotations

import email
import re
from email import policy as email_policy

import pytest
from playwright.sync_api import expect
from viewflow.workflow.status import STATUS

from processes.catalog.models import CatalogRequest, ProcessType
from tests.conftest import task_of
from tests.e2e.test_first_request_journey import log_in
from tests.stack import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.django_db(transaction=True)]

RECEIPT = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


def _inline_add(page, prefix: str, values: dict[str, str]) -> None:
    """Add a row to the admin inline `prefix` and fill it (selects by value, the rest by text)."""
    index = int(page.locator(f"#id_{prefix}-TOTAL_FORMS").input_value())
    page.locator(f"#{prefix}-group .add-row a").click()
    for name, value in values.items():
        selector = f"#id_{prefix}-{index}-{name}"
        tag = page.locator(selector).evaluate("element => element.tagName.toLowerCase()")
        if tag == "select":
            page.select_option(selector, label=value)
        elif page.locator(selector).get_attribute("type") == "checkbox":
            page.locator(selector).set_checked(value == "on")
        else:
            page.fill(selector, value)


def _run_action(page, row_text: str, action: str) -> None:
    page.locator("tr", has_text=row_text).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    page.locator("button[title='Run the selected action']").click()


def _new_claim(page, title: str, amount: str, category: str, extra: dict[str, str] | None = None) -> int:
    # Straight to the type's page the menu links to: a click there could race a live update of
    # the page it leaves (the claim that just finished), and the navigation was then lost.
    menu = page.locator(".vf-page__menu").get_by_role("link", name="Expense claim", exact=True)
    page.goto(menu.get_attribute("href"))
    page.get_by_role("link", name="New Expense claim", exact=True).click()
    page.fill("#id_title_control", title)
    page.fill("#id_amount_control", amount)
    # viewflow's Material select: open its menu, pick the option.
    page.locator("vf-field-select[name=category] .mdc-select__anchor").click()
    page.get_by_role("option", name=category, exact=True).click()
    for selector, value in (extra or {}).items():
        page.fill(selector, value)
    page.set_input_files(
        "input[type=file]", files=[{"name": "receipt.pdf", "mimeType": "application/pdf", "buffer": RECEIPT}]
    )
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url(re.compile(r"/catalog/\d+/$"))
    return int(re.search(r"/catalog/(\d+)/$", page.url).group(1))


def test_an_admin_defines_expense_claim_and_it_runs_end_to_end(
    live_server_url, beat_process, smtp_sink, browser, roles, alice, olivia, frank, maria, shoot
):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser("admin", "admin@example.com", "portal-demo", first_name="Admin")

    # 1. The process admin defines the type, its form and its chain, then publishes it.
    admin = log_in(browser, live_server_url, "admin")
    admin.goto("/admin/catalog/processtype/add/")
    admin.fill("#id_name", "Expense claim")
    admin.locator("#id_name").press("Tab")  # the admin fills the address from the name
    expect(admin.locator("#id_slug")).to_have_value("expense-claim")
    admin.fill("#id_icon", "receipt_long")
    admin.select_option("#id_starter_groups_from", label="requesters")
    admin.locator("#id_starter_groups_add").click()
    admin.get_by_role("button", name="Save", exact=True).click()
    expect(admin.locator(".messagelist")).to_contain_text("was added successfully")
    process_type = ProcessType.objects.get(slug="expense-claim")
    version = process_type.policy.versions.get()
    admin.goto(f"/admin/catalog/typeversion/{version.pk}/change/")
    _inline_add(
        admin, "form_fields", {"order": "1", "name": "title", "label": "What for", "kind": "Short text"}
    )
    _inline_add(
        admin,
        "form_fields",
        {
            "order": "2",
            "name": "amount",
            "label": "Amount",
            "kind": "Money",
            "currency": "EUR",
            "min_value": "0.01",
        },
    )
    _inline_add(
        admin,
        "form_fields",
        {
            "order": "3",
            "name": "category",
            "label": "Category",
            "kind": "Choice (one)",
            "choices": "Travel\nMeals\nEquipment",
        },
    )
    _inline_add(
        admin,
        "form_fields",
        {"order": "4", "name": "receipt", "label": "Receipt", "kind": "File", "required": "off"},
    )
    admin.get_by_role("button", name="Save and continue editing").click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")
    _inline_add(admin, "stages", {"order": "1", "name": "Approval", "group": "approvers", "sla": "4:00:00"})
    _inline_add(
        admin,
        "stages",
        {
            "order": "2",
            "name": "Finance",
            "group": "finance",
            "condition": "amount > 500",
            "sla": "0:00:02",
            "escalation_group": "managers",
            "escalation_user": "maria",
        },
    )
    admin.get_by_role("button", name="Save and continue editing").click()
    expect(admin.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(admin.locator("body")).to_contain_text("Ready to publish.")
    # The finance stage's escalation level is on the stage's own page.
    finance = version.stages.get(order=2)
    admin.goto(f"/admin/processes/policystage/{finance.pk}/change/")
    expect(admin.locator("body")).to_contain_text("amount > 500")
    _inline_add(
        admin,
        "levels",
        {"order": "1", "after": "0", "action": "Email the escalation target with action links"},
    )
    admin.get_by_role("button", name="Save", exact=True).click()
    shoot(admin, "catalog-01-admin-draft")
    admin.goto("/admin/catalog/typeversion/")
    _run_action(admin, "Expense claim v1", "publish")
    expect(admin.locator(".messagelist")).to_contain_text("is published")
    shoot(admin, "catalog-02-admin-published")

    # 2. alice starts one at once: the type is in her menu, with its start form.
    page = log_in(browser, live_server_url, "alice")
    expect(page.locator(".vf-page__menu")).to_contain_text("Expense claim")
    page.locator(".vf-page__menu").get_by_role("link", name="Expense claim", exact=True).click()
    page.get_by_role("link", name="New Expense claim", exact=True).click()
    page.get_by_role("button", name="Submit").click()  # empty: the server's messages, per field
    expect(page.locator("body")).to_contain_text("This field is required.")
    # Each error is tied to its input (static/portal/fields.js), as a screen reader needs.
    title = page.locator("#id_title_control")
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{title.get_attribute('aria-describedby')}")).to_have_text(
        "This field is required."
    )
    expect(title).to_have_accessible_name(re.compile(r"^What for"))
    shoot(page, "catalog-03-alice-form-errors")
    claim_id = _new_claim(page, "Laptop for the new hire", "1200.00", "Equipment")
    expect(page.locator(".portal-process-data")).to_contain_text("1200.00 EUR")
    expect(page.locator("body")).to_contain_text("receipt.pdf")
    shoot(page, "catalog-04-alice-request")
    claim = CatalogRequest.objects.get(pk=claim_id)
    assert claim.version == version
    assert [s.name for s in claim.chain()] == ["Approval", "Finance"]

    # 3. olivia approves it from the queue.
    reviewer = log_in(browser, live_server_url, "olivia")
    reviewer.goto("/tasks/queue/")
    row = reviewer.locator("tr", has_text="Laptop for the new hire")
    expect(row).to_contain_text("Expense claim")
    shoot(reviewer, "catalog-05-olivia-queue")
    row.get_by_role("link", name="Laptop for the new hire").click()
    reviewer.get_by_role("button", name="Assign and continue").click()
    expect(reviewer).to_have_url(re.compile(r"/approve/\d+/execute/"))
    reviewer.get_by_label("Approve", exact=True).check()
    reviewer.get_by_role("button", name="Execute", exact=True).click()
    expect(reviewer).not_to_have_url(re.compile(r"/execute/"))

    # 4. The finance stage escalates after its 2 seconds: maria approves from the email's link.
    raw = smtp_sink.wait_for_message(lambda m: b"Laptop for the new hire" in m and b"maria@" in m, timeout=60)
    text = email.message_from_bytes(raw, policy=email_policy.default).get_body(("plain",)).get_content()
    approve_path = re.findall(r"/links/[A-Za-z0-9_-]{43}/", text)[0]
    link_page = browser.new_context(base_url=live_server_url).new_page()
    link_page.goto(approve_path)
    expect(link_page.get_by_role("heading")).to_have_text("Approve this expense claim?")
    shoot(link_page, "catalog-06-maria-link")
    link_page.get_by_role("button", name="Confirm approval").click()
    expect(link_page.get_by_role("heading")).to_have_text("You approved the request")

    def finished() -> bool:
        claim.refresh_from_db()
        return claim.status == STATUS.DONE

    wait_for(finished, timeout=30, what="the claim to finish")
    assert claim.approved is True

    # 5. v2 adds a field: the running claim keeps v1, the next one pins v2.
    running_id = _new_claim(page, "Taxi to the airport", "45.00", "Travel")
    admin.goto("/admin/catalog/typeversion/")
    _run_action(admin, "Expense claim v1", "copy_to_draft")
    expect(admin.locator(".messagelist")).to_contain_text("v2 is a new draft")
    admin.get_by_role("link", name=re.compile(r"Expense claim v2")).click()
    _inline_add(
        admin, "form_fields", {"order": "5", "name": "project", "label": "Project code", "kind": "Short text"}
    )
    admin.get_by_role("button", name="Save", exact=True).click()
    _run_action(admin, "Expense claim v2", "publish")
    expect(admin.locator(".messagelist")).to_contain_text("is published")

    running = CatalogRequest.objects.get(pk=running_id)
    assert running.version == version
    page.goto(f"/catalog/{running_id}/")
    expect(page.locator(".portal-process-data")).to_contain_text("Expense claim (v1)")
    expect(page.locator(".portal-process-data")).not_to_contain_text("Project code")
    following_id = _new_claim(page, "Hotel in Lyon", "180.00", "Travel", {"#id_project_control": "PRJ-7"})
    following = CatalogRequest.objects.get(pk=following_id)
    assert following.version.number == 2
    assert following.values["project"] == "PRJ-7"
    expect(page.locator(".portal-process-data")).to_contain_text("Project code")
    shoot(page, "catalog-07-alice-v2-request")
    assert task_of(running, "approve").status == STATUS.NEW  # still in olivia's queue, on v1
