"""Read-side queries of the process catalog. Each reads the database at the time of asking: a
type published a moment ago is in the next page's menu, on every web node and worker."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Case, Exists, Max, OuterRef, QuerySet, Subquery, When
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext as _

from processes.catalog.fields import value_text
from processes.catalog.models import MANAGED_BY, CatalogRequest, FieldKind, FormField, ProcessType
from processes.locks import prepared_read
from processes.policies.models import PolicyVersion
from processes.registry import KindFilter

# A published or retired version's form never changes (a change is a new draft, as for its chain:
# processes/policies/selectors.py), so its fields are kept in this process once read, by the
# version's id and creation time. A caller holding the version's row, read in its own request or
# checked by the chain's query (`CatalogRequest.chain`), gets them without a query; a database
# flushed or restored under a running process, which may give another version the same id, has
# another creation time. A draft's fields are read each time, and so are those asked for by id
# alone. A write to a form field in this process forgets everything kept (`version_fields_forget`).
_forms: dict[int, tuple[datetime, list[FormField]]] = {}
_FORMS_KEPT = 256


def version_fields(version: PolicyVersion | int) -> list[FormField]:
    """A version's form fields, in order: the caller's own copies (it may change them)."""
    if isinstance(version, int):
        return list(FormField.objects.filter(version_id=version).order_by("order", "pk"))
    kept = _forms.get(version.pk)
    if kept is not None and kept[0] == version.created_at:
        return [copy.copy(field) for field in kept[1]]
    fields = list(FormField.objects.filter(version_id=version.pk).order_by("order", "pk"))
    if version.status != PolicyVersion.Status.DRAFT:
        if len(_forms) >= _FORMS_KEPT:
            _forms.clear()
        _forms[version.pk] = (version.created_at, [copy.copy(field) for field in fields])
    return fields


def version_fields_forget(**kwargs: Any) -> None:
    """`post_save` and `post_delete` receiver of form fields and versions."""
    _forms.clear()


def pinned_version(process: CatalogRequest) -> PolicyVersion | int:
    """The version `process` pinned: its row when the instance holds it (read or checked in this
    request), else its id (`version_fields` then reads the fields)."""
    return process.version if CatalogRequest.version.is_cached(process) else process.version_id


def type_by_slug(slug: str | None) -> ProcessType | None:
    return ProcessType.objects.filter(slug=slug).first() if slug else None


def type_version(slug: str, number: int | None = None) -> PolicyVersion | None:
    """Version `number` of the type `slug`; without a number its published version, else its
    newest. None when there is no such type or version."""
    versions = PolicyVersion.objects.filter(
        policy__process_type__slug=slug, policy__managed_by=MANAGED_BY
    ).select_related("policy__process_type")
    if number is not None:
        return versions.filter(number=number).first()
    published = versions.filter(status=PolicyVersion.Status.PUBLISHED).first()
    return published or versions.order_by("-number").first()


def type_next_version_number(slug: str) -> int:
    """The number an import of the type `slug` gets: its next one, or 1 for a new type."""
    latest = PolicyVersion.objects.filter(
        policy__process_type__slug=slug, policy__managed_by=MANAGED_BY
    ).aggregate(latest=Max("number"))["latest"]
    return (latest or 0) + 1


def type_published_version(process_type: ProcessType) -> PolicyVersion | None:
    """The version a new request of `process_type` pins (None: nothing is published)."""
    return (
        PolicyVersion.objects.filter(policy_id=process_type.policy_id, status=PolicyVersion.Status.PUBLISHED)
        .select_related("policy")
        .first()
    )


def _published_of_outer_type() -> QuerySet[PolicyVersion]:
    """The published version of the process type of the enclosing query (a subquery)."""
    return PolicyVersion.objects.filter(
        policy_id=OuterRef("policy_id"), status=PolicyVersion.Status.PUBLISHED
    )


def types_startable_by(user: Any) -> QuerySet[ProcessType]:
    """The types `user` may start: published, and one of their groups is a starter group
    (superusers: every published type). One query."""
    if not user.is_authenticated or not user.is_active:
        return ProcessType.objects.none()
    if not user.is_superuser:
        return _startable_by_member(user.pk)
    return ProcessType.objects.filter(Exists(_published_of_outer_type())).order_by("name")


def types_startable_list(user: Any) -> list[ProcessType]:
    """`types_startable_by(user)`, read: every task list page lists them (its start buttons), so
    for any but a superuser the query is compiled once a connection and prepared on the server
    (processes/locks.py `prepared_read`, ADR 0033)."""
    if not user.is_authenticated or not user.is_active or user.is_superuser:
        return list(types_startable_by(user))
    return prepared_read(("catalog.types_startable",), _startable_by_member, user.pk).run()


def _startable_by_member(user_pk: int) -> QuerySet[ProcessType]:
    """The published types that a starter group of user `user_pk`'s may start."""
    return (
        ProcessType.objects.filter(Exists(_published_of_outer_type()))
        .filter(starter_groups__in=Group.objects.filter(user=user_pk))
        .distinct()
        .order_by("name")
    )


