"""Locale formatting for templates: `{{ amount|money:currency }}` (processes/languages/formats.py)."""

from __future__ import annotations

from typing import Any

from django import template

from processes.languages.formats import money_format

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """`amount` with `currency` as the active language writes it; "" for no amount."""
    return money_format(amount, currency)
