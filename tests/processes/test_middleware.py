"""Request middleware: a busy process lock is a clear 409 page, not a 500."""

from __future__ import annotations

import contextlib
import logging
from unittest import mock

import pytest
from django.urls import get_resolver
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.status import STATUS

from processes.purchase.flows import PurchaseFlow
from tests.conftest import log_events, task_of

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def _always_busy(flow_class, process_pk):
    raise FlowLockFailed(f"Lock failed for {flow_class} {process_pk}")
    yield  # pragma: no cover


def test_a_busy_process_lock_answers_409_and_changes_nothing(client, submit_request, olivia):
    assert get_resolver().url_patterns
    approve = task_of(submit_request(), "approve")
    client.force_login(olivia)

    with mock.patch.object(PurchaseFlow, "lock_impl", _always_busy):
        response = client.post(approve.reverse("assign"))

    assert response.status_code == 409
    assert "Someone else is changing this right now" in response.content.decode()
    approve.refresh_from_db()
    assert approve.status == STATUS.NEW


@pytest.mark.parametrize("known", [True, False])
def test_a_process_page_binds_the_process_correlation_id_to_its_log_lines(submit_request, rf, known):
    import structlog

    from processes.middleware import CorrelationMiddleware

    process = submit_request()
    pk = process.pk if known else process.pk + 1_000
    structlog.contextvars.clear_contextvars()
    try:
        CorrelationMiddleware(lambda request: None).process_view(rf.get("/"), None, (), {"process_pk": pk})
        bound = structlog.contextvars.get_contextvars()
    finally:
        structlog.contextvars.clear_contextvars()
    if known:
        assert bound["correlation_id"] == str(process.correlation_id)
        assert bound["process_id"] == process.pk
    else:
        assert "correlation_id" not in bound


def test_request_log_lines_name_the_peer_never_a_header_the_client_sent(client, alice, caplog):
    """The request's log lines carry REMOTE_ADDR, the address every other client check uses
    (processes/clients.py): an X-Forwarded-For or X-Real-IP the client wrote is not believed."""
    client.force_login(alice)

    with caplog.at_level(logging.INFO, logger="django_structlog.middlewares.request"):
        response = client.get(
            "/tasks/inbox/",
            REMOTE_ADDR="10.1.2.3",
            HTTP_X_FORWARDED_FOR="203.0.113.9",
            HTTP_X_REAL_IP="203.0.113.10",
        )

    assert response.status_code == 200
    lines = log_events(caplog, "request_started") + log_events(caplog, "request_finished")
    assert len(lines) == 2
    assert {line["ip"] for line in lines} == {"10.1.2.3"}
