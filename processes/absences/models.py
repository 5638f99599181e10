"""Absence: a period in which a user is away and a substitute takes their tasks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AbsenceQuerySet(models.QuerySet):
    def active_at(self, at):
        """Absences in force at `at`: started, not ended, not cancelled."""
        return self.filter(starts_at__lte=at, ends_at__gt=at, cancelled_at__isnull=True)

    def overlapping(self, starts_at, ends_at):
        """Absences not cancelled that share some time with [starts_at, ends_at)."""
        return self.filter(starts_at__lt=ends_at, ends_at__gt=starts_at, cancelled_at__isnull=True)


class Absence(models.Model):
    """One user's absence: from `starts_at` until `ends_at`, `substitute` takes their tasks.

    Written only by processes.absences.services (which checks the substitute's rights, overlaps
    and chains); a cancelled absence is kept (cancelled_at) for the audit and the history.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="absences", verbose_name=_("user")
    )
    substitute = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="substitutions",
        verbose_name=_("substitute"),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("set by")
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("cancelled by"),
    )

    objects = AbsenceQuerySet.as_manager()

    class Meta:
        verbose_name = _("absence")
        verbose_name_plural = _("absences")
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="absence_ends_after_start"
            ),
            models.CheckConstraint(
                condition=~Q(substitute=models.F("user")), name="absence_substitute_not_self"
            ),
        ]
        indexes = [models.Index(fields=["user", "ends_at"], name="absence_user_ends")]

    def __str__(self) -> str:
        return f"{self.user_id} -> {self.substitute_id} {self.starts_at:%Y-%m-%d} .. {self.ends_at:%Y-%m-%d}"

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None

    def is_active(self, at=None) -> bool:
        at = at or timezone.now()
        return self.cancelled_at is None and self.starts_at <= at < self.ends_at
