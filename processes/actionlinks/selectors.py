"""Read side of email action links: find a token by its secret, and decide whether it may act.

`link_refusal` is the one place that says why a link must not act. The GET (confirmation page)
and the POST (under the flow lock, after re-reading everything) both call it, so the page a
person sees and the decision the POST takes never disagree.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone
from viewflow.workflow.status import STATUS

from processes.actionlinks.models import ActionToken
from processes.gate import TaskAction, execute_action, task_allows
from processes.models import AuditEvent
from processes.notifications.selectors import process_url, task_url
from processes.registry import registry

# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
OPEN_STATUSES = (STATUS.NEW, STATUS.ASSIGNED)
# Refusal reasons in words, for the process history.
REASON_TEXT = {
    "unknown": "unknown or damaged link",
    "used": "already used",
    "expired": "expired",
    "wrong_user": "someone else was logged in",
    "decided": "the task was already decided",
    "closed": "the task was closed",
    "reassigned": "the task changed hands since the email",
    "not_allowed": "the addressee may no longer decide it",
    "rate_limited": "too many requests",
    "busy": "the request was busy",
}


@dataclass(frozen=True)
class Refusal:
    """Why a link does not act: a reason code (audited), the HTTP status of its page, and facts
    for the page (who decided and when, who holds the task now...)."""

    reason: str
    status: int
    facts: dict[str, Any] = field(default_factory=dict)


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def action_token_for(*, raw: str) -> ActionToken | None:
    """The token a link's secret stands for, or None (malformed, tampered or unknown)."""
    if not TOKEN_RE.match(raw):
        return None
    return (
        ActionToken.objects.select_related("user", "task__owner", "task__process")
        .filter(token_hash=token_hash(raw))
        .first()
    )


def display_name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user else ""


def addressee_may_act(*, user: Any, task: Any) -> bool:
    """What the portal would let `user` do with `task` now (the gate): decide it if they hold it,
    or claim it from the queue and decide it. Inactive users, users who lost the task's candidate
    permission or the process's visibility, and whoever started the request, may not."""
    if user is None or not user.is_active:
        return False
    if task.owner_id is not None:
        return task_allows(user=user, task=task, action=execute_action(task.flow_task))
    return task_allows(user=user, task=task, action=TaskAction.CLAIM)


def _decision_of(task: Any) -> dict[str, Any]:
    approved, rejected = registry.for_task(task).decision_actions
    event = (
        AuditEvent.objects.filter(task_id=task.pk, action__in=[approved, rejected]).order_by("-id").first()
    )
    if event is not None:
        return {
            "decided_by": event.actor_name or "the system",
            "decided_at": event.created_at,
            "decision": "approved" if event.action == approved else "rejected",
        }
    return {
        "decided_by": display_name(task.owner) or "the system",
        "decided_at": task.finished,
        "decision": "",
    }


def holder_text(task: Any) -> str:
    """Who holds the task: its owner, or the queue of its candidate group."""
    if task.owner_id is not None:
        return display_name(task.owner)
    group = (task.data or {}).get("group")
    return f"the {group} queue (unclaimed)" if group else "the queue (unclaimed)"


def _state_changed(token: ActionToken, task: Any) -> bool:
    sent = (token.sent_status, token.sent_owner_id, token.sent_owner_permission)
    now = (task.status, task.owner_id, task.owner_permission or "")
    if sent == now:
        return False
    # The addressee claimed the queued task in the portal meanwhile: nothing they were not told.
    return not (
        token.sent_owner_id is None
        and task.owner_id == token.user_id
        and (task.owner_permission or "") == token.sent_owner_permission
    )


def link_refusal(*, token: ActionToken, viewer: Any = None, now: datetime | None = None) -> Refusal | None:
    """Why `token` must not act now (None: it may). `viewer` is the browser's logged-in user, if
    any; the checks run in the order a person would want to hear them."""
    now = now or timezone.now()
    task = token.task
    if token.used_at is not None:
        return Refusal("used", 410, {"used_at": token.used_at})
    if token.is_expired(now):
        return Refusal("expired", 410, {"expired_at": token.expires_at})
    if viewer is not None and viewer.is_authenticated and viewer.pk != token.user_id:
        return Refusal(
            "wrong_user", 403, {"viewer": viewer.get_username(), "addressee": token.user.get_username()}
        )
    if task.status == STATUS.DONE:
        return Refusal("decided", 409, _decision_of(task))
    if task.status not in OPEN_STATUSES:
        return Refusal("closed", 409, {"task_status": str(task.status), "closed_at": task.finished})
    if _state_changed(token, task):
        return Refusal("reassigned", 409, {"holder": holder_text(task)})
    if not addressee_may_act(user=token.user, task=task):
        return Refusal("not_allowed", 403, {"addressee": token.user.get_username()})
    return None


def link_summary(*, task: Any) -> dict[str, Any]:
    """What the email and the confirmation page show about the request behind `task`: its
    process type's task-list columns (processes/registry.py)."""
    process = task.process.coerced
    descriptor = registry.for_process(process)
    columns = descriptor.columns(task, process)
    due_at = columns.due_at
    return {
        "process": process,
        "process_title": descriptor.type_title(process),
        "task": task,
        "title": columns.subject,
        "amount": columns.amount,
        "currency": columns.currency,
        "requester": columns.requester,
        "stage": columns.stage_name,
        "due_at": due_at,
        "overdue": due_at is not None and due_at <= timezone.now(),
        "holder": holder_text(task),
        "portal_path": task_url(task) or process_url(process),
    }
