"""The task list's forms: the filters (a GET form, so every view is a bookmarkable URL) and the
choice of a colleague for delegate and reassign."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.fields import get_flow_ref

from processes.registry import registry
from processes.tasklist.models import SavedFilter
from processes.tasklist.selectors import KIND_SEPARATOR, TaskFilter

if TYPE_CHECKING:
    from django.contrib.auth.models import Group, User
    from django.db.models import QuerySet


def process_choices(flows: list[Any]) -> list[tuple[str, str]]:
    """The process filter's options: each flow by its title, or each process type a flow runs
    (`<flow ref>#<type name>`) when it runs several (the process catalog's)."""
    choices = []
    for flow in flows:
        kinds = registry.for_flow(flow).kinds()
        if kinds:
            choices += [(f"{get_flow_ref(flow)}{KIND_SEPARATOR}{kind}", kind) for kind in kinds]
        else:
            choices.append((get_flow_ref(flow), str(flow.process_title)))
    return choices


class TaskFilterForm(forms.Form):
    """Filters and sort of a task list. Invalid input shows on the form; the list then shows
    unfiltered rows rather than failing."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100, strip=True)
    flow = forms.ChoiceField(label=_("Process"), required=False)
    stage = forms.ChoiceField(label=_("Stage"), required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    amount_min = forms.DecimalField(
        label=_("Amount from"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    amount_max = forms.DecimalField(
        label=_("Amount to"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    sort = forms.ChoiceField(
        label=_("Sort by"),
        required=False,
        choices=[
            ("due", _("Due time")),
            ("priority", _("Priority")),
            ("age", _("Oldest first")),
            ("-age", _("Newest first")),
        ],
    )

    def __init__(
        self,
        *args: Any,
        flows: list[type],
        stages: list[str],
        processes: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        """`flows`: viewflow Flow classes (untyped), each with its process_title; `processes`:
        `process_choices(flows)` when the caller has it (a page validates each pinned filter: the
        process catalog's choices are a query)."""
        super().__init__(*args, **kwargs)
        processes = process_choices(flows) if processes is None else processes
        cast(forms.ChoiceField, self.fields["flow"]).choices = [("", _("All")), *processes]
        cast(forms.ChoiceField, self.fields["stage"]).choices = [
            ("", _("All")),
            *((name, name) for name in stages),
        ]
        self.kind_fields = self._kind_fields_add(flows)

    def _kind_fields_add(self, flows: list[Any]) -> list[str]:
        """Filtered to a type a flow runs among several (`<flow ref>#<type>`): that type's own
        filters (ProcessDescriptor.kind_filters) as more choice fields, `field_<name>`."""
        chosen = str(self.data.get("flow", "")) if self.is_bound else ""
        ref, separator, kind = chosen.partition(KIND_SEPARATOR)
        flow = next((f for f in flows if get_flow_ref(f) == ref), None)
        if not separator or flow is None or kind not in registry.for_flow(flow).kinds():
            return []
        names = []
        for kind_filter in registry.for_flow(flow).kind_filters(kind):
            name = f"field_{kind_filter.name}"
            self.fields[name] = forms.ChoiceField(
                label=kind_filter.label, required=False, choices=[("", _("All")), *kind_filter.choices]
            )
            names.append(name)
        # The sort and the overdue box stay last, after the type's own filters.
        for last in ("sort", "overdue"):
            self.fields[last] = self.fields.pop(last)
        return names

    def clean(self) -> dict[str, Any]:
        cleaned = cast("dict[str, Any]", super().clean())  # Form.clean returns cleaned_data
        low, high = cleaned.get("amount_min"), cleaned.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", _("The upper bound is below the lower one."))
        return cleaned

    def query_string(self) -> str:
        """The validated filters as a query string in the form's field order, empty values and
        anything the form does not know (`page`, made-up keys) left out: what a saved filter keeps.
        Call after `is_valid()`."""
        pairs = []
        for name in self.fields:
            value = self.cleaned_data.get(name)
            if value is None or value == "" or value is False:
                continue
            pairs.append((name, "on" if value is True else str(value)))
        return urlencode(pairs)

    def spec(self, default_sort: str = "due") -> TaskFilter:
        """The filter to apply: what validated (nothing, when the form is invalid)."""
        if not self.is_bound or not self.is_valid():
            return TaskFilter(sort=default_sort)
        data = self.cleaned_data
        flow, _sep, kind = data["flow"].partition(KIND_SEPARATOR)
        return TaskFilter(
            flow=flow,
            kind=kind,
            fields=tuple(
                (name.removeprefix("field_"), data[name]) for name in self.kind_fields if data.get(name)
            ),
            stage=data["stage"],
            overdue=data["overdue"],
            amount_min=data["amount_min"],
            amount_max=data["amount_max"],
            q=data["q"],
            sort=data["sort"] or default_sort,
        )


class TaskHandOverForm(forms.Form):
    """Who gets the task: only the users eligible for it are offered."""

    to_user: forms.ModelChoiceField[User] = forms.ModelChoiceField(
        label=_("Colleague"), queryset=None, empty_label=None
    )

    def __init__(self, *args: Any, users: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast("forms.ModelChoiceField[User]", self.fields["to_user"])
        field.queryset = users
        field.label_from_instance = lambda obj: obj.get_full_name() or obj.get_username()  # type: ignore[method-assign]  # Django's documented hook


class SavedFilterForm(forms.Form):
    """Save the list's current filters under a name, for oneself or shared with one of one's
    groups (read-only for its members)."""

    name = forms.CharField(label=_("Name"), max_length=60, strip=True)
    page = forms.ChoiceField(widget=forms.HiddenInput, choices=SavedFilter.Page.choices)
    query = forms.CharField(widget=forms.HiddenInput, required=False, max_length=500)
    shared_with: forms.ModelChoiceField[Group] = forms.ModelChoiceField(
        label=_("Share with"), queryset=None, required=False, empty_label=_("Nobody")
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast("forms.ModelChoiceField[Group]", self.fields["shared_with"]).queryset = user.groups.order_by(
            "name"
        )
