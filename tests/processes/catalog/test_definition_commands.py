"""`manage.py process_export` and `process_import`: a definition to a file and back; problems one
per line as `path: message` on stderr, and a failing status."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from processes.catalog.definitions import definition_dumps, definition_export
from processes.catalog.models import ProcessType
from processes.catalog.services import process_type_create
from processes.policies.models import PolicyVersion
from processes.policies.services import policy_version_copy
from tests.processes.catalog.test_definitions import definition

pytestmark = pytest.mark.django_db


def _run(name, *args):
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_export_writes_the_published_version_to_stdout(expense_type):
    policy_version_copy(version=expense_type.policy.versions.get())  # a newer draft, v2

    out, _err = _run("process_export", "expense-claim")

    assert out == definition_dumps(definition_export(expense_type.policy.versions.get(number=1)))


def test_export_of_a_version_to_a_file(expense_type, tmp_path):
    draft = policy_version_copy(version=expense_type.policy.versions.get())
    target = tmp_path / "claim.json"

    out, _err = _run("process_export", "expense-claim", "--version", "2", "--output", str(target))

    assert out == f"Exported expense-claim v2 (draft) to {target}.\n"
    assert target.read_text() == definition_dumps(definition_export(draft))


def test_export_without_a_published_version_takes_the_newest(roles):
    process_type = process_type_create(name="Empty", slug="empty")

    out, _err = _run("process_export", "empty")

    assert json.loads(out)["type"]["name"] == "Empty"
    assert process_type.policy.versions.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nothing"], 'There is no process type "nothing".'),
        (["expense-claim", "--version", "7"], 'The process type "expense-claim" has no version 7.'),
    ],
)
def test_export_of_what_does_not_exist_fails(expense_type, args, message):
    with pytest.raises(CommandError, match=message):
        _run("process_export", *args)


def test_import_of_an_exported_file_into_an_empty_portal(expense_type, tmp_path):
    target = tmp_path / "claim.json"
    _run("process_export", "expense-claim", "--output", str(target))
    expense_type.delete()
    PolicyVersion.objects.filter(policy=expense_type.policy).delete()
    expense_type.policy.delete()

    out, err = _run("process_import", str(target), "--publish")

    assert (out, err) == (f"Imported expense-claim v1 (published) from {target}.\n", "")
    version = ProcessType.objects.get().policy.versions.get()
    assert version.status == "published"
    assert definition_dumps(definition_export(version)) == target.read_text()


def test_import_as_a_draft_and_its_notices(people, tmp_path):
    doc = definition()
    doc["type"]["starter_groups"].append("travellers")
    target = tmp_path / "travel.json"
    target.write_text(json.dumps(doc))

    out, err = _run("process_import", str(target))

    assert out == f"Imported travel-request v1 (a draft) from {target}.\n"
    assert err == (
        'notice: type.starter_groups[2]: No group is named "travellers" here: the import creates it, '
        "without members.\n"
    )
    assert ProcessType.objects.get().policy.versions.get().status == "draft"


def test_a_dry_run_writes_nothing(expense_type, tmp_path):
    target = tmp_path / "claim.json"
    _run("process_export", "expense-claim", "--output", str(target))

    out, _err = _run("process_import", str(target), "--dry-run", "--publish")

    assert out == (
        f"{target} is valid: it would be expense-claim v2, the next draft of its type. Nothing was written.\n"
    )
    assert PolicyVersion.objects.filter(policy=expense_type.policy).count() == 1


def test_problems_go_to_stderr_one_per_line_and_fail(people, tmp_path):
    doc = definition()
    doc["form"][2]["kind"] = "colour"
    doc["chain"][1]["escalation"]["user"] = "nobody"
    target = tmp_path / "travel.json"
    target.write_text(json.dumps(doc))
    err = StringIO()

    for extra in ([], ["--dry-run"]):
        err.truncate(0)
        err.seek(0)
        with pytest.raises(CommandError, match=r"^2 problems: nothing was imported\.$"):
            call_command("process_import", str(target), *extra, stdout=StringIO(), stderr=err)
        assert err.getvalue().splitlines() == [
            'form[2].kind: Unknown kind "colour"; one of text, long_text, integer, decimal, money, date, '
            "date_range, choice, multi_choice, yes_no, user, file.",
            'chain[1].escalation.user: No user is named "nobody" here.',
        ]
    assert not ProcessType.objects.exists()


def test_a_file_that_is_not_json_or_not_there(tmp_path):
    target = tmp_path / "travel.json"
    target.write_text("<xml/>")
    err = StringIO()

    with pytest.raises(CommandError, match="1 problem: nothing"):
        call_command("process_import", str(target), stdout=StringIO(), stderr=err)
    assert err.getvalue() == "(document): Not JSON: Expecting value (line 1, column 1).\n"
    with pytest.raises(CommandError, match="Cannot read"):
        _run("process_import", str(tmp_path / "missing.json"))


def test_export_bpmn_of_a_catalog_version_and_of_a_code_defined_flow(expense_type, tmp_path):
    from lxml import etree

    out = StringIO()
    call_command("process_export", "expense-claim", "--format", "bpmn", stdout=out)
    assert (
        etree.fromstring(out.getvalue().encode()).find(".//{*}userTask").get("name") == "Approval (approvers)"
    )
    target = tmp_path / "purchase.bpmn"
    call_command("process_export", "purchase", "--format", "bpmn", "--output", str(target), stdout=StringIO())
    assert etree.fromstring(target.read_bytes()).find("{*}process").get("name") == "Purchase request"
