"""Locale formatting for templates: `{{ amount|money:currency }}` (processes/languages/formats.py),
and a model field's label and value on the process page (`field_label`, `field_value`)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.text import capfirst
from django.utils.translation import gettext

from processes.languages.formats import money_format

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """`amount` with `currency` as the active language writes it; "" for no amount."""
    return money_format(amount, currency)


@register.filter
def field_label(field: Any) -> str:
    """A model field's label as a heading: its translated verbose name with only the first letter
    raised ("Aktuelle Stufe"; viewflow's `capitalize()` lowers the rest: "Aktuelle stufe")."""
    return capfirst(str(field.verbose_name))


@register.filter
def field_value(value: Any) -> Any:
    """A model field's value for a reader: yes or no for a boolean, in the active language
    (a template would print True and False), a dash for an empty text, anything else as it is,
    localized by the template."""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    return "—" if value == "" else value
