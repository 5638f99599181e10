"""Write side of email action links: issue tokens, send the escalation email, act on a link.

A link's secret exists only in the email as delivered: the database keeps its sha256. The
escalation email is queued with placeholders (`[[action-link:<key>]]`, no secret); the outbox's
sender calls `escalation_email_finish` at each delivery attempt, which mints a fresh secret for
every token of the email, stores its hash and fills the links in, in memory (processes/mail). Following a link never
logs anyone in; the token stands for one person and one action on one task, once. Every email,
opened link, action and refusal is an audit event of the task's process, so the history shows it.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext
from viewflow.workflow.exceptions import FlowLockFailed
from viewflow.workflow.models import Task

from processes.actionlinks.models import ActionToken, LinkAction
from processes.actionlinks.selectors import (
    Refusal,
    addressee_may_act,
    display_name,
    link_refusal,
    link_summary,
    token_hash,
)
from processes.audit import audit_record
from processes.branding import PRODUCT_NAME
from processes.languages.formats import money_format
from processes.languages.selectors import language_of
from processes.mail.models import OutgoingEmail
from processes.mail.services import mail_queue
from processes.registry import registry

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from processes.policies.models import EscalationLevel

logger = structlog.get_logger(__name__)


class LinkRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


def link_url(raw: str) -> str:
    return f"{settings.PORTAL_BASE_URL}/links/{raw}/"


PLACEHOLDER_RE = re.compile(r"\[\[action-link:([A-Za-z0-9_-]{1,32})\]\]")
# What a placeholder whose token is gone (pruned) becomes in the email.
LINK_REMOVED = "[link removed]"


def link_placeholder(token: ActionToken) -> str:
    """What the stored email holds where the link goes: names the token, carries no secret. The
    key is random, so a request title cannot forge the placeholder of its own email's links."""
    return f"[[action-link:{token.placeholder}]]"


def action_tokens_issue(
    *, task: Task, addressee: User, level_order: int | None = None
) -> dict[str, ActionToken]:
    """Create an Approve and a Reject token for `addressee` on `task`, bound to the task's state
    now, by action. They work only once minted (`action_tokens_mint`): until then their hash is
    that of a secret nobody kept."""
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.ACTION_LINK_TTL_HOURS)
    tokens = {}
    for action in (LinkAction.APPROVE, LinkAction.REJECT):
        tokens[action.value] = ActionToken.objects.create(
            token_hash=token_hash(secrets.token_urlsafe(32)),
            placeholder=secrets.token_urlsafe(16),
            user=addressee,
            task=task,
            action=action,
            sent_status=task.status,
            sent_owner_id=task.owner_id,
            sent_owner_permission=task.owner_permission or "",
            escalation_level=level_order,
            created_at=now,
            expires_at=expires_at,
        )
    return tokens


def action_tokens_mint(*, tokens: list[ActionToken]) -> dict[int, str]:
    """Give each token a fresh random secret and store its hash; returns the secrets by token id.

    Each token has one hash, so minting again makes every earlier secret of that token useless
    (a retried email's links replace the previous attempt's). The secrets are returned, never
    stored: the caller puts them in the email it is sending and drops them."""
    now = timezone.now()
    raws = {}
    for token in tokens:
        raw = secrets.token_urlsafe(32)
        ActionToken.objects.filter(pk=token.pk).update(token_hash=token_hash(raw), minted_at=now)
        raws[token.pk] = raw
    return raws


