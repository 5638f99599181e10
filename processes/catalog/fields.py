"""A version's form fields as a Django form, and a request's values between the form, the
database (JSON) and conditions (typed).

Each kind maps to a Django form field, so the form renders in viewflow's Material frontend like a
code-defined one and validates with the same messages. Values are kept as JSON by field name:

| kind         | form value            | JSON                                   | typed (conditions)   |
|--------------|-----------------------|----------------------------------------|----------------------|
| text, long   | str                   | str                                    | str                  |
| integer      | int                   | int                                    | int                  |
| decimal      | Decimal               | "12.50"                                | Decimal              |
| money        | Decimal               | {"amount": "12.50", "currency": "EUR"} | Decimal (the amount) |
| date         | date                  | "2026-12-24"                           | date                 |
| date_range   | (date, date)          | {"start": "...", "end": "..."}         | (date, date)         |
| choice       | str                   | str                                    | str                  |
| multi_choice | list[str]             | list[str]                              | list[str]            |
| yes_no       | bool                  | bool                                   | bool                 |
| user         | User                  | {"id": 5, "name": "Olivia Jones"}      | 5                    |
| file         | CheckedUpload         | {"attachment": 9, "name": "a.pdf"}     | "a.pdf"              |

An empty optional field is absent from the JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from viewflow.forms import Layout, Row

from processes.attachments.checks import upload_check
from processes.catalog.models import FieldKind, FormField
from processes.policies.conditions import RESERVED_WORDS, FieldSpec

DEFAULT_MAX_LENGTH: dict[str, int] = {FieldKind.TEXT: 200, FieldKind.LONG_TEXT: 4000}
DATE_FORMAT = "%Y-%m-%d"
CENTS = Decimal("0.01")  # decimals and money keep two places, as their form fields take them
START, END = "__start", "__end"  # a date range's two inputs: <name>__start and <name>__end


def field_specs(fields: Iterable[FormField]) -> dict[str, FieldSpec]:
    """The form's fields as conditions see them (processes/policies/conditions.py)."""
    return {field.name: FieldSpec(kind=field.kind, choices=tuple(field.options)) for field in fields}


