"""The reads of live notifications: what a user receives and may see, counts, the catch-up, and
the links a notification carries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from importlib import import_module
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
)
from django.db.models import Count, Max, Q
from django.urls import get_resolver
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from processes.models import Delivery, Notification, NotificationKind, NotificationPreference

if TYPE_CHECKING:
    from viewflow.workflow.models import Process, Task


# ---------------------------------------------------------------- links


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


# ---------------------------------------------------------------- notifications


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


# ---------------------------------------------------------------- sessions


def live_session_user_id(*, session_key: str | None) -> int | None:
    """The id of the active user that browser session `session_key` still logs in, or None: the
    session was logged out, flushed, deleted or expired, its user was deactivated, or its password
    changed since (Django's own check of a request's session, without its writes)."""
    if not session_key:
        return None
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
