"""Write-side use cases of approval policies: validate, publish and copy versions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any, cast

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from processes.audit import audit_record
from processes.policies.conditions import FieldSpec, condition_check
from processes.policies.models import (
    MAX_ESCALATION_LEVELS,
    ApprovalPolicy,
    EscalationAction,
    EscalationLevel,
    PolicyStage,
    PolicyVersion,
    candidate_codename,
)
from processes.policies.selectors import policy_stages
from processes.policies.signals import (
    version_checking,
    version_copied,
    version_form_fields,
    version_published,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def _uncovered_amounts(stages: list[PolicyStage]) -> str | None:
    """The first range of positive amounts no stage applies to, as text, or None if all are covered."""
    ranges = sorted(
        ((s.amount_above or Decimal(0)), s.amount_up_to) for s in stages if s.group_id is not None
    )
    covered_to = Decimal(0)  # every amount in (0, covered_to] has a stage
    for low, high in ranges:
        if low > covered_to:
            return f"above {covered_to} up to {low}"
        if high is None:
            return None
        covered_to = max(covered_to, high)
    return f"above {covered_to}"


def version_form_specs(version: PolicyVersion) -> Mapping[str, FieldSpec] | None:
    """The request form's fields of `version` (by name), from the app that manages its policy;
    None for a policy without a form (its stages decide by amount)."""
    for _receiver, specs in version_form_fields.send(sender=PolicyVersion, version=version):
        if specs is not None:
            return cast("Mapping[str, FieldSpec]", specs)
    return None


def _condition_problems(stages: list[PolicyStage], specs: Mapping[str, FieldSpec] | None) -> list[str]:
    """Each stage's condition against the form's fields; a form's chain needs a stage for all."""
    problems = []
    for stage in stages:
        label = f"Stage {stage.order} ({stage.name})"
        if specs is not None and (stage.amount_above is not None or stage.amount_up_to is not None):
            problems.append(f"{label}: amount bounds are for chains without a form; write a condition.")
        if not stage.condition.strip():
            continue
        if specs is None:
            problems.append(f"{label}: a condition needs a request form; this chain decides by amount.")
            continue
        problems += [f"{label}, condition: {problem}" for problem in condition_check(stage.condition, specs)]
    if specs is not None and stages and all(stage.condition.strip() for stage in stages):
        problems.append(
            "Every stage has a condition: give at least one stage none, so that no request is "
            "approved by nobody."
        )
    return problems


def policy_version_validate(*, version: PolicyVersion) -> list[str]:
    """What stops a version from being published, in words an admin can act on ([] when valid)."""
    errors: list[str] = [
        problem
        for _receiver, problems in version_checking.send(sender=PolicyVersion, version=version)
        for problem in problems or ()
    ]
    stages = policy_stages(version)
    if not stages:
        return [*errors, "The version has no stages."]
    specs = version_form_specs(version)
    errors += _condition_problems(stages, specs)
    orders = [stage.order for stage in stages]
    if orders != list(range(1, len(stages) + 1)):
        found = ", ".join(str(order) for order in orders)
        errors.append(f"Stages must be numbered 1, 2, 3 ... without gaps or repeats (found {found}).")
    for stage in stages:
        label = f"Stage {stage.order} ({stage.name})"
        if stage.group_id is None or not Group.objects.filter(pk=stage.group_id).exists():
            errors.append(f"{label}: its candidate group does not exist.")
        if stage.sla is None or stage.sla.total_seconds() <= 0:
            errors.append(f"{label}: the SLA must be positive.")
        if stage.reminder_before is not None and stage.sla and stage.reminder_before >= stage.sla:
            errors.append(f"{label}: the reminder must come before the SLA runs out.")
        if (
            stage.amount_above is not None
            and stage.amount_up_to is not None
            and stage.amount_above >= stage.amount_up_to
        ):
            errors.append(
                f"{label}: the amount condition is contradictory (above {stage.amount_above} "
                f"and at most {stage.amount_up_to} never holds)."
            )
        for bound in (stage.amount_above, stage.amount_up_to):
            if bound is not None and bound < 0:
                errors.append(f"{label}: amount conditions must not be negative.")
                break
        errors += [f"{label}: {problem}" for problem in _level_problems(version, stage)]
    errors += version.calendar_problems()
    if not errors and specs is None:
        gap = _uncovered_amounts(stages)
        if gap:
            errors.append(f"No stage applies to amounts {gap}: such requests would be approved by nobody.")
    return errors


