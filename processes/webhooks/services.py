"""Write side of webhooks out: subscriptions, the outbox, delivery, retries, replays.

`webhook_emit` writes one WebhookDelivery per subscribed active endpoint in the caller's
transaction: a rollback sends nothing, and a commit never loses one. After commit a Celery task
(`processes.tasks.webhook_deliver`) tries each; if the message is lost or the worker dies, the
beat's sweep (`webhooks_retry_due`) finds the row due and sends it. A delivery is claimed by
locking its row (`SELECT … FOR UPDATE SKIP LOCKED`) for the attempt, so two workers never send
it at the same time; the lock ends with the attempt's transaction (the HTTP timeout is short).

Each attempt is signed at send time with the client's usable signing keys (several during a key
rotation: `processes.api.services.signing_keys_for_sending`), with the delivery's stable
webhook-id. A 2xx answer delivers it; 410 Gone disables the endpoint and cancels its pending
deliveries; anything else (or no answer) schedules the next attempt by `backoff_delay`, until
WEBHOOK_MAX_ATTEMPTS, then the delivery fails for good (audited `webhook.failed`).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from opentelemetry.trace import SpanKind

from processes import instruments, tracing
from processes.api import signing
from processes.api.keys import signing_keys, signing_keys_for_sending
from processes.api.models import ApiClient, Scope
from processes.audit import audit_batch_memo, audit_record
from processes.bulk import rows_insert
from processes.instruments import count_on_commit
from processes.locks import prepared_read
from processes.webhooks import events, ssrf
from processes.webhooks.models import WebhookDelivery, WebhookEndpoint

if TYPE_CHECKING:
    from viewflow.workflow.models import Process, Task

    from processes.models import AuditEvent

logger = structlog.get_logger(__name__)
USER_AGENT = "ApprovalsPortal-Webhooks/1"


def _actor(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None


# ---------------------------------------------------------------- subscriptions


def endpoint_problems(*, client: ApiClient | None, url: str) -> dict[str, str]:
    """What is wrong with a subscription of `client` to `url` (field -> message; empty: nothing)."""
    problems = {}
    if client is not None:
        if not client.has_scope(Scope.WEBHOOKS_RECEIVE):
            problems["client"] = f"Give {client.name} the scope {Scope.WEBHOOKS_RECEIVE} first."
        elif not signing_keys(client):
            problems["client"] = f"{client.name} has no signing key: rotate one on the client's page first."
    try:
        ssrf.destination_resolve(url)
    except ssrf.DestinationRefused as exc:
        problems["url"] = str(exc)
    return problems


def endpoint_check(endpoint: WebhookEndpoint) -> None:
    """ValidationError unless the endpoint's fields, client and destination are acceptable."""
    endpoint.full_clean()
    problems = endpoint_problems(client=endpoint.client, url=endpoint.url)
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def webhook_endpoint_create(
    *, client: ApiClient, url: str, events: list[str], description: str = "", user: Any = None
) -> WebhookEndpoint:
    """Subscribe `client` (scope webhooks:receive, a signing key) to `events` at `url`."""
    endpoint = WebhookEndpoint(client=client, url=url, events=sorted(set(events)), description=description)
    endpoint_check(endpoint)
    endpoint.save()
    audit_record(
        action="webhook.endpoint_created",
        actor=_actor(user),
        details={"client": client.name, "url": url, "events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_save(*, endpoint: WebhookEndpoint, user: Any = None) -> WebhookEndpoint:
    """Save a subscription the admin's form made or changed (checked like a new one), audited."""
    created = endpoint.pk is None
    endpoint.events = sorted(set(endpoint.events or []))
    endpoint_check(endpoint)
    endpoint.save()
    audit_record(
        action="webhook.endpoint_created" if created else "webhook.endpoint_changed",
        actor=_actor(user),
        details={"client": endpoint.client.name, "url": endpoint.url, "events": endpoint.events},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str, user: Any = None) -> int:
    """Stop sending to `endpoint`: it is marked disabled with `reason`, and its pending
    deliveries are canceled (visible in the delivery log; "retry now" sends them again once the
    endpoint is enabled). Returns how many were canceled."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.active:
        endpoint.active = False
        endpoint.disabled_at = timezone.now()
        endpoint.disabled_reason = reason[:200]
        endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    canceled = WebhookDelivery.objects.filter(
        endpoint=endpoint, status=WebhookDelivery.Status.PENDING
    ).update(status=WebhookDelivery.Status.CANCELED, last_error=f"endpoint disabled: {reason}"[:300])
    audit_record(
        action="webhook.endpoint_disabled",
        actor=_actor(user),
        details={"client": endpoint.client.name, "url": endpoint.url, "reason": reason, "canceled": canceled},
    )
    logger.warning("webhook.endpoint_disabled", endpoint_id=endpoint.pk, reason=reason, canceled=canceled)
    return canceled


@transaction.atomic
def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, user: Any = None) -> None:
    """Send to `endpoint` again (new events; canceled deliveries only when retried)."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.active = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason"])
    audit_record(
        action="webhook.endpoint_enabled",
        actor=_actor(user),
        details={"client": endpoint.client.name, "url": endpoint.url},
    )


