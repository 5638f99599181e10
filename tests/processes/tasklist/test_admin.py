"""The task list's rows in the admin: read-only, filtered like the lists, linked to the portal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import get_resolver
from django.utils import timezone
from viewflow.workflow.fields import get_flow_ref

from processes.orders.flows import OrderFlow
from processes.purchase.flows import PurchaseFlow
from processes.purchase.services import purchase_task_decide
from processes.services import task_claim
from processes.tasklist.models import TaskRow
from tests.conftest import page_queries, task_of

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/processes/taskrow/"


@pytest.fixture(autouse=True)
def _urls():
    assert get_resolver().url_patterns  # viewflow reverses only once the URLconf is loaded


@pytest.fixture
def tasks(purchase_policy, submit_request, olivia):
    """Three approval tasks: 'Desk' held by olivia and overdue, 'Chair' queued and overdue,
    'Lamp' queued and not yet due."""
    desk, chair, lamp = (
        task_of(submit_request(title=title), "approve") for title in ("Desk", "Chair", "Lamp")
    )
    task_claim(task=desk, user=olivia)
    past = timezone.now() - timedelta(minutes=5)
    TaskRow.objects.filter(pk__in=[desk.pk, chair.pk]).update(due_at=past)
    TaskRow.objects.filter(pk=lamp.pk).update(due_at=timezone.now() + timedelta(hours=1))
    return desk, chair, lamp


def _listed(admin_client, **query) -> list[int]:
    response = admin_client.get(CHANGELIST, query)
    assert response.status_code == 200
    return sorted(row.task_id for row in response.context["cl"].result_list)


def test_the_changelist_links_each_row_to_its_task_page_and_its_process(admin_client, tasks):
    desk, _chair, _lamp = tasks

    page = admin_client.get(CHANGELIST).content.decode()

    assert f'href="/purchase/{desk.process_id}/approve/{desk.pk}/"' in page
    assert f'href="/admin/purchase/purchaseprocess/{desk.process_id}/change/"' in page
    assert "Desk" in page
    assert "Team approval" in page


def test_rows_filter_by_status_process_type_stage_and_overdue(admin_client, tasks):
    desk, chair, lamp = tasks
    everything = sorted(task.pk for task in tasks)

    assert _listed(admin_client, status="ASSIGNED") == [desk.pk]
    assert _listed(admin_client, status="NEW") == sorted([chair.pk, lamp.pk])
    assert _listed(admin_client, flow=get_flow_ref(PurchaseFlow)) == everything
    assert _listed(admin_client, flow=get_flow_ref(OrderFlow)) == []
    assert _listed(admin_client, stage="Team approval") == everything
    assert _listed(admin_client, stage="Finance review") == []
    assert _listed(admin_client, overdue="yes") == sorted([desk.pk, chair.pk])
    assert _listed(admin_client, overdue="no") == [lamp.pk]


def test_a_finished_task_is_not_overdue(admin_client, tasks, olivia):
    desk, chair, _lamp = tasks
    purchase_task_decide(task=desk, user=olivia, approved=True)

    assert _listed(admin_client, overdue="yes") == [chair.pk]


def test_rows_are_found_by_subject_owner_and_task_id(admin_client, tasks):
    desk, chair, _lamp = tasks

    assert _listed(admin_client, q="chair") == [chair.pk]
    assert _listed(admin_client, q="olivia") == [desk.pk]
    # A number is a task id or a process id: both columns are searched for it.
    assert _listed(admin_client, q=str(desk.pk)) == sorted(
        task.pk for task in tasks if desk.pk in (task.pk, task.process_id)
    )


def test_rows_cannot_be_added_changed_or_deleted(admin_client, tasks):
    desk, _chair, _lamp = tasks
    model_admin = admin.site._registry[TaskRow]
    change = f"{CHANGELIST}{desk.pk}/change/"

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{desk.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(change, {"subject": "Edited", "status": "DONE"}).status_code == 403
    view = admin_client.get(change)
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    assert "delete_selected" not in admin_client.get(CHANGELIST).content.decode()
    assert (model_admin.has_add_permission(None), model_admin.has_delete_permission(None)) == (False, False)
    assert TaskRow.objects.get(pk=desk.pk).subject == "Desk"
    assert TaskRow.objects.get(pk=desk.pk).status == "ASSIGNED"


def test_the_changelist_runs_the_same_queries_however_many_rows(admin_client, tasks):
    """User, their language, a page of rows with their holders, and the stage filter's names:
    no count of the whole table and nothing per row."""
    assert len(page_queries(admin_client, CHANGELIST)) == 8