def type_start_version(slug: str, user: Any) -> PolicyVersion | None:
    """The published version of the type `slug`, its policy and type at hand, when `user` may
    start that type (None otherwise): the start page's one query."""
    return (
        PolicyVersion.objects.filter(
            status=PolicyVersion.Status.PUBLISHED,
            policy__process_type__slug=slug,
            policy__process_type__in=types_startable_by(user).order_by(),
        )
        .select_related("policy__process_type")
        .first()
    )


def type_locked_for_start(process_type_pk: int, user: Any) -> tuple[ProcessType, int | None]:
    """The type `process_type_pk` locked for a start (a change to it waits), and the id of the
    version a request of it started now pins: None when `user` may not start it, or nothing is
    published. One query."""
    published = _published_of_outer_type().values("pk")[:1]
    process_type = (
        ProcessType.objects.select_for_update(of=("self",))
        .annotate(
            start_version=Case(
                When(Exists(types_startable_by(user).filter(pk=OuterRef("pk"))), then=Subquery(published))
            )
        )
        .get(pk=process_type_pk)
    )
    return process_type, process_type.start_version


def requests_of(user: Any, process_type: ProcessType | None = None) -> QuerySet[CatalogRequest]:
    """The requests `user` started (of one type, if given), newest first."""
    requests = CatalogRequest.objects.filter(requester_id=user.pk)
    if process_type is not None:
        requests = requests.filter(process_type=process_type)
    return requests.select_related("process_type", "version").order_by("-created")


def request_rows(process: CatalogRequest) -> list[tuple[str, str]]:
    """A request's values as (label, text), in its pinned version's order and words: a field
    renamed or dropped by a later version still shows as it was asked."""
    return [
        (field.label, value_text(field, process.values[field.name]))
        for field in version_fields(pinned_version(process))
        if field.name in process.values
    ]


def requester_id(process_pk: int) -> int | None:
    return CatalogRequest.objects.filter(pk=process_pk).values_list("requester_id", flat=True).first()


def type_names() -> list[str]:
    """Every process type's name (the task list's process filter lists them one by one)."""
    return list(ProcessType.objects.order_by("name").values_list("name", flat=True))


# The kinds whose values the task list's search finds a request by (processes.registry.TaskColumns).
SEARCHED_KINDS = ("text", "choice", "multi_choice", "user")


def request_keywords(process: CatalogRequest) -> str:
    """A request's short texts, choices and people, for the task list's search: the type's own
    fields filter its tasks there (`q=Equipment`)."""
    return " ".join(
        value_text(field, process.values[field.name])
        for field in version_fields(pinned_version(process))
        if field.kind in SEARCHED_KINDS and field.name in process.values
    )[:500]


def type_filters(type_name: str) -> list[KindFilter]:
    """The task list's filters on a type's own fields: its published version's single choices
    and yes-or-no fields ([] for an unknown or unpublished type)."""
    process_type = ProcessType.objects.filter(name=type_name).first()
    version = type_published_version(process_type) if process_type is not None else None
    if version is None:
        return []
    filters = []
    for field in version_fields(version):
        if field.kind == FieldKind.CHOICE:
            filters.append(KindFilter(field.name, field.label, tuple((o, o) for o in field.options)))
        elif field.kind == FieldKind.YES_NO:
            filters.append(
                KindFilter(field.name, field.label, (("yes", str(_("Yes"))), ("no", str(_("No")))))
            )
    return filters


def requests_matching(type_name: str, values: Mapping[str, str]) -> QuerySet[Any]:
    """The ids of the requests of the type named `type_name` whose values match (filter name ->
    an option, or "yes"/"no"), whatever version they pinned. The field's name is a JSON key,
    never a lookup."""
    requests = CatalogRequest.objects.filter(process_type__name=type_name)
    kinds = {f.name: f.kind for f in FormField.objects.filter(version__policy__process_type__name=type_name)}
    for index, (name, value) in enumerate(sorted(values.items())):
        alias = f"_field_{index}"
        wanted: Any = value == "yes" if kinds.get(name) == FieldKind.YES_NO else value
        requests = requests.alias(**{alias: KeyTransform(name, "values")}).filter(**{alias: wanted})
    return requests.values("pk")