def escalation_email_finish(email: OutgoingEmail) -> tuple[str, str]:
    """The outbox's finisher for escalation emails (processes/apps.py registers it): mint the
    links of `email`'s tokens and return its text and HTML with the links filled in.

    Runs in the sender's delivery transaction with the email's row locked: the hashes commit
    with the attempt's outcome. A crash before that commit rolls them back, so links of an email
    that left just before the crash never work, and the retry sends working ones; a failed
    attempt commits hashes whose secrets were dropped. Either way one set of links works, the
    one in the last email handed over."""
    tokens = list(ActionToken.objects.select_for_update().filter(email=email).order_by("pk"))
    raws = action_tokens_mint(tokens=tokens)
    text, html = email.text, email.html
    for token in tokens:
        url = link_url(raws[token.pk])
        text = text.replace(link_placeholder(token), url)
        html = html.replace(link_placeholder(token), escape(url))
    return PLACEHOLDER_RE.sub(LINK_REMOVED, text), PLACEHOLDER_RE.sub(LINK_REMOVED, html)


def action_tokens_prune(*, now: datetime | None = None) -> int:
    """Forget tokens `ACTION_LINK_KEEP_DAYS` after they expired; the audit trail keeps what they
    did. (Until then a late click gets the "expired" page rather than "unknown".)"""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.ACTION_LINK_KEEP_DAYS)
    deleted, _ = ActionToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted


def _escalation_subject(summary: dict[str, Any], level_order: int | None) -> str:
    values = {"product": PRODUCT_NAME, "title": summary["title"]}
    if summary["amount"] is not None:
        values["amount"] = money_format(summary["amount"], summary["currency"])
        subject = gettext("[%(product)s] Overdue: %(title)s (%(amount)s) needs a decision") % values
    else:
        subject = gettext("[%(product)s] Overdue: %(title)s needs a decision") % values
    if level_order is not None:
        subject = gettext("%(subject)s (escalation level %(level)s)") % {
            "subject": subject,
            "level": level_order,
        }
    return subject


@transaction.atomic
def escalation_email_send(
    *, task: Task, addressee: User, level: EscalationLevel | None = None, on_behalf_of: User | None = None
) -> None:
    """Email `addressee` that `task` (one its process type decides with a yes or no: its
    descriptor's `decision_nodes`) is overdue, with Approve, Reject and Open in portal links. Called by escalation (a level whose action emails its target).

    The tokens, the email (processes/mail: the outbox) and the `email.sent` audit event are
    written in the caller's transaction; the stored email holds placeholders where the links go,
    and the secrets are minted when it is delivered (`escalation_email_finish`). It leaves after
    commit, so a rolled-back
    escalation sends nothing and a committed one is retried until it goes out. Approve and Reject
    links are only included when the addressee could decide the task now (they hold it, or may
    claim it from its queue); otherwise the email says so and offers the portal link alone.
    An email the outbox finally gives up on is audited (`email.failed`) by the outbox.
    `on_behalf_of`: the absent user the addressee stands in for (ADR 0023); the email says so, and
    its links are the addressee's own.
    """
    task = Task.objects.select_related("owner", "process").get(pk=task.pk)
    if not registry.for_task(task).decides(task):
        raise ValueError(f"Task {task.pk} is not decided with a yes or no: no email links for it")
    level_order = getattr(level, "order", None)
    if not addressee.email:
        audit_record(
            action="email.skipped",
            task=task,
            details={"to_user": addressee.get_username(), "reason": "no email address", "level": level_order},
        )
        return
    may_act = addressee_may_act(user=addressee, task=task)
    tokens = action_tokens_issue(task=task, addressee=addressee, level_order=level_order) if may_act else {}
    # Written in the addressee's language, whoever's action escalated the task.
    with translation.override(language_of(user_id=addressee.pk)):
        summary = link_summary(task=task)
        context = {
            **summary,
            "PRODUCT_NAME": PRODUCT_NAME,
            "addressee": display_name(addressee),
            "on_behalf_of": display_name(on_behalf_of) if on_behalf_of is not None else "",
            "level": level_order,
            "may_act": may_act,
            "approve_url": link_placeholder(tokens["approve"]) if tokens else "",
            "reject_url": link_placeholder(tokens["reject"]) if tokens else "",
            "portal_url": f"{settings.PORTAL_BASE_URL}{summary['portal_path']}",
            "expires_hours": settings.ACTION_LINK_TTL_HOURS,
        }
        subject = _escalation_subject(summary, level_order)
        text = render_to_string("processes/actionlinks/email.txt", context)
        html = render_to_string("processes/actionlinks/email.html", context)
    audit_record(
        action="email.sent",
        task=task,
        details={
            "to_user": addressee.get_username(),
            "level": level_order,
            "links": bool(tokens),
            "kind": "escalation",
            **({"on_behalf_of": on_behalf_of.get_username()} if on_behalf_of is not None else {}),
        },
    )
    email = mail_queue(
        kind="escalation",
        to_user=addressee,
        subject=subject,
        text=text,
        html=html,
        headers={"X-Portal-Task": str(task.pk)},
        task=task,
    )
    if tokens:  # before the commit, so the after-commit delivery finds them
        ActionToken.objects.filter(pk__in=[t.pk for t in tokens.values()]).update(email=email)