# ---------------------------------------------------------------- the outbox


def _first_attempt_at(now: datetime) -> datetime:
    # The after-commit task tries at once; the sweep only if that attempt never happened.
    return now + timedelta(seconds=settings.WEBHOOK_RETRY_BASE_SECONDS)


def _enqueue_on_commit(delivery_ids: list[int]) -> None:
    def enqueue() -> None:
        from processes.tasks import webhook_deliver

        for delivery_id in delivery_ids:
            try:
                webhook_deliver.delay(delivery_id)
            except Exception as exc:  # the broker is down: the row is pending, the sweep sends it
                logger.warning("webhook.enqueue_failed", delivery_id=delivery_id, error=str(exc))

    transaction.on_commit(enqueue, robust=True)


_ENDPOINTS_MEMO = "webhooks.endpoints"


def _active_endpoints() -> list[WebhookEndpoint]:
    """The active endpoints with their clients: read once per flow-lock block (an activation
    emits several events), else once per call. A subscription or client saved or deleted in this
    process forgets the block's copy (`endpoints_forget`)."""
    memo = audit_batch_memo()
    if memo is not None and _ENDPOINTS_MEMO in memo:
        return memo[_ENDPOINTS_MEMO]
    # Compiled once per connection (on every state change's path); their clients in a second read
    # only when there are endpoints at all.
    endpoints = prepared_read(
        ("webhooks.endpoints", WebhookEndpoint), lambda: WebhookEndpoint.objects.filter(active=True)
    ).run()
    if endpoints:
        clients = ApiClient.objects.in_bulk({endpoint.client_id for endpoint in endpoints})
        endpoints = [endpoint for endpoint in endpoints if endpoint.client_id in clients]  # one deleted since
        for endpoint in endpoints:
            endpoint.client = clients[endpoint.client_id]
    if memo is not None:
        memo[_ENDPOINTS_MEMO] = endpoints
    return endpoints


def endpoints_forget(**kwargs: Any) -> None:
    """Signal receiver (processes/apps.py): a subscription or an API client changed."""
    memo = audit_batch_memo()
    if memo is not None:
        memo.pop(_ENDPOINTS_MEMO, None)


def webhook_emit(
    *, event_type: str, data: dict[str, Any], process: Process | None = None, task: Task | None = None
) -> list[WebhookDelivery]:
    """Write a delivery of one event to every active endpoint subscribed to it, in the current
    transaction; each is sent after commit. All of them carry the same envelope."""
    endpoints = [
        endpoint
        for endpoint in _active_endpoints()
        if endpoint.subscribes(event_type) and endpoint.client.active
    ]
    if not endpoints:
        return []
    now = timezone.now()
    payload = events.envelope(event_type, data, timestamp=now)
    deliveries = rows_insert(
        WebhookDelivery,
        [
            WebhookDelivery(
                endpoint=endpoint,
                event_type=event_type,
                payload=payload,
                process_id=process.pk if process is not None else None,
                task_id=task.pk if task is not None else None,
                created_at=now,
                next_attempt_at=_first_attempt_at(now),
            )
            for endpoint in endpoints
        ],
    )
    if any(delivery.pk is None for delivery in deliveries):  # a backend without RETURNING ids
        deliveries = list(
            WebhookDelivery.objects.filter(msg_id__in=[delivery.msg_id for delivery in deliveries]).order_by(
                "pk"
            )
        )
    _enqueue_on_commit([delivery.pk for delivery in deliveries])
    logger.info("webhook.queued", event_type=event_type, deliveries=len(deliveries))
    return deliveries


def webhook_events_from_audit(event: AuditEvent) -> None:
    """The audit trail's observer (processes/apps.py): queue the webhook events an audit event
    stands for (processes/webhooks/events.py), in its transaction."""
    for event_type, data in events.events_of_audit(event):
        webhook_emit(event_type=event_type, data=data, process=event.process, task=event.task)


def webhook_task_decided(*, process: Process, task: Task, action: str, user: Any = None) -> None:
    """`task.decided` for a decision `decision_record` keeps (every plug-in's decisions)."""
    data = events.event_data(
        process=process, task=task, decision=events.decision_name(process, action), action=action
    )
    webhook_emit(event_type=events.EventType.TASK_DECIDED, data=data, process=process, task=task)


