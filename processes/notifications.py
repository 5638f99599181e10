"""Live notifications: the outbox, who hears what, and the wake-up after commit.

A `Notification` row is written in the same transaction as the change it reports (the outbox),
so a rollback sends nothing and a commit never loses one. After the commit, a wake-up goes out
on the channel layer to `user.<id>` and to the channels of the people the change concerns
(`perm.<permission>` for a queue, `process.<id>` for a process page). The wake-up carries no
data: the websocket consumer (processes/consumers.py) reads what to deliver from the database,
so a lost wake-up only delays a notification until the next one or the next poll.

Task state changes reach `notify_transition` through the same hook on viewflow's transition
state machine as the audit trail (processes/apps.py); business facts that are not transitions
(a decision, a reminder) call `notifications_record` or one of the `notify_*` services.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.contrib.auth.models import Permission
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet
from django.db.models.signals import post_init, post_save
from django.urls import get_resolver
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from viewflow.workflow.models import Task

from processes.audit import current_actor
from processes.models import Delivery, Notification, NotificationKind, NotificationPreference

if TYPE_CHECKING:
    from viewflow.workflow.models import Process

logger = structlog.get_logger(__name__)

WAKE = "live.wake"  # the channel layer message type; NotificationConsumer.live_wake handles it
# Tells a browser session's sockets (or a user's) to close: NotificationConsumer.session_ended.
SESSION_ENDED = "session.ended"


# ---------------------------------------------------------------- channel names


def user_channel(user_id: int) -> str:
    return f"user.{user_id}"


def perm_channel(permission: str) -> str:
    """The channel of everyone who holds `permission`: a task queue's candidates listen here."""
    return f"perm.{permission}"


def process_channel(process_id: int) -> str:
    return f"process.{process_id}"


def session_channel(session_key: str) -> str:
    """The channel of one browser session's sockets. Named by a hash of the key, so the name (in
    Redis, in a log line) never carries the session key itself."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


def wake_on_commit(channels: Iterable[str]) -> None:
    """After the current transaction commits, wake the consumers listening on `channels`."""
    names = sorted(set(channels))
    if names:
        transaction.on_commit(lambda: wake(names))


def wake(channels: Iterable[str]) -> None:
    """Send a data-free wake-up to each channel group; a failure is logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    names = list(channels)
    if not isinstance(layer, InMemoryChannelLayer):
        _wake_soon(layer, names)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: a sync view, a worker, a management command
        async_to_sync(_send)(layer, names)
    else:  # this thread runs an event loop (a test driving a browser): send from another thread
        sender = threading.Thread(target=async_to_sync(_send), args=(layer, names))
        sender.start()
        sender.join()


# A network layer (Redis) is sent to from this process's one long-lived loop, so the layer keeps
# its connection pool instead of opening a connection per wake-up (async_to_sync from a worker or
# command thread starts a new loop, and a new pool, on every call). The caller does not wait:
# its channels join the pending set, and the loop sends each pending channel once. One approval
# passes through some ten transitions, each waking the process page, the queue and the inbox;
# they now leave as a few group sends instead of a blocking round trip per transition.
_sender: dict[str, Any] = {"loop": None, "pid": None, "pending": set(), "scheduled": False}
_sender_lock = threading.Lock()