def action_link_opened(*, token: ActionToken, ip: str, method: str) -> None:
    """Audit that a link's confirmation page was shown (a person, or a mail scanner's prefetch)."""
    audit_record(
        action="actionlink.opened",
        task=token.task,
        actor=token.user,
        details={"link": token.pk, "action": token.action, "ip": ip, "method": method},
    )


def action_link_refused(*, token: ActionToken | None, refusal: Refusal, ip: str) -> None:
    """Audit a refused link, with the reason (unknown tokens have no process to attach to)."""
    details: dict[str, Any] = {"reason": refusal.reason, "ip": ip}
    if token is not None:
        details.update(link=token.pk, action=token.action, addressee=token.user.get_username())
    if refusal.reason == "wrong_user":
        details["viewer"] = refusal.facts.get("viewer", "")
    audit_record(
        action="actionlink.refused",
        task=token.task if token is not None else None,
        actor=None if token is None else token.user,
        details=details,
    )


def action_link_use(
    *, token: ActionToken, comment: str, ip: str, viewer: User | AnonymousUser | None = None
) -> Refusal | None:
    """Take the link's action as its addressee: claim the task if it is queued, then approve or
    reject it through its process type's descriptor (`decide`). Returns None when done, or the
    refusal.

    The token is consumed first by a conditional UPDATE (two concurrent clicks: the second
    waits for the first's row lock, then finds it used). Then, under the process's flow lock,
    everything is read again and re-checked. A refusal rolls the consumption back and is audited.
    """
    from processes.services import task_claim

    try:
        with transaction.atomic():
            now = timezone.now()
            consumed = ActionToken.objects.filter(pk=token.pk, used_at__isnull=True).update(
                used_at=now, used_ip=ip or None
            )
            token = ActionToken.objects.select_related("user", "task").get(pk=token.pk)
            if not consumed:
                raise LinkRefused(Refusal("used", 410, {"used_at": token.used_at}))
            token.used_at = None  # judged as it was before this request consumed it
            with token.task.flow_task.flow_class.lock(token.task.process_id):
                token.task.refresh_from_db()
                token.user = get_user_model().objects.get(pk=token.user_id)  # fresh permissions
                refusal = link_refusal(token=token, viewer=viewer, now=now)
                if refusal is not None:
                    raise LinkRefused(refusal)
                task, user = token.task, token.user
                if task.owner_id is None:
                    task_claim(task=task, user=user)
                    task.refresh_from_db()
                registry.for_task(task).decide(task=task, user=user, approved=token.approves, comment=comment)
                audit_record(
                    action="actionlink.used",
                    task=task,
                    actor=user,
                    details={"link": token.pk, "action": token.action, "ip": ip},
                )
    except LinkRefused as refused:
        action_link_refused(token=token, refusal=refused.refusal, ip=ip)
        return refused.refusal
    except FlowLockFailed:  # a job or another person holds the process: the link stays unused
        refusal = Refusal("busy", 409)
        action_link_refused(token=token, refusal=refusal, ip=ip)
        return refusal
    return None
