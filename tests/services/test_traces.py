"""One approval, one trace, across real processes (ADR 0019): the HTTP request to uvicorn, the
Celery job in a real worker, the webhook call to a local HTTP server and the email to a real SMTP
server all carry one trace id, and the portal's processes export it over OTLP/HTTP to a local
receiver (tests/otlp_receiver.py), as they would to a collector.

The module runs its own uvicorn and worker, with OTEL_EXPORTER_OTLP_ENDPOINT set, on a Redis of
its own (so no other worker of the session takes its messages and exports nothing).
"""

from __future__ import annotations

import sys

import pytest
from django.db import transaction

from processes.actionlinks.services import action_tokens_issue, action_tokens_mint
from processes.api.keys import signing_key_rotate
from processes.api.services import api_client_create
from processes.models import NotificationKind
from processes.notifications.services import notification_preferences_set
from processes.tracing import CORRELATION_ATTRIBUTE
from processes.webhooks.models import EventType
from processes.webhooks.services import webhook_endpoint_create
from tests.conftest import task_of
from tests.otlp_receiver import OtlpReceiver
from tests.services.test_actionlinks_race import _csrf, _opener, _post
from tests.stack import PrivateRedis, Service, answers, free_port, start_worker
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def collector():
    receiver = OtlpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
def traced_env(stack_env, collector):
    redis = PrivateRedis()
    redis.start()
    url = f"http://127.0.0.1:{free_port()}"
    yield {
        **stack_env,
        "REDIS_URL": redis.url,
        "CELERY_BROKER_URL": redis.url,
        "PORTAL_BASE_URL": url,
        "CSRF_TRUSTED_ORIGINS": url,
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # ms between batches: the test waits less
    }
    redis.stop()


@pytest.fixture(scope="module")
def traced_web(traced_env):
    url = traced_env["PORTAL_BASE_URL"]
    argv = [sys.executable, "-m", "uvicorn", "tests.live_asgi:application", "--host", "127.0.0.1"]
    argv += ["--port", url.rsplit(":", 1)[1], "--lifespan", "off", "--no-access-log"]
    web = Service("traces-web", argv, traced_env)
    web.wait_until(lambda: answers(url), what="uvicorn /readyz")
    yield url
    web.stop()


@pytest.fixture(scope="module")
def traced_worker(traced_env):
    worker = start_worker("traces-worker", traced_env)
    yield worker
    worker.stop()


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def test_one_approval_is_one_trace_from_the_request_to_the_email(
    traced_web, traced_worker, collector, smtp_sink, purchase_policy, submit_request, alice, olivia, receiver
):
    shop, _ = api_client_create(name="shop", scopes=["webhooks:receive"])
    signing_key_rotate(client=shop)
    webhook_endpoint_create(client=shop, url=receiver.url, events=[EventType.PROCESS_COMPLETED])
    # The requester hears of the end by email: the worker sends it when the order job ends the flow.
    notification_preferences_set(user=alice, deliveries={NotificationKind.REQUEST_COMPLETED: "email"})
    process = submit_request(title="Traced desk", amount="129.00")
    task = task_of(process, "approve")
    with transaction.atomic():  # an email link, clicked: the decision goes through uvicorn
        token = action_tokens_issue(task=task, addressee=olivia)["approve"]
        raw = action_tokens_mint(tokens=[token])[token.pk]
    url = f"{traced_web}/links/{raw}/"
    opener = _opener()
    csrf = _csrf(opener, url)

    assert _post(opener, url, traced_web, {"csrfmiddlewaretoken": csrf, "comment": "ok"}) == 200

    [completed] = receiver.wait_for(EventType.PROCESS_COMPLETED, timeout=60)
    smtp_sink.wait_for_message(lambda m: b"Completed: Traced desk" in m, timeout=60)
    request = collector.wait_for(
        lambda s: (
            s.kind == "SPAN_KIND_SERVER"
            and s.attributes.get(CORRELATION_ATTRIBUTE) == str(process.correlation_id)
            and s.attributes.get("http.method", s.attributes.get("http.request.method")) == "POST"
        ),
        what="the decision's request span",
    )
    assert request.service == "portal-web"
    trace_id = request.trace_id

    def in_trace(name: str, service: str):
        return collector.wait_for(
            lambda s: s.trace_id == trace_id and s.name == name and s.service == service,
            what=f"{name} from {service} in the request's trace",
        )

    published = in_trace("apply_async/processes.tasks.job_run", "portal-web")
    job = in_trace("run/processes.tasks.job_run", "portal-worker")
    assert job.parent_id == published.span_id  # the message carried the request's context
    assert job.attributes[CORRELATION_ATTRIBUTE] == str(process.correlation_id)
    email = in_trace("email.send", "portal-worker")
    assert email.attributes["portal.email.kind"] == f"notification.{NotificationKind.REQUEST_COMPLETED}"
    assert not email.error
    webhook = in_trace("webhook.send", "portal-worker")
    assert webhook.kind == "SPAN_KIND_CLIENT"
    assert webhook.attributes["http.response.status_code"] == 200
    assert in_trace("run/processes.tasks.webhook_deliver", "portal-worker").span_id == webhook.parent_id
    # The receiver was told the trace (W3C traceparent), and the worker's SQL is in it too.
    assert completed.headers["traceparent"].split("-")[1] == trace_id
    assert any(
        s.attributes.get("db.system") == "postgresql" and s.service == "portal-worker"
        for s in collector.of_trace(trace_id)
    )
    # The email link's secret (in the request's path) reached no span: it is redacted as in the logs.
    leaked = [s for s in collector.spans if raw in s.name or raw in repr(s.attributes)]
    assert not leaked, [[(k, v) for k, v in s.attributes.items() if raw in str(v)] for s in leaked]
    assert any("/links/[redacted]/" in repr(s.attributes) for s in collector.spans)
