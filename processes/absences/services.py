"""Writes of absences: set and cancel one, and hand an absent user's tasks to their substitute.

Rules (ADR 0023):
- An absence runs from `starts_at` to `ends_at` (ends after it starts, not in the past); a user
  has at most one absence at a time (no overlap); the substitute is another active user who holds
  every task-holding right the user holds (processes.absences.selectors.rights_missing: the
  refusal lists what is missing). No chains: the substitute may not be away during the absence,
  and a user standing in for someone may not be away while they do. Routing therefore never
  follows more than one hop.
- Routing re-checks at the moment a task moves: `may_hold(substitute, task)` and segregation of
  duties (the substitute did not start the process). A task that cannot go to the substitute is
  not handed over: it goes back to its queue, audited as `absence.handover_refused`.
- Whoever sets it: the user, a superuser, or a manager of a process type whose tasks the user may
  hold (selectors.may_set_absence_for).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.absences.models import Absence
from processes.absences.selectors import (
    absences_active_by_user,
    may_set_absence_for,
    permission_names,
    rights_missing,
)
from processes.audit import ON_BEHALF_KEY, acting_as, audit_record, transition_details
from processes.gate import may_hold, task_is_personal
from processes.models import NotificationKind
from processes.registry import registry

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

logger = structlog.get_logger(__name__)

REASON_MAX_LENGTH = 200


def _when(value: datetime) -> str:
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _absence_problems(
    *, user: User, substitute: User | None, starts_at: Any, ends_at: Any, reason: str
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if not isinstance(starts_at, datetime) or timezone.is_naive(starts_at):
        add("starts_at", _("Give a date and time."))
    if not isinstance(ends_at, datetime) or timezone.is_naive(ends_at):
        add("ends_at", _("Give a date and time."))
    if len(reason) > REASON_MAX_LENGTH:
        add("reason", _("Keep the reason under %(max)d characters.") % {"max": REASON_MAX_LENGTH})
    if substitute is None:
        add("substitute", _("Choose a substitute."))
    elif substitute.pk == user.pk:
        add("substitute", _("Choose someone else as your substitute."))
    elif not substitute.is_active:
        add("substitute", _("%(user)s cannot sign in: choose an active colleague.") % {"user": substitute})
    if errors:
        return errors
    assert substitute is not None  # for mypy: checked above
    if ends_at <= starts_at:
        add("ends_at", _("The absence must end after it starts."))
    elif ends_at <= timezone.now():
        add("ends_at", _("The absence must not be over already."))
    if errors:
        return errors
    missing = rights_missing(user=user, substitute=substitute)
    if missing:
        add(
            "substitute",
            _("%(substitute)s lacks rights %(user)s holds: %(rights)s.")
            % {"substitute": substitute, "user": user, "rights": "; ".join(permission_names(missing))},
        )
    overlapping = Absence.objects.overlapping(starts_at, ends_at)
    own = overlapping.filter(user=user).first()
    if own is not None:
        add(
            "starts_at",
            _("%(user)s is already away from %(start)s to %(end)s: cancel that absence first.")
            % {"user": user, "start": _when(own.starts_at), "end": _when(own.ends_at)},
        )
    away = overlapping.filter(user=substitute).first()
    if away is not None:
        add(
            "substitute",
            _("%(substitute)s is away too (%(start)s to %(end)s): choose someone who is here.")
            % {"substitute": substitute, "start": _when(away.starts_at), "end": _when(away.ends_at)},
        )
    standing_in = overlapping.filter(substitute=user).select_related("user").first()
    if standing_in is not None:
        add(
            "starts_at",
            _("%(user)s stands in for %(other)s then (%(start)s to %(end)s): that would make a chain.")
            % {
                "user": user,
                "other": standing_in.user,
                "start": _when(standing_in.starts_at),
                "end": _when(standing_in.ends_at),
            },
        )
    return errors


@transaction.atomic
def absence_set(
    *,
    actor: User,
    user: User,
    substitute: User | None,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
) -> Absence:
    """Record that `user` is away from `starts_at` to `ends_at` and `substitute` takes their
    tasks. PermissionDenied unless `actor` may set it; ValidationError (by field) for the rules in
    the module docstring. Audited (`absence.set`); the substitute is told; an absence that has
    started hands the user's held tasks over at once (the beat sweep does it for later ones)."""
    if not may_set_absence_for(actor, user):
        raise PermissionDenied(_("You may not set an absence for %(user)s.") % {"user": user})
    reason = (reason or "").strip()
    errors = _absence_problems(
        user=user, substitute=substitute, starts_at=starts_at, ends_at=ends_at, reason=reason
    )
    if errors:
        raise ValidationError(errors)
    assert substitute is not None  # for mypy: _absence_problems refuses None
    absence = Absence(
        user=user, substitute=substitute, starts_at=starts_at, ends_at=ends_at, reason=reason, set_by=actor
    )
    absence.full_clean()
    absence.save()
    audit_record(
        action="absence.set",
        actor=actor,
        details={
            "absence": absence.pk,
            "user": user.get_username(),
            "substitute": substitute.get_username(),
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
            **({"reason": reason} if reason else {}),
        },
    )
    from processes.notifications.services import notifications_record

    notifications_record(
        user_ids=[substitute.pk],
        kind=NotificationKind.INSTANCE_CHANGED,
        title=format_lazy(
            gettext_lazy("You stand in for {user} from {start} until {end}"),
            user=user.get_full_name() or user.get_username(),
            start=_when(starts_at),
            end=_when(ends_at),
        ),
        body=reason,
        url=reverse("absence"),
        actor=actor,
        substitute=False,
    )
    if absence.is_active():
        absence_tasks_hand_over(absence=absence)
    return absence