def _sender_loop() -> asyncio.AbstractEventLoop:
    """This process's sender loop, started on first use (and again in a forked child)."""
    with _sender_lock:
        if _sender["loop"] is None or _sender["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True).start()
            _sender.update(loop=loop, pid=os.getpid(), pending=set(), scheduled=False)
        return _sender["loop"]


def _wake_soon(layer: Any, names: list[str]) -> None:
    loop = _sender_loop()
    with _sender_lock:
        _sender["pending"].update(names)
        if _sender["scheduled"]:
            return  # the drain already scheduled sends these too
        _sender["scheduled"] = True
    asyncio.run_coroutine_threadsafe(_drain(layer), loop)


async def _drain(layer: Any) -> None:
    """Send every pending channel once; channels added meanwhile go in the next drain."""
    with _sender_lock:
        names = sorted(_sender["pending"])
        _sender["pending"] = set()
        _sender["scheduled"] = False
    await _send(layer, names)


async def _send(layer: Any, names: list[str], message_type: str = WAKE) -> None:
    for name in names:
        try:
            await layer.group_send(name, {"type": message_type})
        except Exception as exc:  # the layer is down: consumers catch up on their next poll
            logger.warning("notification.wake_failed", channel=name, error=str(exc))


# ---------------------------------------------------------------- sessions that end


def sessions_end_on_commit(channels: Iterable[str]) -> None:
    """After the current transaction commits, close every socket listening on `channels` (a
    session's, or a user's). Their poll would notice too (`live_session_user_id`), later."""
    names = sorted(set(channels))
    if names:
        transaction.on_commit(lambda: _end(names))


def _end(names: list[str]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if not isinstance(layer, InMemoryChannelLayer):
        asyncio.run_coroutine_threadsafe(_send(layer, names, SESSION_ENDED), _sender_loop())
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(_send)(layer, names, SESSION_ENDED)
    else:
        sender = threading.Thread(target=async_to_sync(_send), args=(layer, names, SESSION_ENDED))
        sender.start()
        sender.join()


def _on_logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        sessions_end_on_commit([session_channel(session_key)])


def _on_user_saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if not created and not instance.is_active:  # deactivated: all their sockets, every session
        sessions_end_on_commit([user_channel(instance.pk)])


user_logged_out.connect(_on_logged_out, dispatch_uid="processes.notifications.session_ended")
post_save.connect(
    _on_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid="processes.notifications.user_deactivated"
)


# ---------------------------------------------------------------- audiences (selectors)


def _permission_q(permission: str) -> Q:
    app_label, codename = permission.split(".", 1)
    perms = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    user_model = get_user_model()
    return Q(pk__in=user_model.objects.filter(groups__permissions__in=perms).values("pk")) | Q(
        pk__in=user_model.objects.filter(user_permissions__in=perms).values("pk")
    )


def users_holding(*permissions: str) -> QuerySet:
    """Active users who hold every one of `permissions` through their groups or directly.

    Superusers are not included unless they hold the permissions explicitly: they may see
    everything, but they do not want to hear about everything.
    """
    users = get_user_model().objects.filter(is_active=True)
    for permission in permissions:
        users = users.filter(_permission_q(permission))
    return users


def _process_permission(flow_class: Any, action: str) -> str:
    opts = flow_class.process_class._meta
    return f"{opts.app_label}.{action}_{opts.model_name}"


def live_channels_for(user: Any) -> list[str]:
    """The channels a user may listen on: their own, and the queues of permissions they hold."""
    from processes.flows import FLOWS
    from processes.policies.models import is_candidate_permission

    held = user.get_all_permissions()
    # A stage's task is routed by its candidate group's permission (approval policies), any
    # other human task by its node's declared permission.
    queues = {permission for permission in held if is_candidate_permission(permission)}
    for flow_class in FLOWS:
        for node in flow_class.instance.nodes():
            permission = getattr(node, "_owner_permission", None)
            if isinstance(permission, str) and permission in held:
                queues.add(permission)
    return [user_channel(user.pk), *(perm_channel(p) for p in sorted(queues))]


# ---------------------------------------------------------------- the outbox (services)


def _url(reverse: Any, *args: Any) -> str:
    try:
        get_resolver().url_patterns  # noqa: B018 - flows learn their URL namespace when the URLconf loads
        return reverse(*args)
    except Exception:  # a flow not mounted in the portal: no link, but still a notification
        return ""


def task_url(task: Task) -> str:
    return _url(task.flow_task.reverse, "index", [task.process_id, task.pk])


def process_url(process: Process) -> str:
    return _url(process.flow_class.instance.reverse, "process_detail", [process.pk])


def notifications_record(
    *,
    user_ids: Iterable[int],
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    process: Process | None = None,
    task: Task | None = None,
    actor: Any = None,
    wake_users: bool = True,
) -> list[Notification]:
    """Write one notification per recipient, in the caller's transaction, as each one prefers.

    Recipients who chose "not at all" for this kind get no row; "by email" gets a row (it shows in
    the notification center) and an email after commit. `wake_users=False` when the caller wakes
    a channel all recipients listen on anyway (a queue's `perm.` channel).
    """
    kind = NotificationKind(kind)
    ids = sorted({int(pk) for pk in user_ids})
    if not ids:
        return []
    preferences = dict(
        NotificationPreference.objects.filter(user_id__in=ids, kind=kind).values_list("user_id", "delivery")
    )
    now = timezone.now()
    rows = [
        Notification(
            user_id=pk,
            kind=kind,
            delivery=preferences.get(pk, Delivery.LIVE),
            title=title[:200],
            body=body[:500],
            url=url[:300],
            process=process,
            task=task,
            actor_name=actor.get_username() if actor else "",
            created_at=now,
        )
        for pk in ids
        if preferences.get(pk) != Delivery.OFF
    ]
    Notification.objects.bulk_create(rows)
    if wake_users:
        wake_on_commit(user_channel(row.user_id) for row in rows)
    emailed = [row.user_id for row in rows if row.delivery == Delivery.EMAIL]
    if emailed:
        _email(emailed, kind=kind, title=title, body=body, url=url, process=process, task=task)
    return rows


def _email(user_ids: list[int], *, kind: str, title: str, body: str, url: str, process, task) -> None:
    """Queue the "by email" copies in the outbox (processes/mail), in the caller's transaction."""
    from processes.mail.services import mail_queue

    link = f"{settings.PORTAL_BASE_URL}{url}" if url else settings.PORTAL_BASE_URL
    for user in get_user_model().objects.filter(pk__in=user_ids).exclude(email=""):
        mail_queue(
            kind=f"notification.{kind}",
            to_user=user,
            subject=title,
            text=f"{body}\n\n{link}\n".lstrip(),
            process=process,
            task=task,
        )


def _task_text(task: Task, process: Process) -> tuple[str, str]:
    """A task's title and its process's summary, for notification texts."""
    flow_task = task.flow_task
    return str(flow_task.task_title or flow_task.name), str(process.brief or f"#{process.pk}")


def _name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user else "the system"


@dataclass
class _Change:
    """One human task transition, with what the notification texts need."""

    task: Task
    process: Any
    actor: Any
    title: str
    brief: str
    url: str

    def record(self, user_ids: Iterable[int], kind: str, title: str, **extra: Any) -> list[Notification]:
        return notifications_record(
            user_ids=user_ids,
            kind=kind,
            title=title,
            body=self.brief,
            url=self.url,
            process=self.process,
            task=self.task,
            actor=self.actor,
            **extra,
        )


def notify_transition(activation: Any, descriptor: Any, source: Any, target: Any, **kwargs: Any) -> None:
    """viewflow FSM hook (next to the audit hook): notify whoever a task state change concerns."""
    name = descriptor._func.__name__
    task = activation.task
    process = activation.process
    node_type = getattr(task.flow_task, "task_type", "")
    previous_owner_id = getattr(task, "_live_owner_id", None)
    task._live_owner_id = task.owner_id
    channels = {process_channel(process.pk)} if process.pk else set()  # the process page shows every status

    if node_type == "HUMAN":
        _notify_human(name, activation, previous_owner_id, channels)
    elif name == "error":
        flow_class = activation.flow_class
        managers = users_holding(_process_permission(flow_class, "manage")).values_list("pk", flat=True)
        title, brief = _task_text(task, process)
        notifications_record(
            user_ids=managers,
            kind=NotificationKind.JOB_FAILED,
            title=f"Failed: {title}",
            body=brief,
            url=task_url(task) or process_url(process),
            process=process,
            task=task,
        )
    elif name == "complete" and node_type == "END":
        _notify_requester_completed(task, process)
    wake_on_commit(channels)


def _notify_human(name: str, activation: Any, previous_owner_id: int | None, channels: set[str]) -> None:
    task, process = activation.task, activation.process
    actor = current_actor()
    actor_id = actor.pk if actor else None
    title, brief = _task_text(task, process)
    change = _Change(task, process, actor, title, brief, task_url(task))
    permission = task.owner_permission
    if permission:
        channels.add(perm_channel(permission))  # the queue of everyone who may take it
    for owner_id in {task.owner_id, previous_owner_id} - {None}:
        channels.add(user_channel(owner_id))  # their inbox

    owner_id = task.owner_id
    if name == "activate" and owner_id is None and permission:
        view = _process_permission(activation.flow_class, "view")
        candidates = users_holding(permission, view).exclude(pk=actor_id).values_list("pk", flat=True)
        change.record(
            candidates, NotificationKind.TASK_QUEUED, f"New in your queue: {title}", wake_users=False
        )
    elif name in ("activate", "assign") and owner_id and owner_id != actor_id:
        change.record([owner_id], NotificationKind.TASK_ASSIGNED, f"{_name(actor)} assigned you: {title}")
    elif name == "reassign" and owner_id != previous_owner_id:
        if owner_id and owner_id != actor_id:
            delegated = actor_id is not None and actor_id == previous_owner_id
            kind = NotificationKind.TASK_DELEGATED if delegated else NotificationKind.TASK_ASSIGNED
            verb = "delegated to you" if delegated else "assigned you"
            change.record([owner_id], kind, f"{_name(actor)} {verb}: {title}")
        if previous_owner_id and previous_owner_id != actor_id:
            new_owner = get_user_model().objects.filter(pk=owner_id).first()
            change.record(
                [previous_owner_id],
                NotificationKind.TASK_TAKEN,
                f"{_name(actor)} reassigned your task to {_name(new_owner)}: {title}",
            )
    elif name == "unassign" and previous_owner_id and previous_owner_id != actor_id:
        change.record(
            [previous_owner_id],
            NotificationKind.TASK_TAKEN,
            f"{_name(actor)} put your task back in the queue: {title}",
        )


def _notify_requester_completed(task: Task, process: Any) -> None:
    requester_id = getattr(process, "requester_id", None)
    if requester_id is None:
        return
    # A rejection already told the requester why; its End needs no second notification.
    if Notification.objects.filter(
        user_id=requester_id, process=process, kind=NotificationKind.REQUEST_REJECTED
    ).exists():
        return
    notifications_record(
        user_ids=[requester_id],
        kind=NotificationKind.REQUEST_COMPLETED,
        title=f"Completed: {process.brief}",
        body=str(task.flow_task.task_title or task.flow_task.name),
        url=process_url(process),
        process=process,
        task=task,
    )


def notify_request_decided(*, process: Any, approved: bool, actor: Any, comment: str = "") -> None:
    """Tell the requester their request was approved or rejected (with the reason)."""
    requester_id = getattr(process, "requester_id", None)
    if requester_id is None or requester_id == getattr(actor, "pk", None):
        return
    kind = NotificationKind.REQUEST_APPROVED if approved else NotificationKind.REQUEST_REJECTED
    verb = "approved" if approved else "rejected"
    notifications_record(
        user_ids=[requester_id],
        kind=kind,
        title=f"{_name(actor)} {verb}: {process.brief}",
        body=comment,
        url=process_url(process),
        process=process,
        actor=actor,
    )


def notify_task_reminder(*, task: Task, escalated: bool = False, to_user_ids: Iterable[int] = ()) -> list:
    """A reminder about a waiting task, or its escalation: the service escalation timers call.

    A reminder goes to the task's owner, or to its queue's candidates when nobody holds it. An
    escalation goes to `to_user_ids` (the escalation target) and also tells the owner.
    """
    task = Task.objects.select_related("process").get(pk=task.pk)
    process = task.process.coerced if task.process.flow_class else task.process
    title, brief = _task_text(task, process)
    url = task_url(task)
    if task.owner_id:
        holders = [task.owner_id]
    elif task.owner_permission:
        view = _process_permission(task.flow_task.flow_class, "view")
        holders = list(users_holding(task.owner_permission, view).values_list("pk", flat=True))
    else:
        holders = []
    common = {"body": brief, "url": url, "process": process, "task": task}
    if not escalated:
        return notifications_record(
            user_ids=holders, kind=NotificationKind.TASK_REMINDER, title=f"Reminder: {title}", **common
        )
    rows = notifications_record(
        user_ids=[pk for pk in to_user_ids if pk not in holders],
        kind=NotificationKind.TASK_ESCALATED,
        title=f"Escalated to you: {title}",
        **common,
    )
    rows += notifications_record(
        user_ids=holders,
        kind=NotificationKind.TASK_ESCALATED,
        title=f"Escalated (overdue): {title}",
        **common,
    )
    wake_on_commit([process_channel(process.pk)])
    return rows


def notification_mark_read(*, user: Any, notification_id: int) -> Notification:
    notification = Notification.objects.get(pk=notification_id, user=user)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        wake_on_commit([user_channel(user.pk)])
    return notification


def notifications_mark_all_read(*, user: Any) -> int:
    count = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        wake_on_commit([user_channel(user.pk)])
    return count


def notification_preferences_set(*, user: Any, deliveries: dict[str, str]) -> None:
    """Store how `user` wants to hear of each kind (live, email, off)."""
    for kind, delivery in deliveries.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=NotificationKind(kind), defaults={"delivery": Delivery(delivery)}
        )


# ---------------------------------------------------------------- reads (selectors)


def notification_payload(notification: Notification) -> dict[str, Any]:
    """What the browser receives for one notification (JSON)."""
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "url": notification.url,
        "created_at": notification.created_at.isoformat(),
        "read": notification.read_at is not None,
        "toast": notification.delivery == Delivery.LIVE,
    }


