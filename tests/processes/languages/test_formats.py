"""Amounts with a currency, as each language writes them (processes/languages/formats.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from processes.languages.formats import money_format

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("amount", "currency", "language", "expected"),
    [
        (Decimal("1180"), "EUR", "en", "€1,180.00"),
        (Decimal("1180"), "EUR", "de", f"1.180,00{NBSP}€"),
        (Decimal("1234567.5"), "USD", "en", "$1,234,567.50"),
        (Decimal("1234567.5"), "USD", "de", f"1.234.567,50{NBSP}$"),
        (Decimal("12"), "CHF", "en", f"CHF{NBSP}12.00"),
        (Decimal("12"), "CHF", "de", f"12,00{NBSP}CHF"),
        (Decimal("-3.5"), "GBP", "en", "-£3.50"),
        (Decimal("-3.5"), "GBP", "de", f"-3,50{NBSP}£"),
        ("640.00", "", "de", "640,00"),
        (Decimal("999.999"), "EUR", "en", "€1,000.00"),
        (Decimal("5"), "eur", "en-us", "€5.00"),
    ],
)
def test_an_amount_is_written_as_its_language_writes_it(amount, currency, language, expected):
    assert money_format(amount, currency, language) == expected


def test_no_amount_is_an_empty_string_and_a_non_amount_is_refused():
    assert money_format(None, "EUR") == ""
    assert money_format("", "EUR") == ""
    with pytest.raises(ValueError, match="not an amount"):
        money_format("lots", "EUR")


def test_the_filter_follows_the_active_language():
    template = Template("{% load portal_l10n %}{{ amount|money:currency }}")
    context = Context({"amount": Decimal("1180"), "currency": "EUR"})
    with translation.override("de"):
        assert template.render(context) == f"1.180,00{NBSP}€"
    with translation.override("en"):
        assert template.render(context) == "€1,180.00"


def test_a_formatter_made_once_writes_in_the_language_active_when_it_was_made():
    """A task list page makes one (processes/tasklist/views.py) and writes its 25 amounts with it."""
    from processes.languages.formats import MoneyFormatter

    with translation.override("de"):
        german = MoneyFormatter()
    with translation.override("en"):
        assert german(Decimal("1180"), "EUR") == money_format(Decimal("1180"), "EUR", "de")
        assert MoneyFormatter()(Decimal("1180"), "EUR") == "€1,180.00"
        assert german(None) == ""
