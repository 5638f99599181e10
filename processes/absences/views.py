"""The out-of-office pages: one's own absence (`/accounts/absence/`), a team member's (managers:
`/accounts/absence/<user id>/`), and cancelling one (POST). Thin: the selectors decide who may,
the services act and check the rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from processes.absences import selectors, services
from processes.absences.forms import AbsenceForm

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedRequest(HttpRequest):
    """For mypy: a request past LoginRequiredMiddleware (portal/settings.py) has a real user."""

    user: User


def _page(
    request: AuthenticatedRequest, person: Any, form: AbsenceForm | None = None, status: int = 200
) -> HttpResponse:
    own = person.pk == request.user.pk
    if form is None:
        form = AbsenceForm(users=selectors.substitute_candidates(person))
    else:
        form.errors_describe()
    members = list(selectors.team_members(request.user).exclude(pk=request.user.pk)) if own else []
    away = selectors.absences_active_by_user([member.pk for member in members])
    team = [(member, away.get(member.pk)) for member in members]
    context = {
        "person": person,
        "own": own,
        "form": form,
        "absences": list(selectors.absences_of(person)),
        "standing_in": selectors.absences_stood_in_for(person),
        "team": team,
        "action": reverse("absence") if own else reverse("absence_for", args=[person.pk]),
    }
    return TemplateResponse(request, "processes/absence.html", context, status=status)


def _person(request: AuthenticatedRequest, user_id: int | None) -> Any:
    if user_id is None:
        return request.user
    person = selectors.user_for_absence(user_id)
    # Someone who is not in your team is not found, as an unknown id is: ids are not a way to
    # learn who works here (the task list's rule for what is not yours).
    if person is None or not selectors.may_set_absence_for(request.user, person):
        raise Http404("No such user in your team")
    return person


@require_http_methods(["GET", "POST"])
def absence_page(request: AuthenticatedRequest, user_id: int | None = None) -> HttpResponse:
    """See, set (POST) and cancel an absence: one's own, or a team member's (their managers)."""
    person = _person(request, user_id)
    if request.method == "GET":
        return _page(request, person)
    form = AbsenceForm(request.POST, users=selectors.substitute_candidates(person))
    if form.is_valid():
        data = form.cleaned_data
        try:
            absence = services.absence_set(
                actor=request.user,
                user=person,
                substitute=data["substitute"],
                starts_at=data["starts_at"],
                ends_at=data["ends_at"],
                reason=data["reason"],
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(
                request,
                _("Saved: %(substitute)s stands in for %(user)s.")
                % {"substitute": absence.substitute, "user": absence.user},
            )
            return redirect(request.path)
    return _page(request, person, form, status=422)


@require_POST
def absence_cancel(request: AuthenticatedRequest, absence_id: int) -> HttpResponse:
    """End an absence now (or drop a coming one); back to the page it was cancelled from."""
    absence = selectors.absence_by_pk(absence_id)
    if absence is None or not selectors.may_set_absence_for(request.user, absence.user):
        raise Http404("No such absence of yours or your team's")
    try:
        services.absence_cancel(actor=request.user, absence=absence)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The absence of %(user)s is cancelled.") % {"user": absence.user})
    own = absence.user_id == request.user.pk
    return redirect(reverse("absence") if own else reverse("absence_for", args=[absence.user_id]))
