"""The writes of live notifications: the outbox, and what a user changes about their own.

`notifications_record` writes one row per recipient in the caller's transaction and schedules
the wake-ups (and the "by email" copies) for after the commit. Task state changes reach
`notify_transition` through the same hook on viewflow's transition state machine as the audit
trail (processes/apps.py); business facts that are not transitions (a decision, a reminder) call
`notifications_record` or one of the `notify_*` services.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Task

from processes.audit import current_actor
from processes.bulk import rows_insert
from processes.languages.models import LanguagePreference
from processes.languages.selectors import languages_of
from processes.locks import prepared_read
from processes.models import Delivery, Notification, NotificationKind, NotificationPreference
from processes.notifications.audiences import process_permission, users_holding
from processes.notifications.channels import (
    OPERATIONS_CHANNEL,
    perm_channel,
    process_channel,
    user_channel,
    wake_on_commit,
)
from processes.notifications.selectors import process_url, task_url
from processes.planned import planned_cursor
from processes.registry import registry

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django_stubs_ext import StrOrPromise
    from viewflow.fsm.base import TransitionBoundMethod
    from viewflow.workflow.activation import Activation
    from viewflow.workflow.models import Process
    from viewflow.workflow.status import STATUS


# ---------------------------------------------------------------- the outbox


def notifications_record(
    *,
    user_ids: Iterable[int],
    kind: str,
    title: StrOrPromise,
    body: StrOrPromise = "",
    url: str = "",
    process: Process | None = None,
    task: Task | None = None,
    actor: User | None = None,
    wake_users: bool = True,
    substitute: bool = True,
) -> list[Notification]:
    """Write one notification per recipient, in the caller's transaction, as each one prefers.

    Recipients who chose "not at all" for this kind get no row; "by email" gets a row (it shows in
    the notification center) and an email after commit. `user_ids` may be a query of user ids: it
    is then read in the query that reads the recipients' preferences. `wake_users=False` when the caller wakes
    a channel all recipients listen on anyway (a queue's `perm.` channel). A lazy `title` or
    `body` (gettext_lazy, format_lazy) is written in each recipient's own language. A task
    notification to someone who is away goes to their substitute instead, "on behalf of" them
    (`substitute=False`: as addressed; ADR 0023).
    """
    kind = NotificationKind(kind)
    check_away = substitute and kind in _FOR_SUBSTITUTES
    if isinstance(user_ids, QuerySet):  # who they are and how to write to them: one query
        recipients = _recipients(user_ids, kind=kind, away=check_away, language=_lazy(title, body))
        ids = sorted(recipients)
    else:
        ids = sorted({int(pk) for pk in user_ids})
        recipients = _recipients(ids, kind=kind, away=check_away, language=_lazy(title, body)) if ids else {}
    if not ids:
        return []
    stand_ins: list[Notification] = []
    away = [pk for pk in ids if pk in recipients and recipients[pk].away]
    if away:
        ids, stand_ins = _to_substitutes(
            ids, away, kind=kind, title=title, body=body, url=url, process=process, task=task, actor=actor
        )
        if not ids:
            return stand_ins
    now = timezone.now()
    unknown = _Recipient(None, settings.LANGUAGE_CODE if _lazy(title, body) else None, False)
    texts: dict[str | None, tuple[str, str]] = {}  # written once per language, not per recipient

    def texts_in(language: str | None) -> tuple[str, str]:
        if language not in texts:
            texts[language] = (in_language(title, language)[:200], in_language(body, language)[:500])
        return texts[language]

    actor_name, row_url = (actor.get_username() if actor else ""), url[:300]
    rows = [
        Notification(
            user_id=pk,
            kind=kind,
            delivery=recipient.delivery or Delivery.LIVE,
            title=written[0],
            body=written[1],
            url=row_url,
            process=process,
            task=task,
            actor_name=actor_name,
            created_at=now,
        )
        for pk in ids
        for recipient in [recipients.get(pk, unknown)]
        if recipient.delivery != Delivery.OFF
        for written in [texts_in(recipient.language)]
    ]
    rows_insert(Notification, rows)
    if wake_users:
        wake_on_commit(user_channel(row.user_id) for row in rows)
    emailed = [row.user_id for row in rows if row.delivery == Delivery.EMAIL]
    if emailed:
        _email(emailed, kind=kind, title=title, body=body, url=url, process=process, task=task)
    return rows + stand_ins


# The task notifications a substitute gets in place of an absent user (not "taken away from you":
# that one is the absent user's own news).
_FOR_SUBSTITUTES = frozenset(
    {
        NotificationKind.TASK_QUEUED,
        NotificationKind.TASK_ASSIGNED,
        NotificationKind.TASK_DELEGATED,
        NotificationKind.TASK_REMINDER,
        NotificationKind.TASK_ESCALATED,
    }
)


@dataclass(frozen=True)
class _Recipient:
    delivery: str | None  # their preference for the kind (None: no row, live)
    language: str | None  # the language to write to them in (None: the texts are plain)
    away: bool  # an absence is in force (only asked for the kinds substitutes get)


def _recipients(ids: list[int] | QuerySet, *, kind: str, away: bool, language: bool) -> dict[int, _Recipient]:
    """What writing to each of `ids` (a list, or a query of user ids) depends on, in one query:
    their delivery preference for `kind`, their language (`language`: as `languages_of` says) and
    whether they are away (`away`)."""
    if isinstance(ids, QuerySet):  # an audience: the same statement each time, planned once a connection
        ids_sql, ids_params = ids.query.sql_with_params()
        cursor_of: Any = planned_cursor
    else:  # a list: a statement for each length
        ids_sql, ids_params = ", ".join(["%s"] * len(ids)), tuple(ids)
        cursor_of = connection.cursor
    params: list[Any] = [kind]
    if away:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        params += [now, now]
    with cursor_of() as cursor:
        cursor.execute(f"{_recipients_sql(away, language)}{ids_sql})", [*params, *ids_params])
        rows = cursor.fetchall()
    return {
        row[0]: _Recipient(
            row[1],
            (row[2] or settings.LANGUAGE_CODE) if language else None,
            bool(row[3]) if away else False,
        )
        for row in rows
    }


@functools.cache
def _recipients_sql(away: bool, language: bool) -> str:
    """`_recipients`' statement up to `IN (`, for the ids' list or query and `)`: the user's id, their
    delivery preference for one kind, their language and whether an absence is in force. Raw SQL
    because it runs on every task state change: the same as ORM subqueries costs several
    milliseconds of query building each time (docs/benchmarks.md, issue 16)."""
    from processes.absences.models import Absence

    quote = connection.ops.quote_name

    def table(model: Any) -> str:
        return quote(model._meta.db_table)

    def column(model: Any, name: str) -> str:
        return quote(model._meta.get_field(name).column)

    user_model = get_user_model()
    pk = quote(user_model._meta.pk.column)
    pref = NotificationPreference
    columns = [
        f"(SELECT np.{column(pref, 'delivery')} FROM {table(pref)} np WHERE np.{column(pref, 'user')} = u.{pk} "  # noqa: S608
        f"AND np.{column(pref, 'kind')} = %s LIMIT 1)",
        f"(SELECT lp.{column(LanguagePreference, 'language')} FROM {table(LanguagePreference)} lp "  # noqa: S608
        f"WHERE lp.{column(LanguagePreference, 'user')} = u.{pk} LIMIT 1)"
        if language
        else "NULL",
        f"EXISTS (SELECT 1 FROM {table(Absence)} a WHERE a.{column(Absence, 'user')} = u.{pk} "  # noqa: S608
        f"AND a.{column(Absence, 'starts_at')} <= %s AND a.{column(Absence, 'ends_at')} > %s "
        f"AND a.{column(Absence, 'cancelled_at')} IS NULL)"
        if away
        else "NULL",
    ]
    return f"SELECT u.{pk}, {', '.join(columns)} FROM {table(user_model)} u WHERE u.{pk} IN ("  # noqa: S608


def _to_substitutes(
    ids: list[int], away: list[int], *, kind: str, title: StrOrPromise, process: Process | None, **text: Any
) -> tuple[list[int], list[Notification]]:
    """Split `ids` into those who are here and the notifications written for the substitutes of
    those who are `away` (once each: not to a substitute already addressed, nor about a process they
    may not see)."""
    from processes.absences.selectors import absences_active_by_user
    from processes.gate import process_visible_to

    absences = absences_active_by_user(away)
    if not absences:
        return ids, []
    here = [pk for pk in ids if pk not in absences]
    rows: list[Notification] = []
    addressed = set(here)
    for absence in absences.values():
        substitute = absence.substitute
        if substitute.pk in addressed or not substitute.is_active:
            continue
        if process is not None and not process_visible_to(user=substitute, process=process):
            continue
        addressed.add(substitute.pk)
        rows += notifications_record(
            user_ids=[substitute.pk],
            kind=kind,
            title=format_lazy(_("{title} (on behalf of {user})"), title=title, user=_name(absence.user)),
            process=process,
            substitute=False,
            **text,
        )
    return here, rows


def _lazy(*texts: StrOrPromise) -> bool:
    return any(isinstance(text, Promise) for text in texts)


def in_language(text: StrOrPromise, language: str | None) -> str:
    """`text` as `language` writes it (a lazy translation), or as is (a plain str, or no language)."""
    if language is None or not isinstance(text, Promise):
        return str(text)
    with translation.override(language):
        return str(text)


def _email(
    user_ids: list[int],
    *,
    kind: str,
    title: StrOrPromise,
    body: StrOrPromise,
    url: str,
    process: Process | None,
    task: Task | None,
) -> None:
    """Queue the "by email" copies in the outbox (processes/mail), in the caller's transaction."""
    from processes.mail.services import mail_queue

    link = f"{settings.PORTAL_BASE_URL}{url}" if url else settings.PORTAL_BASE_URL
    users = list(get_user_model().objects.filter(pk__in=user_ids).exclude(email=""))
    languages = languages_of(user_ids=[user.pk for user in users]) if users else {}
    for user in users:  # each in their own language, not the one of whoever acted
        language = languages[user.pk]
        mail_queue(
            kind=f"notification.{kind}",
            to_user=user,
            subject=in_language(title, language),
            text=f"{in_language(body, language)}\n\n{link}\n".lstrip(),
            process=process,
            task=task,
        )


def task_text(task: Task, process: Process) -> tuple[StrOrPromise, str]:
    """A task's title (lazy: each recipient reads it in their language) and its process's
    summary (its descriptor's), for notification texts."""
    flow_task = task.flow_task
    return flow_task.task_title or flow_task.name, process_summary(process)


def process_summary(process: Process) -> str:
    """`process`'s one line, as its descriptor words it (plain text: viewflow's `brief` renders an
    HTML template, escaped, and compiles it on each call)."""
    process = process.coerced  # the process type's own model, as the descriptor's hooks take it
    return registry.for_process(process).summary(process)


def _name(user: User | None) -> StrOrPromise:
    return (user.get_full_name() or user.get_username()) if user else _("the system")


# ---------------------------------------------------------------- task transitions


@dataclass
class _Change:
    """One human task transition, with what the notification texts need."""

    task: Task
    process: Process
    actor: User | None
    title: StrOrPromise
    brief: str
    url: str

    def record(
        self, user_ids: Iterable[int], kind: str, title: StrOrPromise, wake_users: bool = True
    ) -> list[Notification]:
        return notifications_record(
            user_ids=user_ids,
            kind=kind,
            title=title,
            body=self.brief,
            url=self.url,
            process=self.process,
            task=self.task,
            actor=self.actor,
            wake_users=wake_users,
        )


def notify_transition(
    activation: Activation, descriptor: TransitionBoundMethod, source: STATUS, target: STATUS, **kwargs: Any
) -> None:
    """viewflow FSM hook (next to the audit hook): notify whoever a task state change concerns."""
    name = descriptor._func.__name__
    task = activation.task
    process = activation.process
    node_type = getattr(task.flow_task, "task_type", "")
    previous_owner_id = getattr(task, "_live_owner_id", None)
    task._live_owner_id = task.owner_id
    channels = {process_channel(process.pk)} if process.pk else set()  # the process page shows every status
    channels.add(OPERATIONS_CHANNEL)  # the operations dashboards count every state

    if node_type == "HUMAN":
        _notify_human(name, activation, previous_owner_id, channels)
    elif name == "error":
        flow_class = activation.flow_class
        managers = users_holding(process_permission(flow_class, "manage")).values_list("pk", flat=True)
        title, brief = task_text(task, process)
        notifications_record(
            user_ids=managers,
            kind=NotificationKind.JOB_FAILED,
            title=format_lazy(_("Failed: {title}"), title=title),
            body=brief,
            url=task_url(task) or process_url(process),
            process=process,
            task=task,
        )
    elif name == "complete" and node_type == "END":
        _notify_requester_completed(task, process)
    wake_on_commit(channels)


def _notify_human(
    name: str, activation: Activation, previous_owner_id: int | None, channels: set[str]
) -> None:
    task, process = activation.task, activation.process
    actor = current_actor()
    actor_id = actor.pk if actor else None
    title, brief = task_text(task, process)
    change = _Change(task, process, actor, title, brief, task_url(task))
    permission = task.owner_permission
    if permission:
        channels.add(perm_channel(permission))  # the queue of everyone who may take it
    for owner_id in {task.owner_id, previous_owner_id} - {None}:
        channels.add(user_channel(owner_id))  # their inbox

    owner_id = task.owner_id
    if name == "activate" and owner_id is None and permission:
        view = process_permission(activation.flow_class, "view")
        candidates = users_holding(permission, view).exclude(pk=actor_id).values_list("pk", flat=True)
        change.record(
            candidates,
            NotificationKind.TASK_QUEUED,
            format_lazy(_("New in your queue: {title}"), title=title),
            wake_users=False,
        )
    elif name in ("activate", "assign") and owner_id and owner_id != actor_id:
        change.record(
            [owner_id],
            NotificationKind.TASK_ASSIGNED,
            format_lazy(_("{actor} assigned you: {title}"), actor=_name(actor), title=title),
        )
    elif name == "reassign" and owner_id != previous_owner_id:
        if owner_id and owner_id != actor_id:
            delegated = actor_id is not None and actor_id == previous_owner_id
            kind = NotificationKind.TASK_DELEGATED if delegated else NotificationKind.TASK_ASSIGNED
            text = _("{actor} delegated to you: {title}") if delegated else _("{actor} assigned you: {title}")
            change.record([owner_id], kind, format_lazy(text, actor=_name(actor), title=title))
        if previous_owner_id and previous_owner_id != actor_id:
            new_owner = get_user_model().objects.filter(pk=owner_id).first()
            change.record(
                [previous_owner_id],
                NotificationKind.TASK_TAKEN,
                format_lazy(
                    _("{actor} reassigned your task to {owner}: {title}"),
                    actor=_name(actor),
                    owner=_name(new_owner),
                    title=title,
                ),
            )
    elif name == "unassign" and previous_owner_id and previous_owner_id != actor_id:
        change.record(
            [previous_owner_id],
            NotificationKind.TASK_TAKEN,
            format_lazy(
                _("{actor} put your task back in the queue: {title}"), actor=_name(actor), title=title
            ),
        )


def _requester_id(process: Process) -> int | None:
    """Who started `process`, as its descriptor says (the requester who hears of decisions)."""
    return registry.for_process(process).starter_id(process)


def _notify_requester_completed(task: Task, process: Process) -> None:
    requester_id = _requester_id(process)
    if requester_id is None:
        return
    # A rejection already told the requester why; its End needs no second notification.
    told = prepared_read(  # on every end: compiled once, planned once a connection (ADR 0033)
        "notify.rejection_told",
        lambda user_pk, process_pk: Notification.objects.filter(
            user_id=user_pk, process_id=process_pk, kind=NotificationKind.REQUEST_REJECTED
        ).only("pk")[:1],
        requester_id,
        process.pk,
    )
    if told.run():
        return
    notifications_record(
        user_ids=[requester_id],
        kind=NotificationKind.REQUEST_COMPLETED,
        title=format_lazy(_("Completed: {brief}"), brief=process_summary(process)),
        body=task.flow_task.task_title or task.flow_task.name,
        url=process_url(process),
        process=process,
        task=task,
    )


# ---------------------------------------------------------------- business facts


def notify_request_decided(
    *, process: Process, approved: bool, actor: User | None, comment: str = "", email: bool = False
) -> None:
    """Tell the requester their request was approved or rejected (with the reason). `email`: the
    process type also emails the decision, whatever the requester's preference (once: not again
    when the preference emails it already)."""
    requester_id = _requester_id(process)
    if requester_id is None or requester_id == getattr(actor, "pk", None):
        return
    kind = NotificationKind.REQUEST_APPROVED if approved else NotificationKind.REQUEST_REJECTED
    title = _("{actor} approved: {brief}") if approved else _("{actor} rejected: {brief}")
    text = {
        "kind": kind,
        "title": format_lazy(title, actor=_name(actor), brief=process_summary(process)),
        "body": comment,
        "url": process_url(process),
        "process": process,
    }
    rows = notifications_record(user_ids=[requester_id], actor=actor, **text)
    if email and not any(row.delivery == Delivery.EMAIL for row in rows):
        _email([requester_id], task=None, **text)


def notify_task_reminder(*, task: Task, escalated: bool = False, to_user_ids: Iterable[int] = ()) -> list:
    """A reminder about a waiting task, or its escalation: the service escalation timers call.

    A reminder goes to the task's owner, or to its queue's candidates when nobody holds it. An
    escalation goes to `to_user_ids` (the escalation target) and also tells the owner.
    """
    task = Task.objects.select_related("process").get(pk=task.pk)
    process = task.process.coerced if task.process.flow_class else task.process
    title, brief = task_text(task, process)
    url = task_url(task)
    if task.owner_id:
        holders = [task.owner_id]
    elif task.owner_permission:
        view = process_permission(task.flow_task.flow_class, "view")
        holders = list(users_holding(task.owner_permission, view).values_list("pk", flat=True))
    else:
        holders = []
    common = {"body": brief, "url": url, "process": process, "task": task}
    if not escalated:
        return notifications_record(
            user_ids=holders,
            kind=NotificationKind.TASK_REMINDER,
            title=format_lazy(_("Reminder: {title}"), title=title),
            **common,
        )
    rows = notifications_record(
        user_ids=[pk for pk in to_user_ids if pk not in holders],
        kind=NotificationKind.TASK_ESCALATED,
        title=format_lazy(_("Escalated to you: {title}"), title=title),
        **common,
    )
    rows += notifications_record(
        user_ids=holders,
        kind=NotificationKind.TASK_ESCALATED,
        title=format_lazy(_("Escalated (overdue): {title}"), title=title),
        **common,
    )
    wake_on_commit([process_channel(process.pk)])
    return rows


# ---------------------------------------------------------------- the user's own


def notification_mark_read(*, user: User, notification_id: int) -> Notification:
    notification = Notification.objects.get(pk=notification_id, user=user)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        wake_on_commit([user_channel(user.pk)])
    return notification


def notifications_mark_all_read(*, user: User) -> int:
    count = Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())
    if count:
        wake_on_commit([user_channel(user.pk)])
    return count


def notification_preferences_set(*, user: User, deliveries: dict[str, str]) -> None:
    """Store how `user` wants to hear of each kind (live, email, off)."""
    for kind, delivery in deliveries.items():
        NotificationPreference.objects.update_or_create(
            user=user, kind=NotificationKind(kind), defaults={"delivery": Delivery(delivery)}
        )
