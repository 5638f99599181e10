"""The notification center: recent notifications, mark read, mark all read, preferences.

Every view works on the requesting user's own notifications only (another user's id is a 404).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from processes.models import Delivery, Notification, NotificationKind
from processes.notifications import selectors, services
from processes.selectors import menu_task_counts
from processes.site import portal_site
from processes.tasklist.saved_selectors import pinned_counts_by_url

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedRequest(HttpRequest):
    """For mypy: a request past LoginRequiredMiddleware (portal/settings.py) has a real user."""

    user: User


class PreferencesForm(forms.Form):
    """One choice per kind: live, by email, or not at all."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in NotificationKind.choices:
            self.fields[kind] = forms.ChoiceField(label=label, choices=Delivery.choices)


def _with_site(request: HttpRequest) -> None:
    # viewflow's page shell draws its menu for the Site on the request (as on the flow pages).
    if request.resolver_match is not None:
        request.resolver_match.site = portal_site()  # type: ignore[attr-defined]  # viewflow reads it


@require_GET
def notification_center(request: HttpRequest) -> HttpResponse:
    _with_site(request)
    user = request.user
    form = PreferencesForm(initial=selectors.notification_preferences(user=user))
    context = {
        "notifications": selectors.notifications_recent(user=user),
        "unread": selectors.notifications_unread_count(user=user),
        "form": form,
    }
    return TemplateResponse(request, "processes/notifications/center.html", context)


@require_GET
def notification_open(request: AuthenticatedRequest, notification_id: int) -> HttpResponse:
    """Follow a notification to its task or process, and count it as read."""
    notification = get_object_or_404(Notification, pk=notification_id, user=request.user)
    services.notification_mark_read(user=request.user, notification_id=notification.pk)
    safe = url_has_allowed_host_and_scheme(notification.url, allowed_hosts={request.get_host()})
    return redirect(notification.url if notification.url and safe else "notification_center")


@require_POST
def notification_read(request: AuthenticatedRequest, notification_id: int) -> HttpResponse:
    get_object_or_404(Notification, pk=notification_id, user=request.user)
    services.notification_mark_read(user=request.user, notification_id=notification_id)
    return redirect("notification_center")


@require_POST
def notifications_read_all(request: AuthenticatedRequest) -> HttpResponse:
    services.notifications_mark_all_read(user=request.user)
    return redirect("notification_center")


@require_POST
def notification_preferences(request: AuthenticatedRequest) -> HttpResponse:
    form = PreferencesForm(request.POST)
    if form.is_valid():
        services.notification_preferences_set(user=request.user, deliveries=form.cleaned_data)
    return redirect("notification_center")


@require_GET
def task_counts(request: HttpRequest) -> JsonResponse:
    """The requesting user's Inbox and Queue counters and their pinned filters' counts, by the page
    they link to, for the drawer (live.js)."""
    counts = {**menu_task_counts(request.user), **pinned_counts_by_url(request.user)}
    response = JsonResponse({"counts": counts})
    response["Cache-Control"] = "private, no-store"
    return response