def _level_problems(version: PolicyVersion, stage: PolicyStage) -> list[str]:
    """What is wrong with a stage's escalation levels: numbering, order in time, targets, rights."""
    problems = []
    levels = sorted(stage.levels.all(), key=lambda level: level.order)
    if len(levels) > MAX_ESCALATION_LEVELS:
        problems.append(f"at most {MAX_ESCALATION_LEVELS} escalation levels (the flow declares that many).")
    if [level.order for level in levels] != list(range(1, len(levels) + 1)):
        problems.append("escalation levels must be numbered 1, 2, 3 ... without gaps or repeats.")
    if (
        any(level.action == EscalationAction.EMAIL for level in levels)
        and stage.escalation_group_id is not None
        and stage.escalation_user is not None  # no query when escalation_user_id is None
        and not stage.escalation_user.groups.filter(pk=stage.escalation_group_id).exists()
    ):
        problems.append(
            "the escalation user must be a member of the escalation group (the email routes to it)."
        )
    for earlier, later in pairwise(levels):
        if later.after <= earlier.after:
            problems.append(f"level {later.order} must come later than level {earlier.order}.")
    for level in levels:
        if level.after < timedelta(0):
            problems.append(f"level {level.order} cannot fire before the due time.")
        if level.needs_group and stage.escalation_group_id is None:
            problems.append(f"level {level.order} ({level.get_action_display()}) needs an escalation group.")
        elif level.needs_target and stage.escalation_group_id is None and stage.escalation_user_id is None:
            problems.append(
                f"level {level.order} ({level.get_action_display()}) needs an escalation group or user."
            )
        if level.is_auto_decision and not version.allow_auto_decisions:
            problems.append(
                f"level {level.order} decides automatically, but the version does not allow automatic decisions."
            )
    return problems


# Candidate permissions belong to the core, not to a process type: they sit on the task list's
# content type and grant nothing but a place in the queue (migration 0015 moved the old ones).
CANDIDATE_CONTENT_TYPE = ("processes", "taskrow")


def candidate_permission_grant(
    *, codename: str, name: str, groups: list[Group], also: Sequence[str] = ()
) -> Permission:
    """Create (once) the candidate permission `codename` and grant it to each of `groups`, with
    the permissions `also` names (`app_label.codename`: the `view_` permission of a process type
    visible model-wide, whose tasks a candidate could not see otherwise). Idempotent.

    The content type is read, not taken from Django's per-process cache: a long-lived worker
    must not hold on to an id the database no longer has (the test suite re-creates content
    types between tests; a restored database could too)."""
    app_label, model = CANDIDATE_CONTENT_TYPE
    content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model)
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=codename, defaults={"name": name[:255]}
    )
    extra = [
        Permission.objects.get(content_type__app_label=label, codename=code)
        for label, code in (perm.split(".", 1) for perm in also)
    ]
    for group in groups:
        group.permissions.add(permission, *extra)
    return permission


def candidate_permission_ensure(*, group: Group) -> Permission:
    """The permission that makes `group`'s members candidates for a stage, granted to the group."""
    return candidate_permission_grant(
        codename=candidate_codename(group.pk),
        name=f"Candidate for approval stages of group {group.name}",
        groups=[group],
    )


