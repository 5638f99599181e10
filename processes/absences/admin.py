"""Absences in the admin: listed, filtered by whether they are in force, and cancelled through
the service (set on the absence pages, where the rules are checked and the form explains them)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from processes.absences.models import Absence
from processes.absences.services import absence_cancel
from processes.admin_base import ReadOnlyAdmin


class _InForceFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "in_force"

    def lookups(self, request, model_admin):
        return [("now", _("Now")), ("coming", _("Coming")), ("over", _("Over or cancelled"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "now":
            return queryset.active_at(now)
        if self.value() == "coming":
            return queryset.filter(starts_at__gt=now, cancelled_at__isnull=True)
        if self.value() == "over":
            return queryset.exclude(
                pk__in=queryset.filter(ends_at__gt=now, cancelled_at__isnull=True).values("pk")
            )
        return queryset


@admin.register(Absence)
class AbsenceAdmin(ReadOnlyAdmin):
    list_display = ["user", "substitute", "starts_at", "ends_at", "reason", "set_by", "cancelled_at"]
    list_filter = [_InForceFilter]
    search_fields = ["user__username", "substitute__username"]
    list_select_related = ["user", "substitute", "set_by"]
    actions = ["cancel_selected"]

    def has_change_permission(self, request, obj=None):
        return False  # read-only pages; the action below changes through the service

    @admin.action(description=_("Cancel the selected absences"))
    def cancel_selected(self, request, queryset):
        done = 0
        for absence in queryset:
            try:
                absence_cancel(actor=request.user, absence=absence)
                done += 1
            except (ValidationError, PermissionDenied) as exc:
                messages.warning(request, f"{absence}: {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        if done:
            messages.success(request, _("%(count)d absences cancelled.") % {"count": done})
