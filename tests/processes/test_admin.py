"""Every admin page of the portal's models renders for a superuser; the audit trail is read-only."""

from __future__ import annotations

import pytest
from django.contrib import admin

from processes.models import AuditEvent
from tests.conftest import task_of

pytestmark = pytest.mark.django_db

ADMIN_PAGES = [
    "processes/auditevent",
    "processes/incident",
    "orders/orderprocess",
    "orders/orderpolicy",
    "processes/connectorfaults",
    "processes/paymentoperation",
    "processes/product",
    "processes/stockreservation",
    "processes/shippingquote",
    "processes/sentemail",
    "purchase/purchaseprocess",
    "purchase/purchaseorder",
    "processes/processcomment",
    "processes/taskrow",
    "processes/attachment",
    "viewflow/process",
    "viewflow/task",
    "auth/user",
    "auth/group",
]


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_changelists_render(admin_client, submit_request, page):
    submit_request()

    assert admin_client.get(f"/admin/{page}/").status_code == 200


def test_change_pages_render(admin_client, submit_request):
    process = submit_request()
    event = AuditEvent.objects.filter(process=process).first()

    assert admin_client.get(f"/admin/purchase/purchaseprocess/{process.pk}/change/").status_code == 200
    assert (
        admin_client.get(f"/admin/viewflow/task/{task_of(process, 'approve').pk}/change/").status_code == 200
    )
    assert admin_client.get(f"/admin/processes/auditevent/{event.pk}/change/").status_code == 200


def test_the_audit_trail_cannot_be_added_changed_or_deleted_in_the_admin(admin_client, submit_request):
    event = AuditEvent.objects.filter(process=submit_request()).first()
    model_admin = admin.site._registry[AuditEvent]

    assert admin_client.get("/admin/processes/auditevent/add/").status_code == 403
    assert (
        admin_client.post(f"/admin/processes/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert model_admin.has_change_permission(None) is False
    assert AuditEvent.objects.filter(pk=event.pk).exists()
