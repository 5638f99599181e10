from typing import Any, cast

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ReasonForm(forms.Form):
    """A process manager's fix of a running instance always says why (processes.interventions)."""

    reason = forms.CharField(label=_("Reason"), max_length=500, strip=True)


class IncidentSkipForm(ReasonForm):
    """Skipping a failed step always says why."""


class IncidentRetryForm(ReasonForm):
    """Running a failed step again says why."""


class ProcessCancelForm(ReasonForm):
    """Cancelling a running process says why."""


class TaskReassignFixForm(ReasonForm):
    """Give an open task to someone who may hold it. `candidates`: the users offered (the gate
    decides again on the chosen one)."""

    to_user: forms.ModelChoiceField = forms.ModelChoiceField(
        label=_("Give it to"), queryset=None, empty_label=None
    )

    def __init__(self, *args, candidates=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["to_user"]
        field.queryset = candidates  # type: ignore[attr-defined]  # a ModelChoiceField
        field.label_from_instance = lambda user: user.get_full_name() or user.get_username()  # type: ignore[attr-defined]
        self.order_fields(["to_user", "reason"])


class TaskDueForm(ReasonForm):
    """Move an open task's due time (in the site's time zone)."""

    due_at = forms.DateTimeField(
        label=_("New due time"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(["due_at", "reason"])


class TaskDecisionForm(forms.Form):
    """A person's decision on a task: yes or no, with a comment the "no" always needs.

    Subclasses set `choices` (yes first, then no) and `reason_required`.
    """

    choices: list[tuple[str, str | Promise]] = []
    reason_required = _("Say why.")

    decision = forms.ChoiceField(label=_("Decision"), widget=forms.RadioSelect)
    comment = forms.CharField(
        label=_("Comment"), required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=4000
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["decision"]).choices = self.choices

    def clean(self):
        cleaned = cast("dict[str, Any]", super().clean())  # Form.clean returns cleaned_data
        if (
            cleaned.get("decision")
            and not self.is_yes(cleaned)
            and not (cleaned.get("comment") or "").strip()
        ):
            self.add_error("comment", self.reason_required)
        return cleaned

    def is_yes(self, cleaned=None) -> bool:
        return (cleaned or self.cleaned_data)["decision"] == self.choices[0][0]
