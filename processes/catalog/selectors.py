"""Read-side queries of the process catalog. Each reads the database at the time of asking: a
type published a moment ago is in the next page's menu, on every web node and worker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import Exists, Max, OuterRef, QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils.translation import gettext as _

from processes.catalog.fields import value_text
from processes.catalog.models import MANAGED_BY, CatalogRequest, FieldKind, FormField, ProcessType
from processes.policies.models import PolicyVersion
from processes.registry import KindFilter


def version_fields(version_id: int) -> list[FormField]:
    """A version's form fields, in order."""
    return list(FormField.objects.filter(version_id=version_id).order_by("order", "pk"))


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


def types_startable_by(user: Any) -> QuerySet[ProcessType]:
    """The types `user` may start: published, and one of their groups is a starter group
    (superusers: every published type). One query."""
    published = PolicyVersion.objects.filter(
        policy_id=OuterRef("policy_id"), status=PolicyVersion.Status.PUBLISHED
    )
    types = ProcessType.objects.filter(Exists(published))
    if not user.is_authenticated or not user.is_active:
        return types.none()
    if not user.is_superuser:
        types = types.filter(starter_groups__in=user.groups.all()).distinct()
    return types.order_by("name")


def type_startable(*, process_type: ProcessType, user: Any) -> bool:
    return types_startable_by(user).filter(pk=process_type.pk).exists()


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
        for field in version_fields(process.version_id)
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
        for field in version_fields(process.version_id)
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
    for field in version_fields(version.pk):
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
