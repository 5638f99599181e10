"""The catalog in the portal: a published type is in its starters' menu and task-list buttons at
the next page (no restart); its start page validates on the server against the published version;
its tasks show and filter by the type's own name; nobody else reaches its pages."""

from __future__ import annotations

import re

import pytest

from processes.catalog.models import CatalogRequest
from processes.policies.models import PolicyVersion

pytestmark = pytest.mark.django_db


def _menu(client) -> list[str]:
    html = client.get("/tasks/inbox/").content.decode()
    return re.findall(r'vf-page__menu-list-item" href="([^"]+)"', html)


def test_a_published_type_is_in_its_starters_menu_at_once(client, roles, alice, olivia, maria):
    client.force_login(alice)
    assert "/catalog/types/expense-claim/" not in _menu(client)
    from tests.processes.catalog.conftest import expense_type_define

    expense_type_define(maria)  # published while the server runs
    assert "/catalog/types/expense-claim/" in _menu(client)
    assert (
        "/catalog/types/expense-claim/new/" in client.get("/tasks/inbox/").content.decode()
    )  # New ... button
    client.force_login(olivia)  # not a starter: no entry
    assert "/catalog/types/expense-claim/" not in _menu(client)
    PolicyVersion.objects.filter(policy__process_type__slug="expense-claim").update(status="retired")
    client.force_login(alice)
    assert "/catalog/types/expense-claim/" not in _menu(client)


def test_the_start_page_validates_and_starts_a_request_pinned_to_the_published_version(
    client, expense_type, alice
):
    client.force_login(alice)
    page = client.get("/catalog/types/expense-claim/new/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Amount (EUR)" in html
    assert "Travel" in html
    invalid = client.post(
        "/catalog/types/expense-claim/new/", {"title": "x", "amount": "-3", "category": "Fax"}
    )
    assert invalid.status_code == 200
    assert invalid.context["form"].errors == {
        "amount": ["Ensure this value is greater than or equal to 0.01."],
        "category": ["Select a valid choice. Fax is not one of the available choices."],
    }
    assert not CatalogRequest.objects.exists()
    response = client.post(
        "/catalog/types/expense-claim/new/", {"title": "Taxi", "amount": "42", "category": "Travel"}
    )
    request = CatalogRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/catalog/{request.pk}/"
    assert request.version == expense_type.policy.versions.get()
    page = client.get(response["Location"]).content.decode()
    assert "Expense claim (v1)" in page
    assert "42.00 EUR" in page


def test_people_who_may_not_start_a_type_do_not_reach_its_pages(client, expense_type, olivia, ava):
    expense_type.starter_groups.clear()
    for user in (olivia, ava):
        client.force_login(user)
        for url in ("/catalog/types/expense-claim/", "/catalog/types/expense-claim/new/"):
            assert client.get(url).status_code in (403, 404), (user, url)
        assert client.post("/catalog/types/expense-claim/new/", {"title": "x"}).status_code in (403, 404)
    assert not CatalogRequest.objects.exists()


def test_an_unknown_or_unpublished_type_is_a_404(client, expense_type, alice):
    client.force_login(alice)
    assert client.get("/catalog/types/no-such-type/").status_code == 404
    PolicyVersion.objects.filter(policy=expense_type.policy).update(status="retired")
    assert client.get("/catalog/types/expense-claim/new/").status_code == 404


def test_the_task_list_shows_and_filters_a_type_by_its_own_name(client, expense_type, alice, olivia):
    from processes.catalog.services import catalog_request_start

    catalog_request_start(process_type=expense_type, requester=alice, values={"title": "Taxi", "amount": 5})
    client.force_login(olivia)
    queue = client.get("/tasks/queue/").content.decode()
    assert "Expense claim: Taxi" in queue
    assert "<small>Expense claim</small>" in queue
    assert 'value="catalog/flows.CatalogFlow#Expense claim"' in queue
    filtered = client.get(
        "/tasks/queue/", {"flow": "catalog/flows.CatalogFlow#Expense claim"}
    ).content.decode()
    assert "Expense claim: Taxi" in filtered
    other = client.get("/tasks/queue/", {"flow": "purchase/flows.PurchaseFlow"}).content.decode()
    assert "Expense claim: Taxi" not in other


def test_the_task_list_search_finds_a_request_by_its_own_fields(client, expense_type, alice, olivia):
    from processes.catalog.services import catalog_request_start

    catalog_request_start(
        process_type=expense_type, requester=alice, values={"title": "Cab", "amount": 5, "category": "Travel"}
    )
    catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Screen", "amount": 5, "category": "Equipment"},
    )
    client.force_login(olivia)
    found = client.get("/tasks/queue/", {"q": "equipment"}).content.decode()
    assert "Expense claim: Screen" in found
    assert "Expense claim: Cab" not in found


def test_a_request_s_pages_are_titled_by_its_type(client, expense_type, alice, olivia):
    from processes.catalog.services import catalog_request_start
    from tests.conftest import task_of

    process = catalog_request_start(
        process_type=expense_type, requester=alice, values={"title": "Taxi", "amount": 5}
    )
    task = task_of(process, "approve")
    client.force_login(olivia)
    for url in (
        f"/catalog/{process.pk}/",
        f"/catalog/{process.pk}/approve/{task.pk}/detail/",
        f"/catalog/{process.pk}/approve/{task.pk}/assign/",
    ):
        page = client.get(url).content.decode()
        assert "Catalog request" not in page, url
        assert page.count("Expense claim") >= 2, url  # the page's title and its breadcrumb


def test_filtered_to_a_type_the_task_list_filters_on_its_own_choices(client, expense_type, alice, olivia):
    from processes.catalog.services import catalog_request_start

    for title, category in (("Cab", "Travel"), ("Screen", "Equipment"), ("Lunch", "Meals")):
        catalog_request_start(
            process_type=expense_type,
            requester=alice,
            values={"title": title, "amount": 5, "category": category},
        )
    client.force_login(olivia)
    unfiltered = client.get("/tasks/queue/").content.decode()
    assert 'name="field_category"' not in unfiltered  # only once the list is filtered to the type
    flow = "catalog/flows.CatalogFlow#Expense claim"
    page = client.get("/tasks/queue/", {"flow": flow}).content.decode()
    assert 'name="field_category"' in page
    assert '<option value="Equipment">' in page
    found = client.get("/tasks/queue/", {"flow": flow, "field_category": "Equipment"}).content.decode()
    assert "Expense claim: Screen" in found
    assert "Expense claim: Cab" not in found
    assert "Expense claim: Lunch" not in found
    bogus = client.get("/tasks/queue/", {"flow": flow, "field_category": "Fax"})
    assert bogus.status_code == 200
    assert "Select a valid choice" in bogus.content.decode()