@transaction.atomic
def absence_cancel(*, actor: User, absence: Absence) -> Absence:
    """End an absence now (or drop one that has not started). Tasks handed over stay with the
    substitute: they are in the middle of them. Audited (`absence.cancelled`)."""
    absence = Absence.objects.select_for_update().select_related("user", "substitute").get(pk=absence.pk)
    if not may_set_absence_for(actor, absence.user):
        raise PermissionDenied(_("You may not change the absence of %(user)s.") % {"user": absence.user})
    if absence.cancelled_at is not None or absence.ends_at <= timezone.now():
        raise ValidationError(_("This absence is over already."))
    absence.cancelled_at = timezone.now()
    absence.cancelled_by = actor
    absence.save(update_fields=["cancelled_at", "cancelled_by"])
    audit_record(
        action="absence.cancelled",
        actor=actor,
        details={
            "absence": absence.pk,
            "user": absence.user.get_username(),
            "substitute": absence.substitute.get_username(),
        },
    )
    return absence


# ---------------------------------------------------------------- routing


def substitute_may_hold(*, substitute: Any, task: Task) -> bool:
    """May `substitute` be handed `task` now: its rights (may_hold) and segregation of duties
    (they did not start its process)?"""
    if not may_hold(substitute, task):
        return False
    return registry.for_task(task).starter_id(task.process) != substitute.pk


def absence_route(*, task: Task, to_user: User, at: datetime | None = None) -> tuple[User, Absence | None]:
    """Who actually gets `task` when it is handed to `to_user`: `to_user`, or while they are away
    their substitute (with the absence, so the caller records "on behalf of"). A personal task
    (`.Assign(...)` by the flow) is never redirected."""
    if task_is_personal(task):
        return to_user, None
    absence = absences_active_by_user([to_user.pk], at).get(to_user.pk)
    if absence is None:
        return to_user, None
    return absence.substitute, absence


def absence_target_authorize(
    *, user: User | AnonymousUser, task: Task, action: Any, to_user: User
) -> tuple[User, Absence | None]:
    """For a person handing `task` to `to_user` (a delegation, a manager's reassignment), after
    the gate allowed `to_user`: who gets it (the substitute while `to_user` is away), checked by
    the gate too. GateDenied, saying why, when the substitute may not take it now."""
    from processes.gate import GateDenied, task_authorize

    target, absence = absence_route(task=task, to_user=to_user)
    if absence is None:
        return to_user, None
    why = _("%(user)s is away until %(end)s and %(substitute)s stands in for them") % {
        "user": to_user,
        "end": _when(absence.ends_at),
        "substitute": target,
    }
    if target.pk == user.pk:
        raise GateDenied("substitute_self", _("%(why)s: the task stays with you.") % {"why": why})
    try:
        task_authorize(user=user, task=task, action=action, target=target)
    except GateDenied as exc:
        raise GateDenied(
            exc.reason, _("%(why)s, who may not take it: %(refusal)s") % {"why": why, "refusal": exc}
        ) from exc
    return target, absence


