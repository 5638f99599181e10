"""The reads of live notifications: what a user receives and may see, counts, the catch-up, and
the links a notification carries."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
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
from django.contrib.auth.models import Permission
from django.db.models import Count
from django.urls import get_resolver
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from viewflow.workflow.models import Process

from processes.models import Delivery, Notification, NotificationKind, NotificationPreference
from processes.planned import planned_cursor

if TYPE_CHECKING:
    from viewflow.workflow.models import Task


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


# At most this many rows go to one socket per read; a socket with more reads again.
DELIVERY_BATCH = 100
# A batched read (notifications_deliverable) loads at most this many rows per socket asked for,
# plus this many; beyond that each socket reads on its own.
DELIVERY_BATCH_SLACK = 1000


@dataclass(frozen=True)
class Want:
    """One socket's question: the rows of `user_id` after `floor` that are not in `sent`."""

    user_id: int
    floor: int
    sent: frozenset[int] = frozenset()


@dataclass
class Deliverable:
    """One socket's answer: its rows (payloads, each with `visible` and `ts`), the user's unread
    count, whether the user is still active, and whether it should read again (more rows left)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    unread: int = 0
    active: bool = False
    more: bool = False


def _delivery_payload(row: Notification, visible: set[int]) -> dict[str, Any]:
    return {**notification_payload(row), "visible": row.pk in visible, "ts": row.created_at.timestamp()}


def _permissions_preload(users: Iterable[Any]) -> None:
    """Load the model permissions of many users in two queries, into the caches Django's
    ModelBackend and processes/auth.py keep on each user object (`_user_perm_cache`,
    `_group_perm_cache`, `_perm_cache`): the checks
    that follow (`has_perm`, `get_all_permissions`) are then the backend's own, without a query
    per user. Superusers are left alone (the backend gives them every permission itself)."""
    users = {user.pk: user for user in users if user.is_active and not user.is_superuser}
    if not users:
        return
    direct: dict[int, set[str]] = {pk: set() for pk in users}
    grouped: dict[int, set[str]] = {pk: set() for pk in users}
    for pk, app_label, codename in (
        Permission.objects.filter(user__in=list(users))
        .values_list("user", "content_type__app_label", "codename")
        .order_by()
    ):
        direct[pk].add(f"{app_label}.{codename}")
    for pk, app_label, codename in (
        Permission.objects.filter(group__user__in=list(users))
        .values_list("group__user", "content_type__app_label", "codename")
        .order_by()
    ):
        grouped[pk].add(f"{app_label}.{codename}")
    for pk, user in users.items():
        user._user_perm_cache = direct[pk]
        user._group_perm_cache = grouped[pk]
        # What both backends answer has_perm from (processes/auth.py reads nothing when it is set).
        user._perm_cache = direct[pk] | grouped[pk]


def _after_floors_sql(users: int) -> str:
    """`(user_id = %s AND id > %s) OR ...` for `users` (user, floor) pairs, written once as SQL:
    the same condition as OR-ing one Q per user, which Django took some 2 ms per socket to build
    (most of a 1,000-socket burst's CPU, issue 16). The user_id IN (...) beside it keeps the plan
    on the (user, id) index."""
    table = Notification._meta.db_table
    one = f'("{table}"."user_id" = %s AND "{table}"."id" > %s)'
    return "(" + " OR ".join([one] * users) + ")"


def notifications_deliverable(wants: list[Want]) -> list[Deliverable]:
    """What each of many sockets should send now, in a handful of queries however many sockets:
    for each `Want`, the user's rows after its floor that it has not sent (oldest first, at most
    DELIVERY_BATCH), each marked `visible` as `notifications_visible` decides for that user, and
    the user's unread count. An inactive user's answer says so (`active` False).

    The consumers' burst path (processes/consumers.py): one commit that concerns 1,000 users
    wakes 1,000 sockets, and this reads for all of them at once instead of 1,000 times."""
    if not wants:
        return []
    user_ids = sorted({want.user_id for want in wants})
    users = {user.pk: user for user in get_user_model().objects.filter(pk__in=user_ids, is_active=True)}
    answers = [Deliverable() for _ in wants]
    floors: dict[int, int] = {}
    for want in wants:
        if want.user_id in users:
            floors[want.user_id] = min(floors.get(want.user_id, want.floor), want.floor)
    if not floors:
        return answers
    _permissions_preload(users.values())
    cap = DELIVERY_BATCH * len(floors) + DELIVERY_BATCH_SLACK
    rows = list(
        Notification.objects.filter(user_id__in=list(floors))
        # A fixed template of placeholders; the values go as parameters.
        .extra(where=[_after_floors_sql(len(floors))], params=[v for pair in floors.items() for v in pair])  # noqa: S610
        .order_by("id")[: cap + 1]
    )
    truncated = len(rows) > cap
    rows = rows[:cap]
    by_user: dict[int, list[Notification]] = {user_id: [] for user_id in floors}
    for row in rows:
        by_user[row.user_id].append(row)
    # The same check as every other read (the gate's processes_visible_ids, per user), with the
    # processes' task rows read once for every user of the burst.
    from processes.gate import processes_visible_ids_by_user

    readers = [users[user_id] for user_id, user_rows in by_user.items() if user_rows]
    # A burst is mostly about one process: read each once (not once per row, as a join would).
    about_ids = {row.process_id for user_rows in by_user.values() for row in user_rows if row.process_id}
    about = list(Process.objects.filter(pk__in=about_ids)) if about_ids else []
    seen = processes_visible_ids_by_user(users=readers, processes=about)
    visible: dict[int, set[int]] = {
        user.pk: {
            row.pk for row in by_user[user.pk] if row.process_id is None or row.process_id in seen[user.pk]
        }
        for user in readers
    }
    unread = dict(
        Notification.objects.filter(user_id__in=list(floors), read_at__isnull=True)
        .values("user_id")
        .annotate(count=Count("id"))
        .values_list("user_id", "count")
        .order_by()
    )
    for want, answer in zip(wants, answers, strict=True):
        if want.user_id not in users:
            continue
        mine = [row for row in by_user[want.user_id] if row.pk > want.floor and row.pk not in want.sent]
        answer.active = True
        answer.unread = unread.get(want.user_id, 0)
        answer.rows = [
            _delivery_payload(row, visible.get(want.user_id, set())) for row in mine[:DELIVERY_BATCH]
        ]
        answer.more = truncated or len(mine) > DELIVERY_BATCH
    return answers


def notifications_recent(*, user: Any, limit: int = 50) -> list[Notification]:
    rows = Notification.objects.filter(user=user).select_related("process")[:limit]
    return notifications_visible(user, rows)


def notifications_unread_count(*, user: Any) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def notification_state(*, user_id: int) -> tuple[int, int]:
    """The user's newest notification id (0 without any) and unread count, in one query: every
    page's bell and live client need both. Written once and prepared on the server
    (processes/planned.py): every page asks, and the ORM's aggregate cost a page more CPU than
    the statement does."""
    with planned_cursor() as cursor:
        cursor.execute(_NOTIFICATION_STATE, [user_id])
        last, unread = cursor.fetchone()
    return last, unread


_NOTIFICATION_STATE = (
    "SELECT COALESCE(MAX(id), 0), COUNT(CASE WHEN read_at IS NULL THEN 1 END) "  # noqa: S608 - the model's table
    f"FROM {Notification._meta.db_table} WHERE user_id = %s"
)


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
