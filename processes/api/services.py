"""API clients and tokens: create, rotate, revoke (audited), and authenticate a token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from viewflow.workflow.models import Task
from viewflow.workflow.status import STATUS

from processes.api import selectors
from processes.api.keys import credentials_expire
from processes.api.models import ApiClient, ApiToken
from processes.api.problems import Problem
from processes.api.selectors import caller_user
from processes.audit import acting_as, audit_record, transition_details
from processes.gate import GateDenied, process_visible_to
from processes.registry import ApiStartInvalid, registry
from processes.services import task_claim, task_unclaim
from processes.tasklist.exceptions import TaskUnavailable

TOKEN_PREFIX = "ap"  # noqa: S105 - the tokens' public marker, not a secret
#: last_used_at is written at most this often per token: a busy client costs no write per call.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_issue(client: ApiClient) -> str:
    """A new token row for `client`; returns the token string (the only time it exists)."""
    prefix = secrets.token_hex(6)  # 12 hex characters, public: it finds the row
    secret = secrets.token_urlsafe(32)  # 32 bytes of randomness
    ApiToken.objects.create(client=client, prefix=prefix, digest=_digest(secret))
    return f"{TOKEN_PREFIX}_{prefix}_{secret}"


@transaction.atomic
def api_client_create(
    *,
    name: str,
    scopes: list[str],
    allowed_addresses: str = "",
    description: str = "",
    user: Any = None,
    acts_as: Any = None,
) -> tuple[ApiClient, str]:
    """A new API client and its first token (the token string is returned once, never stored);
    `acts_as`: the service account whose rights it uses on tasks and requests."""
    client = ApiClient(
        name=name,
        acts_as=acts_as,
        scopes=sorted(set(scopes)),
        allowed_addresses=allowed_addresses,
        description=description,
        created_by=user if getattr(user, "pk", None) else None,
    )
    client.full_clean()
    client.save()
    token = _token_issue(client)
    audit_record(
        action="api.client_created",
        actor=user if getattr(user, "pk", None) else None,
        details={
            "client": client.name,
            "scopes": client.scopes,
            **({"acts_as": acts_as.get_username()} if acts_as is not None else {}),
        },
    )
    return client, token


@transaction.atomic
def api_token_issue_first(*, client: ApiClient, user: Any = None) -> str:
    """The first token of a client made elsewhere (the admin's add form)."""
    token = _token_issue(client)
    audit_record(
        action="api.token_issued",
        actor=user if getattr(user, "pk", None) else None,
        details={"client": client.name},
    )
    return token


@transaction.atomic
def api_token_rotate(*, client: ApiClient, overlap: timedelta = timedelta(hours=24), user: Any = None) -> str:
    """A new token for `client`; its tokens that still work expire after `overlap` (so a system
    can switch to the new one without downtime). Returns the new token string."""
    until = credentials_expire(ApiToken.objects.filter(client=client), overlap)
    new = _token_issue(client)
    audit_record(
        action="api.token_rotated",
        actor=user if getattr(user, "pk", None) else None,
        details={"client": client.name, "old_tokens_expire_at": until.isoformat()},
    )
    return new


@transaction.atomic
def api_token_revoke(*, target: ApiClient | ApiToken, user: Any = None) -> int:
    """Revoke one token, or every token of a client at once. Returns how many that still worked
    were revoked."""
    tokens = (
        ApiToken.objects.filter(client=target)
        if isinstance(target, ApiClient)
        else ApiToken.objects.filter(pk=target.pk)
    )
    now = timezone.now()
    usable = tokens.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
    count = usable.update(revoked_at=now)
    client = target if isinstance(target, ApiClient) else target.client
    audit_record(
        action="api.token_revoked",
        actor=user if getattr(user, "pk", None) else None,
        details={"client": client.name, "tokens": count},
    )
    return count


def api_token_authenticate(token: str, remote_addr: str | None) -> ApiClient | None:
    """The active client whose usable token this is, called from an allowed address; else None.

    The prefix finds the row; the secret's digest is compared in constant time. Unknown, revoked
    and expired tokens, inactive clients and addresses outside the allow-list all give None.
    """
    parts = token.split("_", 2) if token else []
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    _, prefix, secret = parts
    row = ApiToken.objects.select_related("client").filter(prefix=prefix).first()
    digest = _digest(secret)
    if row is None:
        hmac.compare_digest(digest, digest)  # the same work as a known prefix
        return None
    if not hmac.compare_digest(row.digest, digest):
        return None
    now = timezone.now()
    if not row.usable(now) or not row.client.active or not row.client.address_allowed(remote_addr):
        return None
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.client


# ---------------------------------------------------------------- writes through the API


def _acting_user(caller: Any) -> Any:
    user = caller_user(caller)
    if user is None:
        raise Problem(
            403,
            "This API client acts as no user: an admin sets its service account (acts as) to let "
            "it act on tasks.",
            slug="no-acting-user",
        )
    return user


def _client_details(caller: Any) -> dict[str, Any]:
    return {"api_client": caller.name} if isinstance(caller, ApiClient) else {}


def api_process_start(*, caller: Any, type_label: str, kind: str, data: dict[str, Any]) -> Any:
    """Start a process of the type (`type_label`, `kind`) the caller may start, with `data`
    validated against the version it pins (the descriptor's `api_start`). Runs in the caller's
    transaction. Problems: 403 when the caller may not start it, 422 with errors by field."""
    flow = selectors.flow_by_label(type_label, loc="type")
    descriptor = registry.for_flow(flow)
    user, system = caller_user(caller), isinstance(caller, ApiClient)
    kinds = {entry.kind for entry in descriptor.api_start_types(user=user, system=system)}
    if kind not in kinds:
        raise Problem(
            403,
            "You may not start this process type through the API; GET /api/v1/process-types lists "
            "what you may start.",
        )
    try:
        with acting_as(None if system else user), transition_details(**_client_details(caller)):
            process = descriptor.api_start(kind=kind, data=data, user=user, system=system)
    except ApiStartInvalid as exc:
        errors = [
            {"loc": ["body", "payload", "data", *([field] if field else [])], "msg": msg}
            for field, msgs in exc.errors.items()
            for msg in msgs
        ]
        raise Problem(422, "The process's data is not valid.", errors) from None
    except PermissionDenied:
        raise Problem(403, "You may not start this process type.") from None
    audit_record(
        action="api.process_started",
        process=process,
        actor=None if system else user,
        details={"type": type_label, "kind": kind, **_client_details(caller)},
    )
    return process


def _task_for(*, caller: Any, user: Any, task_id: int) -> Task:
    """The task, or a 404 problem when it does not exist or its process is hidden from `user`
    (a client reading with processes:read sees every process, but acts with its user's rights)."""
    task = Task.objects.select_related("process", "owner").filter(pk=task_id).first()
    if task is None or not process_visible_to(user=user, process=task.process):
        raise Problem(404, "No such task.")
    return task


def _refused(task: Task, user: Any, exc: PermissionDenied, *, deciding: bool = False) -> Problem:
    """A refusal of the gate, or a task that changed meanwhile, as a problem."""
    task.refresh_from_db()
    if deciding and task.status == STATUS.DONE:
        return Problem(409, f"Task #{task.pk} is already decided.", slug="task-already-decided")
    if isinstance(exc, TaskUnavailable):
        return Problem(409, str(exc), slug="task-unavailable")
    if isinstance(exc, GateDenied) and exc.reason == "not_visible":
        return Problem(404, "No such task.")
    reason = getattr(exc, "reason", "")
    errors: list[dict[str, Any]] | None = [{"loc": [], "msg": reason}] if reason else None
    return Problem(403, str(exc) or "You may not do this.", errors, slug="permission-denied")


def _task_transition(*, caller: Any, task_id: int, transition: Any) -> Task:
    """Run `transition` (task_claim or task_unclaim) on the task as the caller (a person, or the
    client's service account), through the gate; the task as it is afterwards."""
    user = _acting_user(caller)
    task = _task_for(caller=caller, user=user, task_id=task_id)
    try:
        with transition_details(**_client_details(caller)):
            transition(task=task, user=user)
    except PermissionDenied as exc:
        raise _refused(task, user, exc) from None
    task.refresh_from_db()
    return task


def api_task_claim(*, caller: Any, task_id: int) -> Task:
    """Claim a queued task as the caller (a person, or the client's service account): the gate."""
    return _task_transition(caller=caller, task_id=task_id, transition=task_claim)


def api_task_release(*, caller: Any, task_id: int) -> Task:
    """Put a claimed task back in its queue (its holder, or a process manager): the gate."""
    return _task_transition(caller=caller, task_id=task_id, transition=task_unclaim)


def api_task_decide(*, caller: Any, task_id: int, approved: bool, comment: str) -> Task:
    """Approve or reject a task the caller holds, with the descriptor's `decide` (the gate,
    segregation of duties included). A task decided already is a 409 `task-already-decided`."""
    user = _acting_user(caller)
    task = _task_for(caller=caller, user=user, task_id=task_id)
    descriptor = registry.for_task(task)
    if not descriptor.decides(task):
        raise Problem(422, f"Task #{task.pk} is not decided with approve or reject.")
    if task.status == STATUS.DONE:
        raise Problem(409, f"Task #{task.pk} is already decided.", slug="task-already-decided")
    comment = comment.strip()
    if not approved and not comment:
        raise Problem(
            422,
            "A rejection needs a comment.",
            [{"loc": ["body", "payload", "comment"], "msg": "Say why the request is rejected."}],
        )
    try:
        with transition_details(**_client_details(caller)):
            descriptor.decide(task=task, user=user, approved=approved, comment=comment)
    except PermissionDenied as exc:
        raise _refused(task, user, exc, deciding=True) from None
    task.refresh_from_db()
    return task