def webhook_process_completed_amend(*, process: Process, **extra: Any) -> int:
    """Add `extra` to the `data` of the `process.completed` event of `process` that this
    transaction queued (a plug-in's own facts about the end: the catalog's outcome). Emits the
    event with them when none is queued. Returns how many deliveries carry them."""
    pending = list(
        WebhookDelivery.objects.select_for_update().filter(
            process_id=process.pk,
            event_type=events.EventType.PROCESS_COMPLETED,
            status=WebhookDelivery.Status.PENDING,
            attempts=0,
            replay_of__isnull=True,
        )
    )
    for delivery in pending:
        delivery.payload = {**delivery.payload, "data": {**delivery.payload["data"], **extra}}
        delivery.save(update_fields=["payload"])
    if pending:
        return len(pending)
    data = events.event_data(process=process, status=str(process.status), **extra)
    return len(webhook_emit(event_type=events.EventType.PROCESS_COMPLETED, data=data, process=process))


# ---------------------------------------------------------------- delivery


def backoff_delay(attempts: int, *, jitter: float | None = None) -> timedelta:
    """The wait after the `attempts`-th failed attempt: WEBHOOK_RETRY_BASE_SECONDS * 4^(n-1), at
    most WEBHOOK_RETRY_MAX_SECONDS, ±20 % jitter (`jitter` in [-1, 1] pins it, for tests)."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS
    delay = min(base * 4 ** max(attempts - 1, 0), settings.WEBHOOK_RETRY_MAX_SECONDS)
    spread = random.uniform(-1.0, 1.0) if jitter is None else jitter
    return timedelta(seconds=delay * (1 + 0.2 * spread))


def backoff_schedule() -> list[timedelta]:
    """The waits between attempts without jitter: WEBHOOK_MAX_ATTEMPTS - 1 of them."""
    return [backoff_delay(n, jitter=0) for n in range(1, settings.WEBHOOK_MAX_ATTEMPTS)]


def body_of(delivery: WebhookDelivery) -> bytes:
    """The bytes that are POSTed (and signed): the envelope as compact JSON."""
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def request_headers(delivery: WebhookDelivery, keys: list[bytes], body: bytes) -> dict[str, str]:
    return {
        **signing.headers_sign(keys, delivery.msg_id, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def _attempt(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """One POST of `delivery`: (status code or None, error text ('' on a 2xx))."""
    keys = signing_keys_for_sending(delivery.endpoint.client)
    if not keys:
        return None, "the client has no usable signing key"
    try:
        destination = ssrf.destination_resolve(delivery.endpoint.url)
    except ssrf.DestinationRefused as exc:
        return None, f"refused: {exc}"
    body = body_of(delivery)
    # http.client has no instrumentation: this span is the call, and its traceparent header lets
    # a receiver that traces continue the trace (the signature covers id, timestamp and body only).
    with tracing.span(
        "webhook.send",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": "POST",
            "server.address": destination.host,
            "server.port": destination.port,
            "portal.webhook.event_type": delivery.event_type,
            "portal.webhook.delivery_id": delivery.pk,
            "portal.webhook.attempt": delivery.attempts,
        },
    ) as current:
        headers = request_headers(delivery, keys, body)
        tracing.headers_inject(headers)
        try:
            response = ssrf.post_pinned(
                destination, headers=headers, body=body, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
            )
        except Exception as exc:  # refused, reset, timed out, TLS, a broken HTTP answer
            error = f"{type(exc).__name__}: {exc}"
            tracing.span_failed(current, error)
            return None, error
        if current.is_recording():
            current.set_attribute("http.response.status_code", response.status)
        if 200 <= response.status < 300:
            return response.status, ""
        error = f"HTTP {response.status}: {response.body[:200].decode(errors='replace')}"
        tracing.span_failed(current, error)
        return response.status, error


def webhook_deliver(*, delivery_id: int, now: datetime | None = None) -> str:
    """Try one pending delivery. Returns its status afterwards ("busy" when another worker is
    sending it right now, "gone" when it is no longer pending)."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint__client")
            .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
            .first()
        )
        if delivery is None:
            exists = WebhookDelivery.objects.filter(
                pk=delivery_id, status=WebhookDelivery.Status.PENDING
            ).exists()
            return "busy" if exists else "gone"
        endpoint = delivery.endpoint
        if not endpoint.active or not endpoint.client.active:
            delivery.status = WebhookDelivery.Status.CANCELED
            delivery.last_error = "endpoint disabled" if not endpoint.active else "client inactive"
            delivery.save(update_fields=["status", "last_error"])
            return delivery.status
        delivery.attempts += 1
        code, error = _attempt(delivery)
        now = now or timezone.now()
        delivery.last_attempt_at = timezone.now()
        delivery.last_status_code = code
        delivery.last_error = error[:300]
        if not error:
            delivery.status = WebhookDelivery.Status.DELIVERED
            count_on_commit(instruments.WEBHOOK_DELIVERIES.labels(outcome="sent").inc)
            delivery.delivered_at = delivery.last_attempt_at
            logger.info(
                "webhook.delivered",
                delivery_id=delivery.pk,
                msg_id=delivery.msg_id,
                event_type=delivery.event_type,
                attempts=delivery.attempts,
            )
        elif code == 410:
            delivery.status = WebhookDelivery.Status.FAILED
            count_on_commit(instruments.WEBHOOK_DELIVERIES.labels(outcome="failed").inc)
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = WebhookDelivery.Status.FAILED
            count_on_commit(instruments.WEBHOOK_DELIVERIES.labels(outcome="failed").inc)
            audit_record(
                action="webhook.failed",
                details={
                    "delivery": delivery.pk,
                    "msg_id": delivery.msg_id,
                    "event_type": delivery.event_type,
                    "url": endpoint.url,
                    "attempts": delivery.attempts,
                    "error": delivery.last_error,
                },
            )
            logger.error("webhook.failed", delivery_id=delivery.pk, attempts=delivery.attempts, error=error)
        else:
            delivery.next_attempt_at = now + backoff_delay(delivery.attempts)
            logger.warning(
                "webhook.retry_later",
                delivery_id=delivery.pk,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at.isoformat(),
                error=delivery.last_error,
            )
        delivery.save(
            update_fields=[
                "attempts",
                "status",
                "last_status_code",
                "last_error",
                "last_attempt_at",
                "next_attempt_at",
                "delivered_at",
            ]
        )
    if code == 410:  # after the attempt's commit: the disable locks the endpoint, then its rows
        webhook_endpoint_disable(endpoint=endpoint, reason="the receiver answered 410 Gone")
    return delivery.status


