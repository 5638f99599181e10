"""Attachments in the admin: read-only, downloaded through the permission-checked view, and the
storage name never shown."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission

from processes.attachments.checks import uploads_check
from processes.attachments.models import Attachment
from processes.attachments.services import attachments_add
from tests.conftest import page_queries
from tests.processes.attachments.conftest import PDF, upload

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/processes/attachment/"


@pytest.fixture
def quote(submit_request, alice) -> Attachment:
    """alice's request with one PDF attached."""
    process = submit_request()
    (attachment,) = attachments_add(process=process, uploads=uploads_check([upload("quote.pdf")]), user=alice)
    return attachment


def test_the_changelist_shows_the_files_metadata_and_links(admin_client, quote):
    response = admin_client.get(CHANGELIST)

    assert [row.pk for row in response.context["cl"].result_list] == [quote.pk]
    page = response.content.decode()
    for text in ("quote.pdf", f"{len(PDF)}\xa0bytes", "application/pdf", "alice"):
        assert text in page
    assert f'href="/admin/purchase/purchaseprocess/{quote.process_id}/change/"' in page
    assert f'href="/attachments/{quote.pk}/"' in page
    assert quote.storage_name not in page


def test_the_change_page_shows_everything_but_where_the_file_is_stored(admin_client, quote):
    page = admin_client.get(f"{CHANGELIST}{quote.pk}/change/").content.decode()

    assert quote.sha256 in page
    assert f'href="/attachments/{quote.pk}/"' in page
    assert quote.storage_name not in page


def test_the_download_link_serves_the_file_to_the_superuser(admin_client, quote):
    response = admin_client.get(f"/attachments/{quote.pk}/")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


def test_staff_who_may_not_see_the_process_get_a_404_from_the_link(client, quote, django_user_model):
    """The admin lists the row for a staff user with the model's view permission; the file
    stays behind the portal's check."""
    staff = django_user_model.objects.create_user("sam", password="x", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_attachment"))
    client.force_login(staff)

    assert client.get(CHANGELIST).status_code == 200
    assert client.get(f"/attachments/{quote.pk}/").status_code == 404


def test_attachments_cannot_be_added_changed_or_deleted(admin_client, quote):
    model_admin = admin.site._registry[Attachment]

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{quote.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"{CHANGELIST}{quote.pk}/change/", {"original_name": "x.exe"}).status_code == 403
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()
    assert (model_admin.has_add_permission(None), model_admin.has_change_permission(None)) == (False, False)
    assert Attachment.objects.get(pk=quote.pk).original_name == "quote.pdf"


def test_the_changelist_runs_the_same_queries_however_many_files(admin_client, quote, alice):
    attachments_add(
        process=quote.process, uploads=uploads_check([upload("a.pdf"), upload("b.pdf")]), user=alice
    )

    assert (
        len(page_queries(admin_client, CHANGELIST)) == 11
    )  # nothing per row: process and uploader come joined (1 of them: the user's language)
