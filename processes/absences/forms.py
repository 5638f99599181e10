from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from processes.absences.services import REASON_MAX_LENGTH

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import QuerySet


class AbsenceForm(forms.Form):
    """An absence: from, until, who stands in, and why (optional). The service checks the rules
    (rights, overlaps, chains); its errors come back onto these fields."""

    starts_at = forms.DateTimeField(
        label=_("Away from"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    ends_at = forms.DateTimeField(
        label=_("Back on"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    substitute: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        label=_("Substitute"), queryset=None, empty_label=_("Choose a colleague")
    )
    reason = forms.CharField(
        label=_("Reason (optional)"), required=False, max_length=REASON_MAX_LENGTH, strip=True
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast("forms.ModelChoiceField[User]", self.fields["substitute"])
        field.queryset = users
        field.label_from_instance = lambda obj: obj.get_full_name() or obj.get_username()  # type: ignore[method-assign]  # Django's documented hook

    def errors_describe(self) -> None:
        """Point each field with an error at its message (aria-describedby), for screen readers."""
        for name in self.errors:
            if name in self.fields:
                self.fields[name].widget.attrs["aria-describedby"] = f"{self[name].auto_id}-error"
