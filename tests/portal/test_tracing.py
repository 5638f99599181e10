"""Traces (ADR 0019) with an in-memory span exporter: a request's spans carry the correlation id,
its log lines carry the trace and span ids beside it, an email queued in a trace is sent in that
trace (also when the sweep sends it later), and with tracing off nothing records and no log line
gets ids. The trace across web and worker is tests/services/test_traces.py."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once

import processes.tracing
from portal import tracing as portal_tracing
from processes.mail.models import OutgoingEmail
from processes.mail.services import mail_queue, mails_retry_due
from processes.tracing import CORRELATION_ATTRIBUTE, span, traceparent_current
from tests.conftest import task_of

pytestmark = pytest.mark.django_db


def _tracing_off() -> None:
    """Back to a process that never set tracing up (OpenTelemetry's API allows setting its
    provider once per process; its own tests reset these globals the same way)."""
    portal_tracing.uninstrument()
    if portal_tracing._provider is not None:
        portal_tracing._provider.shutdown()
    portal_tracing._provider = None
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    processes.tracing._tracer = trace.get_tracer("processes")


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    portal_tracing.tracing_setup("web", exporter=exporter)
    yield exporter
    _tracing_off()


@pytest.fixture
def json_lines(caplog):
    """The log lines as the portal writes them (the JSON formatter of settings.LOGGING)."""
    from django.conf import settings

    formatter = structlog.stdlib.ProcessorFormatter(**_formatter_options(settings.LOGGING))
    caplog.set_level(logging.INFO)
    return lambda: [json.loads(formatter.format(record)) for record in caplog.records]


def _formatter_options(config: dict) -> dict:
    options = dict(config["formatters"]["structured"])
    options.pop("()")
    return options


def test_a_request_s_spans_carry_the_correlation_id_and_its_log_lines_the_trace_id(
    client, submit_request, olivia, spans, json_lines
):
    process = submit_request()
    approve = task_of(process, "approve")
    client.force_login(olivia)
    spans.clear()

    response = client.post(approve.reverse("assign"))

    assert response.status_code == 302
    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    assert server.resource.attributes["service.name"] == "portal-web"
    # The HTTP semantic conventions' old or new names (OTEL_SEMCONV_STABILITY_OPT_IN decides).
    assert server.attributes.get("http.request.method", server.attributes.get("http.method")) == "POST"
    assert server.attributes[CORRELATION_ATTRIBUTE] == str(process.correlation_id)
    trace_id = format(server.context.trace_id, "032x")
    # The SQL of the request (psycopg's or SQLite's: the Django instrumentation has no database
    # spans of its own) is not what this test is about; every span it made is in one trace.
    assert {format(s.context.trace_id, "032x") for s in finished} == {trace_id}

    [assigned] = [line for line in json_lines() if line["event"] == "task.assigned"]
    assert assigned["correlation_id"] == str(process.correlation_id)
    assert assigned["trace_id"] == trace_id
    assert len(assigned["span_id"]) == 16
    assert {s.context.span_id for s in finished} >= {int(assigned["span_id"], 16)}


def test_an_email_is_sent_in_the_trace_that_queued_it_also_by_the_sweep(olivia, spans, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    with span("test.request") as request_span:
        parent = traceparent_current()
        with transaction.atomic():
            email = mail_queue(kind="test", to_user=olivia, subject="Hello", text="Body")
    assert OutgoingEmail.objects.get(pk=email.pk).traceparent == parent
    assert parent.split("-")[1] == format(request_span.get_span_context().trace_id, "032x")

    # The attempt after commit is left out by the test database's transaction: the sweep sends it,
    # outside any span, and still within the request's trace.
    spans.clear()
    assert mails_retry_due(now=email.next_attempt_at) == 1

    [sent] = [s for s in spans.get_finished_spans() if s.name == "email.send"]
    assert sent.context.trace_id == request_span.get_span_context().trace_id
    assert sent.parent.span_id == request_span.get_span_context().span_id
    assert sent.attributes["portal.email.kind"] == "test"


def test_with_tracing_off_nothing_records_and_log_lines_have_no_ids(
    client, submit_request, olivia, json_lines
):
    assert portal_tracing.tracing_setup("web") is None  # OTEL_EXPORTER_OTLP_ENDPOINT is not set
    process = submit_request()
    client.force_login(olivia)

    with span("test.off") as off:
        assert not off.is_recording()
        assert traceparent_current() == ""
    assert client.post(task_of(process, "approve").reverse("assign")).status_code == 302

    lines = json_lines()
    assert any(line["event"] == "task.assigned" for line in lines)
    assert not [line for line in lines if "trace_id" in line or "span_id" in line]
    assert OutgoingEmail.objects.filter(traceparent__gt="").count() == 0


def test_the_role_must_be_known():
    with pytest.raises(ValueError, match="role must be one of"):
        portal_tracing.tracing_setup("scheduler")


def test_a_client_span_without_a_parent_is_not_kept(spans):
    """The broker's and channel layer's polling would otherwise be one trace per Redis command."""
    tracer = trace.get_tracer("tests")
    with tracer.start_as_current_span("redis.poll", kind=SpanKind.CLIENT):
        pass
    with tracer.start_as_current_span("job"), tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass

    assert sorted(s.name for s in spans.get_finished_spans()) == ["SELECT", "job"]


def test_an_email_link_s_secret_is_in_no_span(client, submit_request, olivia, spans):
    from processes.actionlinks.services import action_tokens_issue, action_tokens_mint

    task = task_of(submit_request(), "approve")
    with transaction.atomic():
        token = action_tokens_issue(task=task, addressee=olivia)["approve"]
        raw = action_tokens_mint(tokens=[token])[token.pk]
    spans.clear()

    assert client.get(f"/links/{raw}/").status_code == 200

    finished = spans.get_finished_spans()
    [server] = [s for s in finished if s.kind == SpanKind.SERVER]
    assert "/links/[redacted]/" in str(dict(server.attributes))
    assert not [s for s in finished if raw in s.name or raw in str(dict(s.attributes or {}))]


def test_an_instrumentation_can_be_left_off(client, submit_request, olivia, settings):
    """OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=django: the request makes no server span, and the
    core's own spans still record."""
    settings.OTEL_PYTHON_DISABLED_INSTRUMENTATIONS = ["django"]
    exporter = InMemorySpanExporter()
    portal_tracing.tracing_setup("web", exporter=exporter)
    try:
        client.force_login(olivia)
        assert client.post(task_of(submit_request(), "approve").reverse("assign")).status_code == 302
        with span("test.core"):
            pass
        kinds = {s.kind for s in exporter.get_finished_spans()}
        assert SpanKind.SERVER not in kinds
        assert "test.core" in {s.name for s in exporter.get_finished_spans()}
    finally:
        _tracing_off()
