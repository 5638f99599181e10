"""Write side of saved filters (issue 18): save, rename, pin and delete. Only the owner renames or
deletes a filter; whoever sees one (its owner, its group) pins it for themselves. The views answer
404 for one the user cannot see and 403 for a shared one they do not own
(processes.tasklist.saved_selectors.saved_filter_for_change)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import QueryDict
from django.utils.translation import gettext as _

from processes.audit import audit_record
from processes.tasklist import selectors
from processes.tasklist.forms import TaskFilterForm
from processes.tasklist.models import SavedFilter, SavedFilterPin

if TYPE_CHECKING:
    from django.contrib.auth.models import Group, User


def saved_filter_query_normalise(*, user: User, query: str) -> str:
    """`query` as the list's filter form validates it (known fields only, in their order), or a
    ValidationError with the form's messages: a saved filter never holds what the list refuses."""
    form = TaskFilterForm(
        QueryDict(query.lstrip("?")), flows=selectors.flows_listed_for(user), stages=selectors.stage_names()
    )
    if not form.is_valid():
        raise ValidationError(
            [
                f"{form.fields[name].label if name in form.fields else ''}: {message}".lstrip(": ")
                for name, messages in form.errors.items()
                for message in messages
            ]
        )
    normalised = form.query_string()
    if not normalised:
        raise ValidationError(_("Apply some filters first: there is nothing to save."))
    return normalised


@transaction.atomic
def saved_filter_create(
    *, owner: User, name: str, page: str, query: str, shared_with: Group | None = None
) -> SavedFilter:
    """Save `query` (a task list's query string) as `owner`'s filter `name` on list `page`,
    optionally shared with `shared_with`, which must be one of the owner's groups."""
    if shared_with is not None and not owner.groups.filter(pk=shared_with.pk).exists():
        raise ValidationError({"shared_with": _("You can only share with a group you belong to.")})
    saved = SavedFilter(
        owner=owner,
        name=name.strip(),
        page=page,
        query=saved_filter_query_normalise(user=owner, query=query),
        shared_with=shared_with,
    )
    try:
        saved.full_clean()
    except ValidationError as exc:
        if "__all__" in getattr(exc, "error_dict", {}):  # the (owner, name) constraint
            raise ValidationError({"name": _("You already have a filter with this name.")}) from exc
        raise
    saved.save()
    audit_record(
        action="filter.saved",
        actor=owner,
        details={
            "filter": saved.pk,
            "name": saved.name,
            "page": page,
            "shared_with": shared_with and shared_with.name,
        },
    )
    return saved


@transaction.atomic
def saved_filter_rename(*, saved: SavedFilter, user: User, name: str) -> SavedFilter:
    """Rename `user`'s own filter: a name of 1 to 60 characters, unique among their filters."""
    _owner_only(saved, user)
    before, saved.name = saved.name, name.strip()
    try:
        saved.full_clean()
    except ValidationError as exc:
        saved.name = before  # the caller's instance stays as stored
        if "__all__" in getattr(exc, "error_dict", {}):  # the (owner, name) constraint
            raise ValidationError({"name": _("You already have a filter with this name.")}) from exc
        raise
    if saved.name != before:
        saved.save(update_fields=["name"])
        audit_record(
            action="filter.renamed",
            actor=user,
            details={"filter": saved.pk, "from": before, "to": saved.name},
        )
    return saved


@transaction.atomic
def saved_filter_pin(*, saved: SavedFilter, user: User, pinned: bool) -> SavedFilter:
    """Pin the filter for `user` (its live count shows in their drawer and at the top of their
    task lists) or unpin it: their own, or one shared with a group of theirs. Idempotent."""
    if saved.owner_id != user.pk and not user.groups.filter(pk=saved.shared_with_id).exists():
        raise PermissionDenied(_("You can only pin your own filters and those shared with you."))
    if pinned:
        SavedFilterPin.objects.get_or_create(user=user, saved_filter=saved)
    else:
        SavedFilterPin.objects.filter(user=user, saved_filter=saved).delete()
    return saved


@transaction.atomic
def saved_filter_delete(*, saved: SavedFilter, user: User) -> None:
    _owner_only(saved, user)
    audit_record(action="filter.deleted", actor=user, details={"filter": saved.pk, "name": saved.name})
    saved.delete()


def _owner_only(saved: SavedFilter, user: User) -> None:
    if saved.owner_id != user.pk:
        raise PermissionDenied(_("Only its owner may change a saved filter."))
