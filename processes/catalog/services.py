"""Write-side use cases of the process catalog: define types, start, route and decide requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from processes.attachments.services import attachments_add
from processes.audit import audit_record
from processes.catalog.fields import value_text, value_to_json
from processes.catalog.models import MANAGED_BY, FieldKind, FormField, Outcome, ProcessType
from processes.catalog.selectors import type_locked_for_start, type_published_version, version_fields
from processes.catalog.signals import request_finished
from processes.notifications.services import notify_request_decided
from processes.policies.chain import chain_decision_is_final, chain_stage_after_decision, chain_stage_next
from processes.policies.models import ApprovalPolicy, PolicyVersion
from processes.policies.services import policy_stages_add, policy_version_publish
from processes.services import decision_record, task_executing


@transaction.atomic
def process_type_create(
    *,
    name: str,
    slug: str,
    description: str = "",
    icon: str = "assignment",
    starter_groups: list[Any] | None = None,
    on_approved: str = Outcome.NOTIFY,
    on_rejected: str = Outcome.NOTIFY,
    user: Any = None,
) -> ProcessType:
    """A new process type with its chain's policy and an empty first draft to fill in."""
    policy = ApprovalPolicy(name=f"catalog-{slug}"[:64], description=name[:200], managed_by=MANAGED_BY)
    policy.full_clean()
    policy.save()
    process_type = ProcessType(
        name=name,
        slug=slug,
        description=description,
        icon=icon,
        on_approved=on_approved,
        on_rejected=on_rejected,
        policy=policy,
    )
    process_type.full_clean()
    process_type.save()
    process_type.starter_groups.set(starter_groups or [])
    catalog_rights_grant(process_type=process_type)
    PolicyVersion.objects.create(policy=policy, number=1, note="First version")
    audit_record(
        action="catalog.type_created",
        actor=user if getattr(user, "pk", None) else None,
        details={"type": process_type.slug, "name": process_type.name},
    )
    return process_type


@transaction.atomic
def process_type_update(
    *,
    process_type: ProcessType,
    name: str,
    description: str,
    icon: str,
    starter_groups: list[Any],
    on_approved: str,
    on_rejected: str,
    user: Any = None,
) -> ProcessType:
    """Change a type's own attributes (its slug, in its addresses, stays). They are not
    versioned: the new name, starters and outcomes hold from now on, for the published version
    too. New starter groups get the catalog's rights."""
    process_type.name = name
    process_type.description = description
    process_type.icon = icon
    process_type.on_approved = on_approved
    process_type.on_rejected = on_rejected
    process_type.full_clean(exclude=["policy"])
    process_type.save(update_fields=["name", "description", "icon", "on_approved", "on_rejected"])
    ApprovalPolicy.objects.filter(pk=process_type.policy_id).update(description=name[:200])  # its label
    process_type.starter_groups.set(starter_groups)
    catalog_rights_grant(process_type=process_type)
    audit_record(
        action="catalog.type_changed",
        actor=user if getattr(user, "pk", None) else None,
        details={"type": process_type.slug, "name": process_type.name},
    )
    return process_type


def catalog_rights_grant(*, process_type: ProcessType) -> None:
    """Grant the catalog's view permission to the groups that take part in `process_type`: its
    starters, and the candidate and escalation groups of its published chain. The permission
    opens the catalog's pages and the queues' reminders, nothing more: each request stays
    visible only to the people who work on it (processes.gate). Idempotent; nothing is revoked
    (a group dropped from a type keeps the right to open requests it took part in)."""
    version = type_published_version(process_type)
    groups = set(process_type.starter_groups.all())
    if version is not None:
        for stage in version.stages.select_related("group", "escalation_group"):
            groups |= {group for group in (stage.group, stage.escalation_group) if group is not None}
    view = Permission.objects.get(content_type__app_label="catalog", codename="view_catalogrequest")
    for group in groups:
        group.permissions.add(view)


def _subject(process_type: ProcessType, fields: list[FormField], values: dict[str, Any]) -> str:
    """A request's one-line subject: the type's name and its first short text (or first value)."""
    first = next((f for f in fields if f.kind == FieldKind.TEXT and f.name in values), None)
    first = first or next((f for f in fields if f.name in values and f.kind != FieldKind.FILE), None)
    detail = value_text(first, values[first.name]) if first is not None else ""
    return f"{process_type.name}: {detail}"[:200] if detail else process_type.name


