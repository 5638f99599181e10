"""Incidents: a failed automated step is retried or skipped by a process manager, and audited."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import get_resolver
from viewflow.workflow.models import Task
from viewflow.workflow.status import PROCESS, STATUS

from processes.exceptions import IncidentError
from processes.models import AuditEvent
from processes.nodes import celery_job
from processes.nodes.celery_job import job_execute
from processes.purchase import services as purchase_services
from processes.purchase.models import PurchaseOrder
from processes.purchase.services import purchase_task_decide
from processes.selectors import incidents_for_user
from processes.services import incident_retry, incident_skip, task_claim
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _ref(task) -> str:
    return task.flow_task.activation_class(task).ref()


@pytest.fixture
def incident(submit_request, olivia):
    """An approved request whose order step failed for good (a non-retryable error)."""
    process = submit_request(amount="129.00")
    approve = task_of(process, "approve")
    task_claim(task=approve, user=olivia)
    with mock.patch.object(celery_job, "job_send", return_value=True):
        purchase_task_decide(task=approve, user=olivia, approved=True)
        job = task_of(process, "create_order")
        with mock.patch.object(
            purchase_services, "purchase_order_create", side_effect=ValueError("ERP said no")
        ):
            assert job_execute(_ref(job)) == "failed"
    job.refresh_from_db()
    return job


def test_incidents_are_listed_for_process_managers_only(incident, maria, olivia, alice):
    assert list(incidents_for_user(maria)) == [incident]
    assert list(incidents_for_user(olivia)) == []
    assert list(incidents_for_user(alice)) == []


def test_retry_runs_the_step_again_with_the_same_idempotency_key(incident, maria):
    with mock.patch.object(celery_job, "job_send", return_value=True):
        new_task = incident_retry(task=incident, user=maria, reason="ERP is back.")

    incident.refresh_from_db()
    assert incident.status == STATUS.REVIVED
    assert new_task.status == STATUS.SCHEDULED
    assert new_task.data["idempotency_key"] == incident.data["idempotency_key"]
    assert new_task.external_task_id != incident.external_task_id
    assert job_execute(_ref(new_task)) == "done"
    assert PurchaseOrder.objects.filter(process=incident.process).count() == 1
    assert AuditEvent.objects.filter(task=incident, action="incident.retried", actor=maria).exists()


def test_skip_needs_a_reason_and_moves_the_process_on(incident, maria):
    with pytest.raises(IncidentError, match="Say why"):
        incident_skip(task=incident, user=maria, reason="   ")

    incident_skip(task=incident, user=maria, reason="Order placed by phone.")

    incident.refresh_from_db()
    assert incident.status == STATUS.DONE
    assert incident.data["skipped"] == {"by": "maria", "reason": "Order placed by phone."}
    incident.process.refresh_from_db()
    assert incident.process.status == PROCESS.DONE
    event = AuditEvent.objects.get(task=incident, action="incident.skipped")
    assert event.details == {
        "reason": "Order placed by phone.",
        "before": {"status": "ERROR"},
        "after": {"status": "DONE"},
    }
    assert event.actor == maria


def test_only_managers_may_retry_or_skip(incident, olivia):
    with pytest.raises(PermissionDenied):
        incident_retry(task=incident, user=olivia, reason="no")
    with pytest.raises(PermissionDenied):
        incident_skip(task=incident, user=olivia, reason="no")


def test_a_step_that_is_not_failed_is_no_incident(submit_request, maria):
    approve = task_of(submit_request(), "approve")

    with pytest.raises(IncidentError):
        incident_retry(task=approve, user=maria, reason="why not")


class TestIncidentPage:
    @pytest.fixture(autouse=True)
    def _urls(self):
        assert get_resolver().url_patterns

    def test_managers_see_the_error_and_can_retry(self, client, incident, maria):
        client.force_login(maria)

        page = client.get("/operations/incidents/")
        assert page.status_code == 200
        body = page.content.decode()
        assert "ERP said no" in body
        assert "Create purchase order" in body

        with mock.patch.object(celery_job, "job_send", return_value=True):
            response = client.post(f"/operations/incidents/{incident.pk}/retry/", {"reason": "ERP is back."})
        assert response.status_code == 302
        assert Task.objects.filter(
            process=incident.process, flow_task_type="JOB", status=STATUS.SCHEDULED
        ).exists()

    def test_skip_without_a_reason_changes_nothing(self, client, incident, maria):
        client.force_login(maria)

        response = client.post(f"/operations/incidents/{incident.pk}/skip/", {"reason": ""})

        assert response.status_code == 302
        incident.refresh_from_db()
        assert incident.status == STATUS.ERROR

    def test_operators_cannot_see_or_resolve_incidents(self, client, incident, olivia):
        client.force_login(olivia)

        assert client.get("/operations/incidents/").status_code == 403
        assert client.post(f"/operations/incidents/{incident.pk}/retry/").status_code == 403
        incident.refresh_from_db()
        assert incident.status == STATUS.ERROR


class TestIncidentAdmin:
    def test_lists_failed_steps_with_their_error_and_traceback(self, admin_client, incident):
        listing = admin_client.get("/admin/processes/incident/")
        assert listing.status_code == 200
        assert "ERP said no" in listing.content.decode()

        detail = admin_client.get(f"/admin/processes/incident/{incident.pk}/change/")
        assert detail.status_code == 200
        assert "Traceback (most recent call last)" in detail.content.decode()

    def test_skip_asks_for_a_reason_then_skips(self, admin_client, incident):
        selected = {"action": "skip", "_selected_action": [incident.pk]}

        ask = admin_client.post("/admin/processes/incident/", selected)
        assert ask.status_code == 200
        assert "Say why" in ask.content.decode() or "Reason" in ask.content.decode()
        incident.refresh_from_db()
        assert incident.status == STATUS.ERROR

        done = admin_client.post("/admin/processes/incident/", {**selected, "reason": "Handled by phone."})
        assert done.status_code == 302
        incident.refresh_from_db()
        assert incident.status == STATUS.DONE
        assert incident.data["skipped"]["reason"] == "Handled by phone."

    def test_retry_action_asks_why_then_runs_the_step_again(self, admin_client, incident):
        selected = {"action": "retry", "_selected_action": [incident.pk]}
        ask = admin_client.post("/admin/processes/incident/", selected)
        assert ask.status_code == 200
        assert "Reason" in ask.content.decode()
        incident.refresh_from_db()
        assert incident.status == STATUS.ERROR

        with mock.patch.object(celery_job, "job_send", return_value=True):
            response = admin_client.post("/admin/processes/incident/", {**selected, "reason": "ERP is back."})

        assert response.status_code == 302
        incident.refresh_from_db()
        assert incident.status == STATUS.REVIVED