def _bounded(value: Decimal | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def _date_input(label: str, required: bool, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text,
        input_formats=[DATE_FORMAT],
        widget=forms.DateInput(format=DATE_FORMAT),
    )


class _UserChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class _SingleUpload(forms.FileField):
    """One file, checked like every attachment (size, type, content)."""

    def clean(self, data: Any, initial: Any = None) -> Any:
        upload = super().clean(data, initial)
        return upload_check(upload) if upload else None


def form_field(field: FormField) -> forms.Field:
    """The Django form field for one `FormField` (a date range has two: see `form_class`)."""
    common: dict[str, Any] = {"label": field.label, "required": field.required, "help_text": field.help_text}
    kind = field.kind
    if kind in (FieldKind.TEXT, FieldKind.LONG_TEXT):
        widget = forms.Textarea(attrs={"rows": 4}) if kind == FieldKind.LONG_TEXT else None
        return forms.CharField(
            min_length=field.min_length,
            max_length=field.max_length or DEFAULT_MAX_LENGTH[kind],
            widget=widget,
            **common,
        )
    if kind == FieldKind.INTEGER:
        return forms.IntegerField(
            min_value=int(field.min_value) if field.min_value is not None else None,
            max_value=int(field.max_value) if field.max_value is not None else None,
            **common,
        )
    if kind in (FieldKind.DECIMAL, FieldKind.MONEY):
        if kind == FieldKind.MONEY:
            common["label"] = f"{field.label} ({field.currency})"
        return forms.DecimalField(
            max_digits=14,
            decimal_places=2,
            min_value=_bounded(field.min_value),
            max_value=_bounded(field.max_value),
            **common,
        )
    if kind == FieldKind.DATE:
        return _date_input(**common)
    if kind == FieldKind.CHOICE:
        options = [(option, option) for option in field.options]
        return forms.ChoiceField(choices=[("", "---------"), *options], **common)
    if kind == FieldKind.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=[(option, option) for option in field.options],
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if kind == FieldKind.YES_NO:
        return forms.TypedChoiceField(
            choices=[("yes", _("Yes")), ("no", _("No"))],
            coerce=lambda value: value == "yes",
            empty_value=None,
            widget=forms.RadioSelect,
            **common,
        )
    if kind == FieldKind.USER:
        users = (
            get_user_model().objects.filter(is_active=True).order_by("first_name", "last_name", "username")
        )
        return _UserChoice(queryset=users, **common)
    if kind == FieldKind.FILE:
        return _SingleUpload(**common)
    raise ValueError(f"Unknown field kind {kind!r}")


class RequestForm(forms.Form):
    """A request form built from a version's fields (`form_class`); `cleaned_values` gives the
    values by field name, a date range as one (start, end) pair."""

    catalog_fields: Sequence[FormField] = ()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        today = timezone.localdate()
        for field in self.catalog_fields:
            if field.kind == FieldKind.DATE and cleaned.get(field.name):
                self._date_bounds(field, cleaned[field.name], today)
            if field.kind == FieldKind.DATE_RANGE:
                self._range_clean(field, cleaned)
        return cleaned

    def _date_bounds(self, field: FormField, value: date, today: date) -> None:
        if field.min_value is not None and value < today + timedelta(days=int(field.min_value)):
            earliest = today + timedelta(days=int(field.min_value))
            self.add_error(field.name, _("Enter %(date)s or later.") % {"date": earliest.isoformat()})
        if field.max_value is not None and value > today + timedelta(days=int(field.max_value)):
            latest = today + timedelta(days=int(field.max_value))
            self.add_error(field.name, _("Enter %(date)s or earlier.") % {"date": latest.isoformat()})

    def _range_clean(self, field: FormField, cleaned: dict[str, Any]) -> None:
        start, end = cleaned.get(field.name + START), cleaned.get(field.name + END)
        if (start is None) != (end is None) and field.name + START not in self.errors:
            if field.name + END not in self.errors:
                missing = field.name + (END if start is not None else START)
                self.add_error(missing, _("Enter both dates, or neither."))
            return
        if start is None or end is None:
            return
        if end < start:
            self.add_error(field.name + END, _("The end must not be before the start."))
            return
        length = (end - start).days + 1
        if field.min_value is not None and length < field.min_value:
            self.add_error(
                field.name + END, _("Choose at least %(days)d days.") % {"days": int(field.min_value)}
            )
        if field.max_value is not None and length > field.max_value:
            self.add_error(
                field.name + END, _("Choose at most %(days)d days.") % {"days": int(field.max_value)}
            )
        cleaned[field.name] = (start, end)

    def cleaned_values(self) -> dict[str, Any]:
        """The valid form's values by field name (empty optional fields left out)."""
        values = {}
        for field in self.catalog_fields:
            value = self.cleaned_data.get(field.name)
            if value in (None, "", [], ()):
                continue
            values[field.name] = value
        return values


def form_class(fields: Sequence[FormField]) -> type[RequestForm]:
    """A Django form class for a version's fields, in their order, with viewflow's layout (a date
    range's start and end side by side)."""
    attrs: dict[str, Any] = {"catalog_fields": tuple(fields)}
    layout: list[Any] = []
    for field in fields:
        if field.kind == FieldKind.DATE_RANGE:
            attrs[field.name + START] = _date_input(
                label=_("%(label)s: from") % {"label": field.label},
                required=field.required,
                help_text=field.help_text,
            )
            attrs[field.name + END] = _date_input(
                label=_("%(label)s: to") % {"label": field.label}, required=field.required
            )
            layout.append(Row(field.name + START, field.name + END))
        else:
            attrs[field.name] = form_field(field)
            layout.append(field.name)
    attrs["layout"] = Layout(*layout)
    return type("RequestForm", (RequestForm,), attrs)


# ---------------------------------------------------------------------- values


def value_to_json(field: FormField, value: Any) -> Any:
    """One cleaned value as JSON (a file's value is written by the service, once stored)."""
    kind = field.kind
    if kind == FieldKind.DECIMAL:
        return str(Decimal(value).quantize(CENTS))
    if kind == FieldKind.MONEY:
        return {"amount": str(Decimal(value).quantize(CENTS)), "currency": field.currency}
    if kind == FieldKind.DATE:
        return value.isoformat()
    if kind == FieldKind.DATE_RANGE:
        return {"start": value[0].isoformat(), "end": value[1].isoformat()}
    if kind == FieldKind.MULTI_CHOICE:
        return list(value)
    if kind == FieldKind.USER:
        return {"id": value.pk, "name": value.get_full_name() or value.get_username()}
    return value


def values_typed(fields: Iterable[FormField], values: Mapping[str, Any]) -> dict[str, Any]:
    """A request's JSON values as conditions compare them (see the module docstring)."""
    typed: dict[str, Any] = {}
    for field in fields:
        if field.name not in values:
            continue
        raw = values[field.name]
        kind = field.kind
        if kind == FieldKind.DECIMAL:
            typed[field.name] = Decimal(raw)
        elif kind == FieldKind.MONEY:
            typed[field.name] = Decimal(raw["amount"])
        elif kind == FieldKind.DATE:
            typed[field.name] = date.fromisoformat(raw)
        elif kind == FieldKind.DATE_RANGE:
            typed[field.name] = (date.fromisoformat(raw["start"]), date.fromisoformat(raw["end"]))
        elif kind == FieldKind.USER:
            typed[field.name] = raw["id"]
        elif kind == FieldKind.FILE:
            typed[field.name] = raw["name"]
        else:
            typed[field.name] = raw
    return typed


def value_text(field: FormField, raw: Any) -> str:
    """One JSON value in words, for the request's page, history and exports."""
    if raw is None:
        return ""
    kind = field.kind
    if kind == FieldKind.MONEY:
        return f"{raw['amount']} {raw['currency']}"
    if kind == FieldKind.DATE_RANGE:
        days = (date.fromisoformat(raw["end"]) - date.fromisoformat(raw["start"])).days + 1
        return _("%(start)s to %(end)s (%(days)d days)") % {
            "start": raw["start"],
            "end": raw["end"],
            "days": days,
        }
    if kind == FieldKind.MULTI_CHOICE:
        return ", ".join(raw)
    if kind == FieldKind.YES_NO:
        return _("Yes") if raw else _("No")
    if kind in (FieldKind.USER, FieldKind.FILE):
        return str(raw["name"])
    return str(raw)


def field_problems(fields: Sequence[FormField]) -> list[str]:
    """What is wrong with a version's form, in words for the admin ([] when it can be published)."""
    problems = []
    if not fields:
        problems.append("The request form has no fields.")
    names = [field.name for field in fields]
    for name in sorted({name for name in names if names.count(name) > 1}):
        problems.append(f'Two fields are named "{name}".')
    for field in fields:
        label = f'Field "{field.name}" ({field.label})'
        problems += [f"{label}: {message}" for _attribute, message in field_checks(field)]
    return problems


def field_checks(field: FormField) -> list[tuple[str, str]]:
    """What is wrong with one field, as (the FormField attribute at fault, or "" for the field
    as a whole; the problem in words): `field_problems` for a form, and a definition's
    field-level errors (processes/catalog/definitions.py)."""
    problems: list[tuple[str, str]] = []
    if field.name in RESERVED_WORDS:
        problems.append(("name", f'"{field.name}" is a word of conditions; choose another name.'))
    try:
        field.full_clean(exclude=["version"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for attribute, messages in exc.message_dict.items():
            attribute = "" if attribute == NON_FIELD_ERRORS else attribute
            problems += [(attribute, message) for message in messages]
    kind = field.kind
    if kind in (FieldKind.CHOICE, FieldKind.MULTI_CHOICE):
        if len(field.options) < 2:
            problems.append(("choices", "a choice needs at least two options, one per line."))
        elif len(set(field.options)) != len(field.options):
            problems.append(("choices", "an option appears twice."))
    elif field.choices.strip():
        problems.append(("choices", "only choices have options."))
    if kind == FieldKind.MONEY and not field.currency:
        problems.append(("currency", "money needs its currency, for example EUR."))
    if kind != FieldKind.MONEY and field.currency:
        problems.append(("currency", "only money has a currency."))
    has_length = field.min_length is not None or field.max_length is not None
    if has_length and kind not in (FieldKind.TEXT, FieldKind.LONG_TEXT):
        at = "min_length" if field.min_length is not None else "max_length"
        problems.append((at, "only texts have a length; use the minimum and maximum."))
    has_bounds = field.min_value is not None or field.max_value is not None
    bounded = (
        FieldKind.INTEGER,
        FieldKind.DECIMAL,
        FieldKind.MONEY,
        FieldKind.DATE,
        FieldKind.DATE_RANGE,
    )
    if has_bounds and kind not in bounded:
        at = "min_value" if field.min_value is not None else "max_value"
        problems.append((at, f"a {field.get_kind_display().lower()} takes no minimum or maximum."))
    if kind in (FieldKind.INTEGER, FieldKind.DATE, FieldKind.DATE_RANGE):
        for at in ("min_value", "max_value"):
            bound = getattr(field, at)
            if bound is not None and bound != int(bound):
                problems.append((at, "its bounds must be whole numbers."))
                break
    for low, high, what in (("min_length", "max_length", "length"), ("min_value", "max_value", "value")):
        low_value, high_value = getattr(field, low), getattr(field, high)
        if low_value is not None and high_value is not None and low_value > high_value:
            problems.append((low, f"the minimum {what} is above the maximum."))
    if kind == FieldKind.DATE_RANGE and field.min_value is not None and field.min_value < 1:
        problems.append(("min_value", "a date range lasts at least 1 day."))
    return problems
