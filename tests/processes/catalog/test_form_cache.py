"""A published version's form fields, kept by the process once read (issue 16): a caller holding
the version's row gets them without a query, its own copies; a draft, an id alone or a row that
is not the one kept (a database flushed under a running process) is read; a write forgets.
And the start page's and the start's reads of a type: one query each."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test.utils import CaptureQueriesContext
from viewflow.workflow.models import Process

from processes.catalog import selectors
from processes.catalog.descriptor import CatalogDescriptor
from processes.catalog.models import CatalogRequest, FormField
from processes.catalog.services import catalog_request_start, process_type_create
from processes.policies.models import PolicyVersion

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forgotten():
    selectors.version_fields_forget()
    yield
    selectors.version_fields_forget()


def _published(expense_type) -> PolicyVersion:
    return PolicyVersion.objects.get(policy=expense_type.policy, status=PolicyVersion.Status.PUBLISHED)


def _names(fields) -> list[str]:
    return [field.name for field in fields]


def test_a_published_versions_fields_are_read_once_and_handed_out_as_copies(expense_type):
    version = _published(expense_type)
    with CaptureQueriesContext(connection) as first:
        fields = selectors.version_fields(version)
    assert len(first) == 1
    fields[0].label = "Changed by one caller"
    with CaptureQueriesContext(connection) as again:
        kept = selectors.version_fields(_published(expense_type))
    assert len(again) == 1  # the version's own row, read by the test; no fields
    assert _names(kept) == ["title", "amount", "category", "receipt"]
    assert kept[0].label == "What for"
    assert kept[0] is not fields[0]


def test_an_id_alone_a_draft_or_another_row_with_the_kept_id_is_read(expense_type, maria):
    version = _published(expense_type)
    selectors.version_fields(version)
    with CaptureQueriesContext(connection) as by_id:
        selectors.version_fields(version.pk)
    assert len(by_id) == 1
    version.created_at -= timedelta(seconds=1)  # as a flushed database's new row with the same id
    with CaptureQueriesContext(connection) as other_row:
        selectors.version_fields(version)
    assert len(other_row) == 1
    draft = process_type_create(name="Leave", slug="leave").policy.versions.get()
    selectors.version_fields(draft)
    with CaptureQueriesContext(connection) as drafts:
        selectors.version_fields(draft)
    assert len(drafts) == 1


def test_a_write_to_a_form_field_forgets_what_was_kept(expense_type):
    version = _published(expense_type)
    selectors.version_fields(version)
    field = FormField.objects.get(version=version, name="title")
    field.label = "Purpose"
    field.save()  # not through the admin, which allows no change to a published version
    assert selectors.version_fields(version)[0].label == "Purpose"


def test_a_loaded_requests_chain_checks_its_version_and_so_needs_no_field_query(expense_type, alice):
    process = catalog_request_start(
        process_type=expense_type,
        requester=alice,
        values={"title": "Laptop", "amount": Decimal("1200"), "category": "Equipment"},
    )
    loaded = CatalogRequest.objects.get(pk=process.pk)
    with CaptureQueriesContext(connection) as captured:
        assert [stage.name for stage in loaded.chain()] == ["Approval", "Finance"]
        keywords = selectors.request_keywords(loaded)
    assert len(captured) == 1, [query["sql"] for query in captured]  # the chain's groups and version
    assert keywords == "Laptop Equipment"


def test_the_requester_starts_a_request_and_is_read_from_its_own_row(expense_type, alice):
    process = catalog_request_start(
        process_type=expense_type, requester=alice, values={"title": "Taxi", "amount": Decimal("9")}
    )
    descriptor = CatalogDescriptor()
    with CaptureQueriesContext(connection) as captured:
        assert descriptor.starter_id(CatalogRequest.objects.get(pk=process.pk)) == alice.pk
    assert len(captured) == 1  # the test's own read
    assert descriptor.starter_id(Process.objects.get(pk=process.pk)) == alice.pk


def test_the_start_page_and_the_start_read_a_type_in_one_query_each(expense_type, alice, olivia, maria):
    version = _published(expense_type)
    maria.is_superuser = True
    for user, may in ((alice, True), (maria, True), (olivia, False), (AnonymousUser(), False)):
        with CaptureQueriesContext(connection) as page:
            found = selectors.type_start_version(expense_type.slug, user)
        assert len(page) == (1 if user.is_authenticated else 0)  # nobody's types: nothing to ask
        assert (found == version, found is not None and found.policy.process_type == expense_type) == (
            may,
            may,
        )
        if user.is_authenticated:
            with CaptureQueriesContext(connection) as start:
                locked, pinned = selectors.type_locked_for_start(expense_type.pk, user)
            assert len(start) == 1
            assert (locked, pinned) == (expense_type, version.pk if may else None)
    assert selectors.type_start_version("no-such-type", alice) is None
    version.status = PolicyVersion.Status.RETIRED
    version.save(update_fields=["status"])
    assert selectors.type_start_version(expense_type.slug, alice) is None
    assert selectors.type_locked_for_start(expense_type.pk, alice)[1] is None
