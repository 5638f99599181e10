"""Receiving messages for wait nodes, consuming them, and the sweep of kept ones.

Two locks, always taken in the same order, make every interleaving resume a wait exactly once:

1. The *correlation lock* (a transaction-scoped PostgreSQL advisory lock on the message name and
   correlation key; SQLite serialises writers anyway) is held by a receipt while it stores the
   message, and by an arming wait while it records its subscription and looks for a kept
   message. Whichever commits second sees the other's row: no message is kept while a matching
   wait is armed without noticing it.
2. The *flow lock* (the process row) is held while a message is consumed: the message row is
   re-read FOR UPDATE and the task re-read, so a second delivery, a concurrent consumer or the
   timeout that cancelled the task meanwhile finds nothing left to do.

A receipt never holds the correlation lock while it waits for a flow lock (it commits first),
and an arming wait holds the flow lock before the correlation lock: no lock cycle.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.audit import audit_record, transition_details
from processes.messages.models import MessageSubscription, ReceivedMessage

logger = structlog.get_logger(__name__)

#: The waiting states of a wait task.
WAITING = [STATUS.NEW, STATUS.SCHEDULED]


class MessageReplayed(Exception):
    """The client sent a message with this id before."""


class MessageUnknown(ValueError):
    """No wait node of any registered flow waits for a message of this name."""


@dataclass(frozen=True)
class Receipt:
    """What became of a received message: "consumed" (a waiting task took it) or "kept"."""

    message: ReceivedMessage
    outcome: str
    task_id: int | None = None
    process_id: int | None = None


def message_ttl() -> timedelta:
    return timedelta(seconds=settings.API_MESSAGE_TTL)


def _correlation_lock(name: str, correlation_key: str) -> None:
    """Serialise receipts and arming waits of one (name, correlation key) until commit."""
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"{name}\x00{correlation_key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def message_names() -> set[str]:
    """The message names the registered flows' wait nodes wait for (asked through the registry)."""
    from processes.nodes.wait_message import WaitMessage
    from processes.registry import registry

    return {
        node.message_name
        for flow in registry.flows()
        for node in flow.instance.nodes()
        if isinstance(node, WaitMessage)
    }


def message_receive(
    *,
    client: Any,
    message_id: str,
    name: str,
    correlation_key: str,
    payload: dict[str, Any],
) -> Receipt:
    """Store a (verified) message and hand it to the task waiting for it, if one is.

    Raises MessageUnknown for a name no wait node declares, MessageReplayed for an id the client
    used before (within the replay window). The message is stored and committed before it is
    consumed, so a wait armed meanwhile takes it as a kept message instead.
    """
    if name not in message_names():
        raise MessageUnknown(f"No process waits for messages named {name!r}.")
    client_name = client.name if client is not None else ""
    now = timezone.now()
    try:
        with transaction.atomic():
            _correlation_lock(name, correlation_key)
            message = ReceivedMessage.objects.create(
                client=client,
                client_name=client_name,
                message_id=message_id,
                name=name,
                correlation_key=correlation_key,
                payload=payload,
                received_at=now,
                expires_at=now + message_ttl(),
            )
            audit_record(
                action="message.accepted",
                details={
                    "message_id": message_id,
                    "name": name,
                    "correlation_key": correlation_key,
                    "client": client_name,
                },
            )
            waiting = list(_open_subscriptions(name, correlation_key).values_list("task_id", flat=True))
    except IntegrityError:
        raise MessageReplayed(f"Message {message_id} was received before.") from None
    for task_id in waiting:
        task = message_consume(message_pk=message.pk, task_id=task_id)
        if task is not None:
            message.refresh_from_db()
            return Receipt(message, "consumed", task_id=task.pk, process_id=task.process_id)
    logger.info("message.kept", message_id=message_id, name=name, correlation_key=correlation_key)
    return Receipt(message, "kept")


def _open_subscriptions(name: str, correlation_key: str) -> Any:
    return MessageSubscription.objects.filter(
        name=name, correlation_key=correlation_key, task__status__in=WAITING
    ).order_by("created_at", "id")


