"""`/metrics` for Prometheus: what the portal's database says now, per process type.

This first part of issue 15 exports gauges computed at scrape time from the database, so every
web process answers the same and nothing is counted twice however many processes serve it:

- `portal_tasks_open{process_type, stage, status}`: people's tasks waiting in a queue (NEW) or
  held by someone (ASSIGNED);
- `portal_tasks_overdue{process_type, stage}`: open tasks past their due time (the SLA);
- `portal_incidents_open{process_type}`: failed automated steps waiting for a retry or a skip;
- `portal_emails_pending`, `portal_emails_failed`: the email outbox;
- `portal_webhooks_pending`, `portal_webhooks_delivered`, `portal_webhooks_failed`: the webhook
  outbox (processes/webhooks/; delivered rows are kept WEBHOOK_KEEP_DAYS).

Process types are labelled by their flow reference (`purchase/flows.PurchaseFlow`, the task list's
`?flow=`), from the registry: a new process type needs no metrics code. The task gauges are one
grouped pass over the open rows (processes/tasklist/models.py), so a scrape's cost follows the
open work, not the history.

The endpoint answers a bearer token (`METRICS_TOKEN`), or a caller on the loopback interface
that no proxy forwarded (no `X-Forwarded-For` or `Forwarded` header): a proxy in front of the
portal connects from loopback too, and must not make the metrics public.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from ipaddress import ip_address

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from viewflow.workflow.fields import get_flow_ref
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.mail.models import OutgoingEmail
from processes.registry import registry
from processes.tasklist.models import OPEN_STATUSES, TaskRow
from processes.webhooks.models import WebhookDelivery


class PortalCollector(Collector):
    """The gauges of the module docstring, read from the database on each scrape."""

    def collect(self) -> Iterator[Metric]:
        known = {descriptor.flow_ref for descriptor in registry}
        open_tasks = GaugeMetricFamily(
            "portal_tasks_open",
            "People's tasks waiting in a queue (NEW) or held by someone (ASSIGNED).",
            labels=["process_type", "stage", "status"],
        )
        overdue = GaugeMetricFamily(
            "portal_tasks_overdue",
            "Open people's tasks past their due time (the SLA).",
            labels=["process_type", "stage"],
        )
        # One pass over the open rows for both families.
        late: dict[tuple[str, str], int] = {}
        rows = (
            TaskRow.objects.filter(status__in=OPEN_STATUSES)
            .values_list("flow_class", "stage_name", "status")
            .annotate(n=Count("task_id"), late=Count("task_id", filter=Q(due_at__lt=timezone.now())))
            .order_by()
        )
        for flow_ref, stage, status, n, n_late in rows:
            open_tasks.add_metric([_ref(flow_ref), stage, status], n)
            if n_late:
                key = (_ref(flow_ref), stage)
                late[key] = late.get(key, 0) + n_late
        for (flow_ref, stage), n in sorted(late.items()):
            overdue.add_metric([flow_ref, stage], n)
        yield open_tasks
        yield overdue

        incidents = GaugeMetricFamily(
            "portal_incidents_open",
            "Failed automated steps waiting for a retry or a skip.",
            labels=["process_type"],
        )
        counts = dict.fromkeys(sorted(known), 0)
        rows = (
            Task.objects.filter(flow_task_type="JOB", status=STATUS.ERROR)
            .values_list("process__flow_class")
            .annotate(n=Count("pk"))
            .order_by()
        )
        for flow_class, n in rows:
            counts[_ref(flow_class)] = counts.get(_ref(flow_class), 0) + n
        for flow_ref, n in counts.items():
            incidents.add_metric([flow_ref], n)
        yield incidents

        by_status = dict(
            OutgoingEmail.objects.filter(
                status__in=[OutgoingEmail.Status.PENDING, OutgoingEmail.Status.FAILED]
            )
            .values_list("status")
            .annotate(n=Count("pk"))
            .order_by()
        )
        yield GaugeMetricFamily(
            "portal_emails_pending",
            "Emails in the outbox not delivered yet (retried with backoff).",
            value=by_status.get(OutgoingEmail.Status.PENDING, 0),
        )
        yield GaugeMetricFamily(
            "portal_emails_failed",
            "Emails the outbox gave up on.",
            value=by_status.get(OutgoingEmail.Status.FAILED, 0),
        )

        hooks = dict(WebhookDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by())
        yield GaugeMetricFamily(
            "portal_webhooks_pending",
            "Webhook deliveries not delivered yet (retried with backoff for about 3 days).",
            value=hooks.get(WebhookDelivery.Status.PENDING, 0),
        )
        yield GaugeMetricFamily(
            "portal_webhooks_delivered",
            "Webhook deliveries a receiver accepted (kept WEBHOOK_KEEP_DAYS).",
            value=hooks.get(WebhookDelivery.Status.DELIVERED, 0),
        )
        yield GaugeMetricFamily(
            "portal_webhooks_failed",
            "Webhook deliveries given up on (every attempt failed, or the receiver answered 410).",
            value=hooks.get(WebhookDelivery.Status.FAILED, 0),
        )


def _ref(value: object) -> str:
    """A flow reference as a label: the stored text (a reference field hands out the class)."""
    if isinstance(value, type):
        return get_flow_ref(value)
    return str(value) if value else "unknown"


def metrics_text() -> bytes:
    """The exposition text of the portal's gauges, freshly read."""
    collectors = CollectorRegistry(auto_describe=False)
    collectors.register(PortalCollector())
    return generate_latest(collectors)


def _is_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    if header or "X-Forwarded-For" in request.headers or "Forwarded" in request.headers:
        return False
    try:
        return ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@login_not_required
@never_cache
@require_GET
@transaction.non_atomic_requests
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape: 401 without the token, unless the caller is local and unproxied."""
    if not _is_allowed(request):
        response = HttpResponse("metrics need a bearer token\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