def on_behalf_details(absence: Absence | None) -> dict[str, Any]:
    """What the audit rows of a hand-over to a substitute add: whose absence it follows."""
    if absence is None:
        return {}
    return {"on_behalf_of": absence.user.get_username(), "absence": absence.pk}


def on_behalf_mark(task: Task, absence: Absence | None) -> None:
    """Note on the task (saved by the caller's transition) that its holder acts for the absent
    user: audit rows its holder writes on it then say "on behalf of" (processes.audit)."""
    data = dict(task.data or {})
    if absence is None:
        data.pop(ON_BEHALF_KEY, None)
    else:
        data[ON_BEHALF_KEY] = {
            "user_id": absence.user_id,
            "user": absence.user.get_username(),
            "substitute_id": absence.substitute_id,
        }
    task.data = data


def absence_handover_refused(*, task: Task, absence: Absence, why: str) -> None:
    """Audit that `task` was not given to `absence`'s substitute, and why (the history shows it)."""
    audit_record(
        action="absence.handover_refused",
        task=task,
        details={
            "node": task.flow_task.name,
            "node_type": "HUMAN",
            "absence": absence.pk,
            "user": absence.user.get_username(),
            "substitute": absence.substitute.get_username(),
            "why": why,
        },
    )


def absence_task_hand_over(*, task: Task, absence: Absence) -> bool:
    """Give `task`, held by the absent user, to their substitute, under its flow lock (the caller's
    transaction). When the substitute may not hold it now (rights, or they started its process),
    it goes back to its queue instead. Audited either way (`absence.task_handed_over`, or
    `absence.handover_refused`); the transitions notify as always. True when handed over."""
    with acting_as(None), task.activation() as activation:
        task = activation.task
        if task.status != STATUS.ASSIGNED or task.owner_id != absence.user_id or task_is_personal(task):
            return False
        substitute = absence.substitute
        on_behalf = on_behalf_details(absence)
        if substitute.is_active and substitute_may_hold(substitute=substitute, task=task):
            on_behalf_mark(task, absence)
            with transition_details(delegated=False, **on_behalf):
                activation.reassign(substitute)
            audit_record(
                action="absence.task_handed_over",
                task=task,
                details={
                    "node": task.flow_task.name,
                    "node_type": "HUMAN",
                    "to": substitute.get_username(),
                    **on_behalf,
                },
            )
            return True
        if not substitute.is_active:
            why = "substitute inactive"
        elif not may_hold(substitute, task):
            why = "substitute lacks the rights"
        else:
            why = "substitute started this request"
        on_behalf_mark(task, None)
        with transition_details(**on_behalf):
            activation.unassign()
        absence_handover_refused(task=task, absence=absence, why=why)
        return False


def absence_tasks_hand_over(*, absence: Absence) -> int:
    """Hand every people's task the absent user holds to their substitute (each under its own
    flow lock and savepoint, so one busy task does not stop the rest); the number handed over."""
    from viewflow.workflow.exceptions import FlowLockFailed

    count = 0
    held = Task.objects.filter(owner_id=absence.user_id, status=STATUS.ASSIGNED, flow_task_type="HUMAN")
    for task in held.select_related("process").order_by("pk"):
        if task_is_personal(task):
            continue
        try:
            with transaction.atomic():
                count += absence_task_hand_over(task=task, absence=absence)
        except FlowLockFailed:
            logger.info("absence.handover_busy", task_id=task.pk, absence=absence.pk)  # the next sweep
    return count


def absences_sweep(*, now: datetime | None = None) -> int:
    """Beat: hand over the tasks absent users still hold (an absence that began since the last
    sweep, or a task assigned to them meanwhile). Idempotent: a task handed over is held by the
    substitute, and is not seen again."""
    now = now or timezone.now()
    count = 0
    active = Absence.objects.active_at(now).select_related("user", "substitute")
    busy = set(
        Task.objects.filter(
            owner_id__in=active.values("user_id"), status=STATUS.ASSIGNED, flow_task_type="HUMAN"
        ).values_list("owner_id", flat=True)
    )
    for absence in active.filter(user_id__in=busy):
        count += absence_tasks_hand_over(absence=absence)
    return count