def _take(message: ReceivedMessage, task: Any) -> None:
    """Mark `message` consumed by `task` and note it on the task (inside the flow lock)."""
    now = timezone.now()
    message.status = ReceivedMessage.Status.CONSUMED
    message.consumed_at = now
    message.consumed_by = task
    message.save(update_fields=["status", "consumed_at", "consumed_by"])
    task.data = {
        **(task.data or {}),
        "message": {
            "id": message.message_id,
            "client": message.client_name,
            "received_at": message.received_at.isoformat(),
            "payload": message.payload,
        },
    }
    task.save(update_fields=["data"])
    audit_record(
        action="message.consumed",
        task=task,
        details={
            "message_id": message.message_id,
            "name": message.name,
            "correlation_key": message.correlation_key,
            "client": message.client_name,
        },
    )


def message_consume(*, message_pk: int, task_id: int) -> Any | None:
    """Give the kept message to the waiting task under the flow lock; the task, or None when the
    message was taken or the task stopped waiting meanwhile (or its process is busy: the sweep
    tries again)."""
    task = Task.objects.filter(pk=task_id).first()
    if task is None:
        return None
    try:
        with task.activation() as activation:  # the flow lock, then the task re-read
            message = ReceivedMessage.objects.select_for_update().filter(pk=message_pk).first()
            if (
                message is None
                or message.status != ReceivedMessage.Status.KEPT
                or activation.task.status != STATUS.SCHEDULED
            ):
                return None
            _take(message, activation.task)
            with transition_details(message_id=message.message_id):
                activation.execute()
            return activation.task
    except FlowLockFailed:
        logger.warning("message.consume_busy", message_pk=message_pk, task_id=task_id)
        return None


def message_wait_arm(*, activation: Any) -> None:
    """A wait task is armed (inside its flow's transaction and lock): record its subscription and
    take a kept matching message, if there is one (its task then completes at once)."""
    waits_for = activation.task.data["waits_for"]
    name, key = waits_for["name"], waits_for["correlation_key"]
    _correlation_lock(name, key)
    MessageSubscription.objects.create(
        name=name, correlation_key=key, task=activation.task, process=activation.process
    )
    kept = (
        ReceivedMessage.objects.select_for_update()
        .filter(
            name=name,
            correlation_key=key,
            status=ReceivedMessage.Status.KEPT,
            expires_at__gt=timezone.now(),
        )
        .order_by("received_at", "id")
        .first()
    )
    if kept is not None:
        _take(kept, activation.task)


def messages_sweep(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The periodic sweep (beat): hand kept messages to waits that a busy lock kept them from,
    expire kept messages past their time to live (audited), and delete old consumed and expired
    rows once the replay window has passed."""
    now = now or timezone.now()
    matched = 0
    for message in ReceivedMessage.objects.filter(
        status=ReceivedMessage.Status.KEPT, expires_at__gt=now
    ).order_by("received_at")[:limit]:
        for task_id in _open_subscriptions(message.name, message.correlation_key).values_list(
            "task_id", flat=True
        ):
            if message_consume(message_pk=message.pk, task_id=task_id) is not None:
                matched += 1
                break
    expired = 0
    for message in ReceivedMessage.objects.filter(
        status=ReceivedMessage.Status.KEPT, expires_at__lte=now
    ).order_by("expires_at")[:limit]:
        with transaction.atomic():
            if not ReceivedMessage.objects.filter(pk=message.pk, status=ReceivedMessage.Status.KEPT).update(
                status=ReceivedMessage.Status.EXPIRED
            ):
                continue
            audit_record(
                action="message.expired",
                details={
                    "message_id": message.message_id,
                    "name": message.name,
                    "correlation_key": message.correlation_key,
                    "client": message.client_name,
                },
            )
            expired += 1
    window = timedelta(seconds=settings.API_MESSAGE_REPLAY_WINDOW)
    deleted, _ = (
        ReceivedMessage.objects.exclude(status=ReceivedMessage.Status.KEPT)
        .filter(received_at__lt=now - window, expires_at__lt=now)
        .delete()
    )
    done = {"matched": matched, "expired": expired, "deleted": deleted}
    if matched or expired or deleted:
        logger.info("messages.swept", **done)
    return done