@transaction.atomic
def policy_version_publish(*, version: PolicyVersion, user: User | None = None) -> PolicyVersion:
    """Make a draft the policy's active version; the one published before it is retired.

    Raises ValidationError listing every problem when the version is not valid. Processes
    already running keep the version they pinned.
    """
    version = PolicyVersion.objects.select_for_update().get(pk=version.pk)
    if version.status != PolicyVersion.Status.DRAFT:
        raise ValidationError(f"{version} is not a draft; only drafts can be published.")
    errors = policy_version_validate(version=version)
    if errors:
        raise ValidationError(errors)
    previous = list(
        PolicyVersion.objects.select_for_update().filter(
            policy=version.policy, status=PolicyVersion.Status.PUBLISHED
        )
    )
    for old in previous:
        old.status = PolicyVersion.Status.RETIRED
        old.save(update_fields=["status"])
    for stage in policy_stages(version):
        candidate_permission_ensure(group=stage.group)
    version.status = PolicyVersion.Status.PUBLISHED
    version.published_at = timezone.now()
    version.published_by = user if getattr(user, "pk", None) else None
    version.full_clean()
    version.save(update_fields=["status", "published_at", "published_by"])
    version_published.send(sender=PolicyVersion, version=version)
    audit_record(
        action="policy.published",
        actor=version.published_by,
        details={
            "policy": version.policy.name,
            "version": version.number,
            "retired": [old.number for old in previous],
        },
    )
    return version


# A version's own settings, which a copy keeps (its number, status, note and dates are its own).
VERSION_SETTINGS = (
    "currency",
    "allow_auto_decisions",
    "working_days",
    "work_starts",
    "work_ends",
    "time_zone",
)


@transaction.atomic
def policy_version_copy(*, version: PolicyVersion, user: User | None = None) -> PolicyVersion:
    """A new draft with the same settings (currency, automatic decisions, calendar) and stages: the
    way to change a published (read-only) version. The app that manages the policy copies what
    it keeps beside the version (`version_copied`)."""
    number = (PolicyVersion.objects.filter(policy=version.policy).aggregate(n=Max("number"))["n"] or 0) + 1
    draft = PolicyVersion(
        policy=version.policy,
        number=number,
        note=f"Copy of v{version.number}",
        **{field: getattr(version, field) for field in VERSION_SETTINGS},
    )
    draft.full_clean()
    draft.save()
    for stage in policy_stages(version):
        levels = list(stage.levels.all())
        stage.pk = None
        stage.version = draft
        stage.save()
        for level in levels:
            level.pk = None
            level.stage = stage
            level.save()
    version_copied.send(sender=PolicyVersion, source=version, draft=draft)
    audit_record(
        action="policy.copied",
        actor=user if getattr(user, "pk", None) else None,
        details={"policy": version.policy.name, "from": version.number, "version": draft.number},
    )
    return draft


def policy_stages_add(*, version: PolicyVersion, stages: list[dict[str, Any]]) -> None:
    """Append `stages` to a draft, in order: dicts of PolicyStage fields, each with an optional
    "levels" list of (after, action) pairs. Each row is validated before it is written."""
    for order, fields in enumerate(stages, start=1):
        fields = dict(fields)
        levels = fields.pop("levels", ())
        stage = PolicyStage(version=version, order=order, **fields)
        stage.full_clean()
        stage.save()
        for level_order, (after, action) in enumerate(levels, start=1):
            level = EscalationLevel(stage=stage, order=level_order, after=after, action=action)
            level.full_clean()
            level.save()


@transaction.atomic
def policy_create(
    *,
    name: str,
    stages: list[dict[str, Any]],
    user: User | None = None,
    publish: bool = True,
    version_fields: dict[str, Any] | None = None,
) -> PolicyVersion:
    """Create a policy (if missing) with a new version holding `stages` (dicts of PolicyStage
    fields, in order, with an optional "levels" list of (after, action) pairs), and publish it
    unless told not to. `version_fields` set the version's own fields (calendar, automatic
    decisions). For demo data and tests."""
    policy, _ = ApprovalPolicy.objects.get_or_create(name=name)
    number = (policy.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = PolicyVersion(policy=policy, number=number, **(version_fields or {}))
    version.full_clean()
    version.save()
    policy_stages_add(version=version, stages=stages)
    if publish:
        version = policy_version_publish(version=version, user=user)
    return version