@transaction.atomic(savepoint=False)  # a start's error propagates: its caller's savepoint holds it
def catalog_request_submit(
    *,
    activation: Any,
    process_type: ProcessType,
    version: PolicyVersion,
    requester: Any,
    values: dict[str, Any],
) -> Any:
    """Fill in a new request from a form's cleaned values (validated against `version`, which it
    pins) and start it; files become the request's attachments. The flow's start handle calls
    this inside the start's transaction."""
    process = activation.process
    fields = version_fields(version)
    by_name = {field.name: field for field in fields}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise ValidationError(_("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)})
    uploads = {name: value for name, value in values.items() if by_name[name].kind == FieldKind.FILE}
    stored = {
        name: value_to_json(by_name[name], value) for name, value in values.items() if name not in uploads
    }
    process.process_type = process_type
    process.version = version
    process.requester = requester
    process.values = stored
    process.subject = _subject(process_type, fields, stored)
    money = next((f for f in fields if f.kind == FieldKind.MONEY and f.name in stored), None)
    if money is not None:
        process.amount, process.currency = Decimal(stored[money.name]["amount"]), money.currency
    activation.task.owner = requester  # the starter: segregation of duties, "my requests"
    process.save()  # the attachments need the process row
    for name, checked in uploads.items():
        (attachment,) = attachments_add(process=process, uploads=[checked], user=requester)
        process.values[name] = {"attachment": attachment.pk, "name": attachment.original_name}
    if uploads:
        process.save(update_fields=["values"])
    audit_record(
        action="catalog.version_pinned",
        process=process,
        actor=requester,
        details={"type": process_type.slug, "name": process_type.name, "version": version.number},
    )
    return process


def catalog_request_start(
    *, process_type: ProcessType, requester: Any, values: dict[str, Any], version: PolicyVersion | None = None
) -> Any:
    """Start a request of `process_type` as `requester`, from values cleaned by the pinned
    version's form (the web form, the API, demo data and tests all come here). `version` is the
    published version the caller cleaned them with, if it holds it; the request pins the one
    published now (ValidationError when the values do not fit it). PermissionDenied unless
    `requester` may start the type, which has a published version."""
    from processes.catalog.flows import CatalogFlow  # the flow imports these services

    with transaction.atomic():
        process_type, published_pk = type_locked_for_start(process_type.pk, requester)
        if published_pk is None:
            raise PermissionDenied(f"{requester} may not start {process_type.name}")
        if version is None or version.pk != published_pk:
            version = PolicyVersion.objects.select_related("policy").get(pk=published_pk)
        return CatalogFlow.start.run(
            process_type=process_type, version=version, requester=requester, values=values
        )


def catalog_stage_next(*, process: Any) -> Any:
    """Move the request to the next stage of its pinned chain whose condition holds, or past the
    last one (the flow's `route` step, after the start)."""
    return chain_stage_next(process=process, action="catalog.stage_entered")


def catalog_stage_after_decision(*, process: Any) -> Any:
    """After a decision (the flow's `check_approved` step): an approval moves the request to its
    next stage or past the last one; a rejection leaves it where it is."""
    return chain_stage_after_decision(process=process, action="catalog.stage_entered")


# No savepoint of its own: every caller holds the task's flow lock, whose block is one (a savepoint,
# or the transaction), and nothing between the lock and this catches its errors.
@transaction.atomic(savepoint=False)
def catalog_decide(*, activation: Any, user: Any, approved: bool, comment: str) -> Any:
    """Record a stage's decision (a rejection always carries its reason) and move the flow on.
    The requester hears of a rejection and of the last stage's approval, by email too when the
    type says so."""
    process = activation.process
    comment = comment.strip()
    if not approved and not comment:
        raise ValueError("A rejection needs a comment")
    process.approved = approved
    process.save(update_fields=["approved"])
    stage = process.current_stage
    final = chain_decision_is_final(process=process, approved=approved)
    decision_record(
        activation=activation,
        user=user,
        action="catalog.approved" if approved else "catalog.rejected",
        comment=comment,
        details={"stage": stage.order, "stage_name": stage.name} if stage is not None else None,
    )
    if final:  # the flow has ended meanwhile (same transaction): the type's outcome
        catalog_finish(process=process, approved=approved, actor=user, comment=comment)
    return process


def catalog_task_decide(*, task: Any, user: Any, approved: bool, comment: str = "") -> Any:
    """Decide a stage's task held by `user` without the web form (email links, demo data, tests)."""
    with task_executing(task=task, user=user) as activation:
        return catalog_decide(activation=activation, user=user, approved=approved, comment=comment)


def catalog_finish(*, process: Any, approved: bool, actor: Any, comment: str) -> None:
    """The request's last word (a rejection, or the last stage's approval), in the decision's
    transaction: the requester hears of it (by email too when the type says so),
    `request_finished` goes out for the outbound webhook (the API's, once it has one: design.md
    4.8), and the outcome is audited."""
    process_type = process.process_type
    outcome = process_type.on_approved if approved else process_type.on_rejected
    notify_request_decided(
        process=process, approved=approved, actor=actor, comment=comment, email=outcome == Outcome.EMAIL
    )
    request_finished.send(sender=type(process), process=process, approved=approved, outcome=outcome)
    audit_record(
        action="catalog.finished",
        process=process,
        actor=actor,
        details={"approved": approved, "outcome": outcome, "type": process_type.slug},
    )


@transaction.atomic
def type_version_fill(
    *,
    version: PolicyVersion,
    fields: list[dict[str, Any]],
    stages: list[dict[str, Any]],
    publish: bool = False,
    user: Any = None,
) -> PolicyVersion:
    """Fill an empty draft with form `fields` (dicts of FormField fields, in order) and chain
    `stages` (dicts of PolicyStage fields with an optional "levels" list of (after, action)
    pairs, as policies.services.policy_create takes them), then publish it if asked. For demo
    data, imports and tests; the admin edits the same rows."""
    if not version.is_editable:
        raise ValidationError(f"{version} is not a draft.")
    if version.stages.exists() or version.form_fields.exists():
        raise ValidationError(f"{version} is not empty.")
    for order, values in enumerate(fields, start=1):
        field = FormField(version=version, order=order, **values)
        field.full_clean(exclude=["version"])
        field.save()
    policy_stages_add(version=version, stages=stages)
    if publish:
        version = policy_version_publish(version=version, user=user)
    return version