def notifications_visible(user: Any, rows: Iterable[Notification]) -> list[Notification]:
    """Only the notifications about processes `user` may (still) see (checked in one batch)."""
    from processes.gate import processes_visible_ids

    rows = list(rows)
    visible = processes_visible_ids(user=user, processes={row.process for row in rows if row.process_id})
    return [row for row in rows if row.process_id is None or row.process_id in visible]


def notifications_recent(*, user: Any, limit: int = 50) -> list[Notification]:
    rows = Notification.objects.filter(user=user).select_related("process")[:limit]
    return notifications_visible(user, rows)


def notifications_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_state(*, user_id: int) -> tuple[int, int]:
    """The user's newest notification id (0 without any) and unread count, in one query: every
    page's bell and live client need both."""
    state = Notification.objects.filter(user_id=user_id).aggregate(
        last=Max("id"), unread=Count("id", filter=Q(read_at__isnull=True))
    )
    return state["last"] or 0, state["unread"]


def live_session_user_id(*, session_key: str | None) -> int | None:
    """The id of the active user that browser session `session_key` still logs in, or None: the
    session was logged out, flushed, deleted or expired, its user was deactivated, or its password
    changed since (Django's own check of a request's session, without its writes)."""
    if not session_key:
        return None
    from importlib import import_module

    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = data.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in data or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(get_user_model()._meta.pk.to_python(data[SESSION_KEY]))
    if user is None or not user.is_active:
        return None
    stored = data.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *getattr(user, "get_session_auth_fallback_hash", list)()]
    return user.pk if any(constant_time_compare(stored, known) for known in hashes) else None