def webhooks_retry_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """The sweep: try every pending delivery whose next attempt is due (the oldest first).
    Returns how many were delivered."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(webhook_deliver(delivery_id=pk, now=now) == WebhookDelivery.Status.DELIVERED for pk in due)


# ---------------------------------------------------------------- the admin's actions


@transaction.atomic
def webhook_replay(*, delivery: WebhookDelivery, user: Any = None) -> WebhookDelivery:
    """A new delivery of the same event to the same endpoint: the same envelope and the same
    webhook-id (Standard Webhooks: one id per event, so a receiver that already has it may drop
    it), with its own attempts in the log. Sent after commit."""
    if not delivery.endpoint.active:
        raise ValidationError(f"{delivery.endpoint} is disabled: enable it first.")
    now = timezone.now()
    replay = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        event_type=delivery.event_type,
        msg_id=delivery.msg_id,
        payload=delivery.payload,
        process_id=delivery.process_id,
        task_id=delivery.task_id,
        replay_of=delivery,
        created_at=now,
        next_attempt_at=_first_attempt_at(now),
    )
    audit_record(
        action="webhook.replayed",
        actor=_actor(user),
        details={"delivery": delivery.pk, "replay": replay.pk, "msg_id": delivery.msg_id},
    )
    _enqueue_on_commit([replay.pk])
    return replay


@transaction.atomic
def webhook_retry_now(*, deliveries: Any, user: Any = None) -> int:
    """Send failed, canceled or waiting deliveries again now, from a fresh attempt count (the
    delivered ones stay as they are; an endpoint still disabled cancels them again)."""
    rows = list(
        WebhookDelivery.objects.select_for_update()
        .filter(pk__in=[d.pk for d in deliveries])
        .exclude(status=WebhookDelivery.Status.DELIVERED)
    )
    now = timezone.now()
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = (
            WebhookDelivery.Status.PENDING,
            0,
            _first_attempt_at(now),
        )
        row.save(update_fields=["status", "attempts", "next_attempt_at"])
    if rows:
        audit_record(
            action="webhook.retried", actor=_actor(user), details={"deliveries": [row.pk for row in rows]}
        )
        _enqueue_on_commit([row.pk for row in rows])
    return len(rows)


def webhooks_prune(*, now: datetime | None = None) -> int:
    """Forget delivered rows after WEBHOOK_KEEP_DAYS (failed and canceled ones stay)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_KEEP_DAYS)
    deleted, _ = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.DELIVERED, delivered_at__lt=cutoff
    ).delete()
    return deleted
