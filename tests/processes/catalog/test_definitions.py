"""Portable definitions: a type's version exports as one JSON document that imports into another
portal, validated by path before anything is written, and comes back out identical."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management import call_command

from processes.bpmn import iso_duration
from processes.catalog.definitions import (
    DefinitionError,
    DefinitionInvalid,
    definition_dumps,
    definition_export,
    definition_import,
    definition_loads,
    definition_notices,
    definition_validate,
    duration_parse,
)
from processes.catalog.demo import VACATION_DEFINITION
from processes.catalog.models import FormField, ProcessType
from processes.models import AuditEvent
from processes.policies.models import ApprovalPolicy, EscalationLevel, PolicyStage, PolicyVersion

pytestmark = pytest.mark.django_db


def definition() -> dict:
    """A definition with every part filled in: all its field kinds' bounds, a calendar, a
    condition, escalation levels."""
    return {
        "format": "approvals-portal/process-type",
        "format_version": 1,
        "type": {
            "name": "Travel request",
            "slug": "travel-request",
            "description": "Trips abroad: approvers, then finance over 2,000.",
            "icon": "flight",
            "starter_groups": ["requesters", "sales"],
            "on_approved": "notify",
            "on_rejected": "email",
        },
        "version": {
            "note": "Finance from 2,000 on",
            "allow_auto_decisions": True,
            "calendar": {
                "working_days": [1, 2, 3, 4, 5],
                "work_starts": "09:00",
                "work_ends": "17:30",
                "time_zone": "Europe/Berlin",
            },
        },
        "form": [
            _field("destination", "Destination", "text", min_length=2, max_length=100),
            _field("cost", "Cost", "money", min_value="0.01", max_value="50000.00", currency="EUR"),
            _field("trip", "Dates", "date_range", min_value="1.00", max_value="30.00"),
            _field("class_", "Class", "choice", options=["Economy", "Business"], required=False),
            _field("notes", "Notes", "long_text", required=False, help_text="Anything else"),
        ],
        "chain": [
            {
                "name": "Approval",
                "group": "approvers",
                "condition": "",
                "sla": "PT4H",
                "reminder_before": "PT1H",
                "escalation": None,
            },
            {
                "name": "Finance",
                "group": "finance",
                "condition": 'cost > 2000 and class_ is not "Economy"',
                "sla": "P2D",
                "reminder_before": None,
                "escalation": {
                    "group": "managers",
                    "user": "maria",
                    "levels": [
                        {"after": "PT0S", "action": "email"},
                        {"after": "PT30M", "action": "auto_approve"},
                    ],
                },
            },
        ],
    }


def _field(name, label, kind, **values) -> dict:
    return {
        "name": name,
        "label": label,
        "kind": kind,
        "help_text": "",
        "required": True,
        "min_length": None,
        "max_length": None,
        "min_value": None,
        "max_value": None,
        "options": [],
        "currency": None,
        **values,
    }


def _forget(process_type: ProcessType) -> None:
    """Remove a type and its versions, as if this portal never had it."""
    policy = process_type.policy
    process_type.delete()
    PolicyVersion.objects.filter(policy=policy).delete()
    policy.delete()


def _counts() -> dict[str, int]:
    models = [
        ProcessType,
        ApprovalPolicy,
        PolicyVersion,
        FormField,
        PolicyStage,
        EscalationLevel,
        Group,
        AuditEvent,
    ]
    return {model.__name__: model.objects.count() for model in models}


def _paths(doc, **options) -> list[str]:
    return [error.path for error in definition_validate(doc, **options)]


# ---------------------------------------------------------------- export


def test_the_expense_claim_exports_as_one_document(expense_type):
    doc = definition_export(expense_type.policy.versions.get())

    assert doc["format"] == "approvals-portal/process-type"
    assert doc["format_version"] == 1
    assert doc["type"] == {
        "name": "Expense claim",
        "slug": "expense-claim",
        "description": "",
        "icon": "receipt_long",
        "starter_groups": ["requesters"],
        "on_approved": "notify",
        "on_rejected": "notify",
    }
    assert doc["version"] == {"note": "First version", "allow_auto_decisions": False, "calendar": None}
    assert doc["form"][1] == _field("amount", "Amount", "money", min_value="0.01", currency="EUR")
    assert doc["form"][2]["options"] == ["Travel", "Meals", "Equipment"]
    assert doc["chain"] == [
        {
            "name": "Approval",
            "group": "approvers",
            "condition": "",
            "sla": "PT4H",
            "reminder_before": None,
            "escalation": None,
        },
        {
            "name": "Finance",
            "group": "finance",
            "condition": "amount > 500",
            "sla": "PT8H",
            "reminder_before": None,
            "escalation": {
                "group": "managers",
                "user": "maria",
                "levels": [{"after": "PT0S", "action": "email"}],
            },
        },
    ]


def test_the_text_is_sorted_indented_and_ends_in_a_newline(expense_type):
    text = definition_dumps(definition_export(expense_type.policy.versions.get()))

    assert text.endswith("}\n")
    assert text.startswith('{\n  "chain": [\n')
    assert text == definition_dumps(json.loads(text))


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(hours=4), "PT4H"),
        (timedelta(days=2), "P2D"),
        (timedelta(days=1, hours=2, minutes=3, seconds=4), "P1DT2H3M4S"),
        (timedelta(minutes=90), "PT1H30M"),
        (timedelta(seconds=0.5), "PT0.5S"),
    ],
)
def test_durations_are_iso_8601_both_ways(delta, text):
    assert iso_duration(delta) == text
    assert duration_parse(text) == delta


def test_a_negative_duration_reads_as_one_and_validation_refuses_it():
    assert duration_parse("-PT4H") == timedelta(hours=-4)


@pytest.mark.parametrize("text", ["P", "PT", "4H", "P1Y", "P1M", "PT1.5H", "P1DT", "2 00:00:00", "pt4h"])
def test_what_is_no_duration(text):
    assert duration_parse(text) is None


def test_weeks_and_long_forms_read_and_export_canonical():
    assert duration_parse("P1W") == timedelta(days=7)
    assert iso_duration(duration_parse("PT120M")) == "PT2H"


# ---------------------------------------------------------------- round trip


def test_round_trip_export_import_into_an_empty_portal_export_is_identical(expense_type):
    first = definition_dumps(definition_export(expense_type.policy.versions.get()))
    _forget(expense_type)
    assert ProcessType.objects.count() == 0

    version = definition_import(json.loads(first), publish=True)

    assert version.status == PolicyVersion.Status.PUBLISHED
    assert version.number == 1
    assert definition_dumps(definition_export(version)) == first


def test_round_trip_of_a_document_with_every_part(people):
    doc = definition()
    version = definition_import(doc, publish=True)

    exported = definition_dumps(definition_export(version))
    assert exported == definition_dumps(doc)
    _forget(ProcessType.objects.get())
    again = definition_import(json.loads(exported))
    assert definition_dumps(definition_export(again)) == exported


def test_an_import_writes_what_the_document_says(people):
    version = definition_import(definition(), publish=True)

    process_type = ProcessType.objects.get()
    assert (process_type.name, process_type.icon, process_type.on_rejected) == (
        "Travel request",
        "flight",
        "email",
    )
    assert sorted(process_type.starter_groups.values_list("name", flat=True)) == ["requesters", "sales"]
    assert (version.working_days, str(version.work_ends), version.time_zone) == (
        "1,2,3,4,5",
        "17:30:00",
        "Europe/Berlin",
    )
    finance = version.stages.get(order=2)
    assert (finance.sla, finance.escalation_user.username) == (timedelta(days=2), "maria")
    assert list(finance.levels.values_list("order", "after", "action")) == [
        (1, timedelta(0), "email"),
        (2, timedelta(minutes=30), "auto_approve"),
    ]
    assert FormField.objects.get(version=version, name="class_").choices == "Economy\nBusiness"
    assert AuditEvent.objects.filter(action="catalog.definition_imported").count() == 1


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda doc: doc["form"][2].update(kind="colour"), "form[2].kind", 'Unknown kind "colour"'),
        (lambda doc: doc["form"][0].update(colour="red"), "form[0].colour", "Unknown key"),
        (lambda doc: doc["type"].pop("icon"), "type.icon", "Missing"),
        (lambda doc: doc.update(format_version=2), "format_version", "format version 1, not 2"),
        (lambda doc: doc.update(format="bpmn"), "format", "not a process type definition"),
        (lambda doc: doc["chain"][1].update(condition="price > 5"), "chain[1].condition", '"price"'),
        (lambda doc: doc["form"][1].update(name="destination"), "form[1].name", "form[0]"),
        (
            lambda doc: doc["chain"][1]["escalation"].update(user="nobody"),
            "chain[1].escalation.user",
            "nobody",
        ),
        (lambda doc: doc["chain"][0].update(sla="-PT4H"), "chain[0].sla", "negative"),
        (lambda doc: doc["chain"][0].update(sla="4 hours"), "chain[0].sla", "ISO 8601"),
        (lambda doc: doc["chain"][0].update(sla="PT0S"), "chain[0].sla", "positive"),
        (lambda doc: doc["chain"][0].update(reminder_before="PT5H"), "chain[0].reminder_before", "before"),
        (lambda doc: doc["form"][0].update(required="yes"), "form[0].required", "true or false"),
        (lambda doc: doc["form"][1].update(currency=None), "form[1].currency", "currency"),
        (lambda doc: doc["form"][1].update(min_value=1), "form[1].min_value", "as text"),
        (lambda doc: doc["form"][1].update(min_value="0.001"), "form[1].min_value", "decimal places"),
        (lambda doc: doc["form"][0].update(name="Where"), "form[0].name", "Lower-case"),
        (lambda doc: doc["form"][3].update(options=["Economy"]), "form[3].options", "two options"),
        (lambda doc: doc["form"][3].update(options=[" Economy", "B"]), "form[3].options[0]", "one line"),
        (
            lambda doc: doc["version"]["calendar"].update(time_zone="Mars/Base"),
            "version.calendar.time_zone",
            "Mars",
        ),
        (
            lambda doc: doc["version"]["calendar"].update(working_days=[0, 8]),
            "version.calendar.working_days",
            "1",
        ),
        (
            lambda doc: doc["version"]["calendar"].update(work_starts="9am"),
            "version.calendar.work_starts",
            "HH:MM",
        ),
        (
            lambda doc: doc["version"].update(allow_auto_decisions=False),
            "chain[1].escalation.levels[1].action",
            "auto",
        ),
        (
            lambda doc: doc["chain"][1]["escalation"]["levels"][1].update(after="PT0S"),
            "chain[1].escalation.levels[1].after",
            "later",
        ),
        (lambda doc: doc["chain"][1]["escalation"].update(group=None), "chain[1].escalation.group", "needs"),
        (
            lambda doc: doc["chain"][1]["escalation"]["levels"][0].update(action="shout"),
            "chain[1].escalation.levels[0].action",
            "shout",
        ),
        (lambda doc: doc["chain"][0].update(condition="cost > 1"), "chain", "Every stage has a condition"),
        (lambda doc: doc.update(chain=[]), "chain", "no stages"),
        (lambda doc: doc.update(form=[{}] * 201), "form", "At most 200"),
        (lambda doc: doc["type"].update(on_approved="party"), "type.on_approved", "Unknown outcome"),
        (
            lambda doc: doc["type"].update(starter_groups=["sales", "sales"]),
            "type.starter_groups[1]",
            "twice",
        ),
    ],
)
def test_each_problem_is_reported_at_its_path(people, change, path, words):
    doc = definition()
    change(doc)

    errors = definition_validate(doc)

    assert path in [error.path for error in errors], errors
    (error,) = [error for error in errors if error.path == path][:1]
    assert words in error.message


def test_a_valid_document_has_no_problems(people):
    assert definition_validate(definition()) == []


def test_every_problem_is_reported_at_once(people):
    doc = definition()
    doc["form"][2]["kind"] = "colour"
    doc["form"][0]["colour"] = "red"
    doc["chain"][0]["sla"] = "-PT1H"
    doc["chain"][1]["escalation"]["user"] = "nobody"

    assert _paths(doc) == ["form[0].colour", "form[2].kind", "chain[0].sla", "chain[1].escalation.user"]


def test_a_condition_on_a_field_with_problems_of_its_own_is_not_blamed(people):
    doc = definition()
    doc["form"][1]["kind"] = "moneys"

    assert _paths(doc) == ["form[1].kind"]


def test_a_document_that_is_not_an_object_or_not_json():
    assert [str(error) for error in definition_validate([1, 2])] == [
        "(document): Must be an object with the keys format, format_version, type, version, form, chain."
    ]
    for data, words in [
        (b"{not json", "Not JSON: Expecting property name"),
        (b'{"a": 1, "a": 2}', 'the key "a" appears twice'),
        (b'{"a": NaN}', "NaN"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 100_000, "nested too deeply"),
        (b" " * 1_000_001, "larger than"),
    ]:
        with pytest.raises(DefinitionInvalid) as caught:
            definition_loads(data)
        ((path, message),) = [(error.path, error.message) for error in caught.value.errors]
        assert (path, words in message) == ("", True), message


def test_the_errors_are_a_validation_error_keyed_by_path(people):
    doc = definition()
    doc["form"][2]["kind"] = "colour"

    with pytest.raises(ValidationError) as caught:
        definition_import(doc)

    assert list(caught.value.message_dict) == ["form[2].kind"]


# ---------------------------------------------------------------- writing


def test_nothing_is_written_when_the_document_has_a_problem(people):
    doc = definition()
    doc["type"]["starter_groups"].append("auditors")  # would be created
    doc["chain"][0]["sla"] = "PT0S"  # found by the publishing checks, on a rolled-back draft
    before = _counts()

    with pytest.raises(DefinitionInvalid) as caught:
        definition_import(doc, publish=True)

    assert [error.path for error in caught.value.errors] == ["chain[0].sla"]
    assert _counts() == before


def test_a_problem_publishing_finds_rolls_everything_back(people, monkeypatch):
    def refuse(*, version, user=None):
        raise ValidationError(["Stage 1 (Approval): the SLA must be positive."])

    monkeypatch.setattr("processes.catalog.definitions.policy_version_publish", refuse)
    before = _counts()

    with pytest.raises(DefinitionInvalid) as caught:
        definition_import(definition(), publish=True)

    assert [str(error) for error in caught.value.errors] == ["chain[0].sla: the SLA must be positive."]
    assert _counts() == before


def test_a_missing_group_is_created_and_said(people):
    doc = definition()
    doc["chain"][1]["escalation"]["group"] = "travel desk"
    doc["chain"][1]["escalation"]["levels"] = [{"after": "PT0S", "action": "add_candidates"}]

    assert definition_notices(doc) == [
        DefinitionError(
            "chain[1].escalation.group",
            'No group is named "travel desk" here: the import creates it, without members.',
        )
    ]
    assert _paths(doc, create_groups=False) == ["chain[1].escalation.group"]
    definition_import(doc)
    assert Group.objects.get(name="travel desk").user_set.count() == 0


def test_an_existing_slug_gets_its_next_draft_and_the_type_is_updated(expense_type, people):
    doc = definition_export(expense_type.policy.versions.get())
    doc["type"]["name"] = "Expense claim (2027)"
    doc["type"]["starter_groups"] = ["sales"]
    doc["version"]["note"] = "Meals need a receipt"

    version = definition_import(doc)

    expense_type.refresh_from_db()
    assert expense_type.name == "Expense claim (2027)"
    assert list(expense_type.starter_groups.values_list("name", flat=True)) == ["sales"]
    assert (version.number, version.status, version.note) == (2, "draft", "Meals need a receipt")
    assert expense_type.policy.versions.get(number=1).status == "published"
    assert definition_export(version) == doc


def test_a_name_taken_by_another_type_is_refused(expense_type, people):
    doc = definition()
    doc["type"]["name"] = "Expense claim"

    assert _paths(doc) == ["type.name"]


def test_documents_are_not_changed_by_validation(people):
    doc = definition()
    kept = copy.deepcopy(doc)

    definition_validate(doc)
    definition_import(doc)

    assert doc == kept


def test_the_demo_vacation_request_comes_from_its_definition_and_exports_back():
    call_command("demo_data", stdout=StringIO())

    version = ProcessType.objects.get(slug="vacation-request").policy.versions.get()
    assert definition_dumps(definition_export(version)) == VACATION_DEFINITION.read_text()
