"""Each field kind of a request form validates on the server like a code-defined form field, and
its value round-trips through JSON into what conditions compare."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from processes.catalog.fields import field_problems, form_class, value_text, value_to_json, values_typed
from processes.catalog.models import FieldKind, FormField

pytestmark = pytest.mark.django_db


def _field(kind, name="f", **bounds) -> FormField:
    return FormField(order=1, name=name, label=name.title(), kind=kind, **bounds)


def _errors(fields, data, files=None) -> dict:
    form = form_class(fields)(data=data, files=files)
    form.is_valid()
    return form.errors


@pytest.mark.parametrize(
    ("field", "good", "bad", "message"),
    [
        (_field(FieldKind.TEXT, max_length=5), "short", "too long", "at most 5 characters"),
        (_field(FieldKind.TEXT, min_length=3), "abc", "ab", "at least 3 characters"),
        (_field(FieldKind.LONG_TEXT, max_length=10), "a\nb", "x" * 11, "at most 10 characters"),
        (_field(FieldKind.INTEGER, min_value=1, max_value=60), "10", "61", "less than or equal to 60"),
        (_field(FieldKind.INTEGER), "3", "3.5", "Enter a whole number"),
        (_field(FieldKind.DECIMAL, min_value=Decimal("0.5")), "0.75", "0.25", "greater than or equal to 0.5"),
        (
            _field(FieldKind.MONEY, currency="EUR", max_value=1000),
            "999.99",
            "1000.01",
            "less than or equal to",
        ),
        (_field(FieldKind.MONEY, currency="EUR"), "12.50", "12.505", "no more than 2 decimal places"),
        (_field(FieldKind.DATE), "2026-12-24", "24.12.2026", "Enter a valid date"),
        (_field(FieldKind.CHOICE, choices="R&D\nSales"), "R&D", "Marketing", "Select a valid choice"),
        (_field(FieldKind.YES_NO), "no", "maybe", "Select a valid choice"),
    ],
)
def test_each_kind_accepts_good_input_and_refuses_bad_with_django_s_message(field, good, bad, message):
    assert _errors([field], {"f": good}) == {}
    assert message in " ".join(_errors([field], {"f": bad})["f"])


def test_required_and_optional_fields():
    required, optional = _field(FieldKind.TEXT, name="a"), _field(FieldKind.TEXT, name="b", required=False)
    errors = _errors([required, optional], {})
    assert errors == {"a": ["This field is required."]}


def test_multi_choice_takes_several_known_options():
    field = _field(FieldKind.MULTI_CHOICE, choices="Email\nPhone\nChat")
    form = form_class([field])(data={"f": ["Email", "Chat"]})
    assert form.is_valid()
    assert form.cleaned_values() == {"f": ["Email", "Chat"]}
    assert "f" in _errors([field], {"f": ["Fax"]})


def test_a_date_s_bounds_are_days_from_today():
    field = _field(FieldKind.DATE, min_value=0, max_value=30)
    today = timezone.localdate()
    assert _errors([field], {"f": today.isoformat()}) == {}
    assert "or later" in _errors([field], {"f": (today - timedelta(days=1)).isoformat()})["f"][0]
    assert "or earlier" in _errors([field], {"f": (today + timedelta(days=31)).isoformat()})["f"][0]


def test_a_date_range_has_two_inputs_an_order_and_a_length():
    field = _field(FieldKind.DATE_RANGE, name="period", min_value=2, max_value=5)
    ok = form_class([field])(data={"period__start": "2027-03-01", "period__end": "2027-03-03"})
    assert ok.is_valid(), ok.errors
    assert ok.cleaned_values() == {"period": (date(2027, 3, 1), date(2027, 3, 3))}
    assert _errors([field], {"period__start": "2027-03-05", "period__end": "2027-03-01"}) == {
        "period__end": ["The end must not be before the start."]
    }
    assert (
        "at least 2 days"
        in _errors([field], {"period__start": "2027-03-01", "period__end": "2027-03-01"})["period__end"][0]
    )
    assert (
        "at most 5 days"
        in _errors([field], {"period__start": "2027-03-01", "period__end": "2027-03-09"})["period__end"][0]
    )
    optional = _field(FieldKind.DATE_RANGE, name="period", required=False)
    assert (
        "both dates"
        in _errors([optional], {"period__start": "2027-03-01", "period__end": ""})["period__end"][0]
    )
    assert _errors([optional], {"period__start": "", "period__end": ""}) == {}


def test_a_person_field_offers_active_users_only(alice, olivia):
    olivia.is_active = False
    olivia.save()
    field = _field(FieldKind.USER)
    assert _errors([field], {"f": str(alice.pk)}) == {}
    assert "Select a valid choice" in _errors([field], {"f": str(olivia.pk)})["f"][0]


def test_a_file_field_checks_the_upload_like_every_attachment():
    field = _field(FieldKind.FILE)
    good = SimpleUploadedFile(
        "receipt.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", content_type="application/pdf"
    )
    form = form_class([field])(data={}, files={"f": good})
    assert form.is_valid(), form.errors
    bad = SimpleUploadedFile("run.exe", b"MZ\x90\x00", content_type="application/octet-stream")
    assert "f" in _errors([field], {}, {"f": bad})


def test_values_go_to_json_and_back_to_what_conditions_compare(alice):
    fields = [
        _field(FieldKind.MONEY, name="amount", currency="EUR"),
        _field(FieldKind.DATE_RANGE, name="period"),
        _field(FieldKind.DECIMAL, name="rate"),
        _field(FieldKind.USER, name="deputy"),
        _field(FieldKind.YES_NO, name="urgent"),
    ]
    by_name = {field.name: field for field in fields}
    cleaned = {
        "amount": Decimal("1200.00"),
        "period": (date(2027, 3, 1), date(2027, 3, 12)),
        "rate": Decimal("0.25"),
        "deputy": alice,
        "urgent": False,
    }
    stored = {name: value_to_json(by_name[name], value) for name, value in cleaned.items()}
    assert stored["amount"] == {"amount": "1200.00", "currency": "EUR"}
    assert stored["deputy"] == {"id": alice.pk, "name": "alice"}
    typed = values_typed(fields, stored)
    assert typed == {
        "amount": Decimal("1200.00"),
        "period": (date(2027, 3, 1), date(2027, 3, 12)),
        "rate": Decimal("0.25"),
        "deputy": alice.pk,
        "urgent": False,
    }
    assert value_text(by_name["period"], stored["period"]) == "2027-03-01 to 2027-03-12 (12 days)"
    assert value_text(by_name["urgent"], stored["urgent"]) == "No"


def test_a_form_that_cannot_be_published_says_why():
    problems = field_problems(
        [
            _field(FieldKind.CHOICE, name="dept", choices="Only one"),
            _field(FieldKind.MONEY, name="amount"),
            _field(FieldKind.TEXT, name="dept", min_length=5, max_length=2),
            _field(FieldKind.YES_NO, name="empty", min_value=1),
            _field(FieldKind.INTEGER, name="n", min_value=Decimal("1.5")),
        ]
    )
    text = "\n".join(problems)
    assert 'Two fields are named "dept"' in text
    assert "at least two options" in text
    assert "money needs its currency" in text
    assert "minimum length is above the maximum" in text
    assert "a word of conditions" in text
    assert "takes no minimum or maximum" in text
    assert "whole numbers" in text
    assert field_problems([]) == ["The request form has no fields."]