def notifications_catchup_floor(*, user_id: int, after: int, now: Any = None) -> tuple[int, bool]:
    """Where a socket that last saw notification `after` starts its catch-up, and whether that
    skips some it missed.

    It gets at most `NOTIFICATIONS_CATCHUP_MAX` of them, the newest, and none older than
    `NOTIFICATIONS_CATCHUP_DAYS` (a tab asleep for a month, or `?after=0`, must not replay the
    whole history); the consumer sends them oldest first. Two indexed queries."""
    now = now or timezone.now()
    missed = Notification.objects.filter(user_id=user_id, id__gt=after)
    window = list(
        missed.filter(created_at__gte=now - timedelta(days=settings.NOTIFICATIONS_CATCHUP_DAYS))
        .order_by("-id")
        .values_list("id", flat=True)[: max(settings.NOTIFICATIONS_CATCHUP_MAX, 0)]
    )
    if window:
        floor = window[-1] - 1
        return floor, missed.filter(id__lte=floor).exists()
    newest = missed.order_by("-id").values_list("id", flat=True).first()
    return (newest, True) if newest is not None else (after, False)


def notification_last_id(*, user_id: int) -> int:
    return (
        Notification.objects.filter(user_id=user_id).order_by("-id").values_list("id", flat=True).first() or 0
    )


def notification_preferences(*, user: Any) -> dict[str, str]:
    stored = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: stored.get(kind, Delivery.LIVE) for kind in NotificationKind.values}


# Where a task's owner was when it was loaded: transitions overwrite it, and "reassigned" and
# "put back in the queue" must tell the previous owner.
def _remember_owner(sender: Any, instance: Task, **kwargs: Any) -> None:
    instance._live_owner_id = instance.__dict__.get("owner_id")


post_init.connect(_remember_owner, sender=Task, dispatch_uid="processes.notifications.remember_owner")
