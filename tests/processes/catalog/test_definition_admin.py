"""Definitions in the admin: the types' list imports one (its problems shown by path, nothing
written then), and each version downloads as JSON; both need their permissions."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from processes.catalog.definitions import definition_dumps, definition_export
from processes.catalog.models import ProcessType
from processes.policies.models import PolicyVersion
from tests.processes.catalog.test_definitions import definition

pytestmark = pytest.mark.django_db

IMPORT = "/admin/catalog/processtype/import/"


def _export_url(version) -> str:
    return f"/admin/catalog/typeversion/{version.pk}/export/json/"


def _upload(doc, name="travel.json") -> dict:
    return {"file": SimpleUploadedFile(name, json.dumps(doc).encode(), content_type="application/json")}


def _staff(client, *codenames):
    user = get_user_model().objects.create_user("ed", password="portal-demo", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def test_the_types_list_links_to_the_import(admin_client):
    page = admin_client.get("/admin/catalog/processtype/").content.decode()

    assert f'href="{IMPORT}"' in page
    assert "Import a definition" in page


def test_an_import_creates_a_draft_and_opens_it(admin_client, people):
    response = admin_client.post(IMPORT, _upload(definition()), follow=True)

    version = ProcessType.objects.get().policy.versions.get()
    assert response.redirect_chain == [(f"/admin/catalog/typeversion/{version.pk}/change/", 302)]
    assert version.status == "draft"
    assert "Imported Travel request v1 as a draft" in response.content.decode()


def test_an_import_with_problems_shows_them_by_path_and_writes_nothing(admin_client, people):
    doc = definition()
    doc["form"][2]["kind"] = "colour"
    doc["chain"][1]["condition"] = "price > 5"

    response = admin_client.post(IMPORT, _upload(doc))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was imported: the definition has 2 problems." in page
    assert "<code>form[2].kind</code>" in page
    assert "<code>chain[1].condition</code>" in page
    assert "Unknown kind &quot;colour&quot;" in page
    assert not ProcessType.objects.exists()
    assert not PolicyVersion.objects.filter(policy__managed_by="catalog").exists()


def test_a_file_that_is_not_json_is_a_problem_of_the_document(admin_client):
    response = admin_client.post(IMPORT, {"file": SimpleUploadedFile("x.json", b"{oops")})

    assert "<code>(document)</code>" in response.content.decode()


def test_the_export_downloads_the_definition(admin_client, expense_type):
    version = expense_type.policy.versions.get()
    change = admin_client.get(f"/admin/catalog/typeversion/{version.pk}/change/").content.decode()
    assert f'<a href="{_export_url(version)}">Export JSON</a>' in change

    response = admin_client.get(_export_url(version))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="expense-claim-v1.json"'
    assert response.content.decode() == definition_dumps(definition_export(version))


def test_a_policy_version_is_no_type_version(admin_client, purchase_policy):
    assert admin_client.get(_export_url(purchase_policy)).status_code == 404


def test_non_staff_are_sent_to_the_admin_login(client, alice, expense_type):
    client.force_login(alice)

    for url in (IMPORT, _export_url(expense_type.policy.versions.get())):
        response = client.get(url)
        assert (response.status_code, response["Location"].split("?")[0]) == (302, "/admin/login/")
    assert client.post(IMPORT, _upload(definition())).status_code == 302
    assert not ProcessType.objects.exclude(pk=expense_type.pk).exists()


def test_staff_without_the_permissions_are_refused(client, expense_type, people):
    _staff(client, "view_processtype")  # may see types, not add them nor read versions

    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, _upload(definition())).status_code == 403
    assert client.get(_export_url(expense_type.policy.versions.get())).status_code == 403
    assert ProcessType.objects.count() == 1


def test_the_export_needs_the_view_permission_on_types(client, expense_type):
    _staff(client, "view_typeversion")

    assert client.get(_export_url(expense_type.policy.versions.get())).status_code == 403


def test_staff_with_the_permissions_may_import_and_export(client, expense_type, people):
    _staff(client, "add_processtype", "view_processtype", "view_typeversion")

    assert client.get(_export_url(expense_type.policy.versions.get())).status_code == 200
    assert client.post(IMPORT, _upload(definition())).status_code == 302
    assert ProcessType.objects.filter(slug="travel-request").exists()


def test_an_existing_type_needs_the_change_permission(client, expense_type, people):
    _staff(client, "add_processtype")
    doc = definition_export(expense_type.policy.versions.get())

    response = client.post(IMPORT, _upload(doc))

    assert "<code>type.slug</code>" in response.content.decode()
    assert expense_type.policy.versions.count() == 1


def test_groups_are_created_only_by_those_who_may_add_groups(client, people):
    _staff(client, "add_processtype")
    doc = definition()
    doc["type"]["starter_groups"] = ["travellers"]

    page = client.post(IMPORT, _upload(doc)).content.decode()

    assert "<code>type.starter_groups[0]</code>" in page
    assert "create it first" in page
    assert not ProcessType.objects.exists()


def test_a_version_downloads_as_bpmn(admin_client, expense_type):
    from processes.catalog.bpmn import version_bpmn
    from processes.catalog.models import TypeVersion

    version = TypeVersion.objects.get(policy=expense_type.policy)
    response = admin_client.get(f"/admin/catalog/typeversion/{version.pk}/export/bpmn/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == 'attachment; filename="expense-claim-v1.bpmn"'
    assert response.content == version_bpmn(version)
