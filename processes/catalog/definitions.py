"""Portable definitions: one version of a process type as a versioned JSON document, and back.

A process type defined in the admin exports as one document (the type, the version's settings
and business calendar, the request form, the approval chain with its conditions and escalations)
that imports into another portal: from the admin, or `manage.py process_import FILE`. For
example (`definition_dumps` writes the keys sorted; they are grouped here for reading)::

    {
      "format": "approvals-portal/process-type",
      "format_version": 1,
      "type": {"name": "Expense claim", "slug": "expense-claim", "description": "",
               "icon": "receipt_long", "starter_groups": ["requesters"],
               "on_approved": "notify", "on_rejected": "email"},
      "version": {"note": "Finance from 500 on", "allow_auto_decisions": false,
                  "calendar": {"working_days": [1, 2, 3, 4, 5], "work_starts": "09:00",
                               "work_ends": "17:00", "time_zone": "Europe/Berlin"}},
      "form": [{"name": "amount", "label": "Amount", "kind": "money", "help_text": "",
                "required": true, "min_length": null, "max_length": null,
                "min_value": "0.01", "max_value": null, "options": [], "currency": "EUR"}],
      "chain": [{"name": "Finance", "group": "finance", "condition": "amount > 500",
                 "sla": "PT8H", "reminder_before": "PT1H",
                 "escalation": {"group": "managers", "user": "maria",
                                "levels": [{"after": "PT0S", "action": "email"}]}}]
    }

What keeps the round trip exact (export, import into an empty portal, export again: the same
text): every key is always there, null for no value; durations are ISO 8601 (`PT4H`, `P2D`,
`PT0S`), decimals strings ("0.01"), times "HH:MM"; the form's fields and the chain's stages keep
their order, starter groups are sorted by name; groups and users go by name. The version's
number, status and dates are not in the document: an import gets the target portal's next number.

Only JSON is read. YAML is not: PyYAML is only a dependency of a dependency here (uvicorn's
extras), and the export writes JSON anyway.

Validation (`definition_validate`) reports every problem it can at once, each at its path in the
document (`form[2].kind`, `chain[1].condition`): the document's shape and types, unknown and
missing keys, kinds, actions, durations, sizes, groups and users, then the form's and the
conditions' rules. Once all of that holds, the checks that publishing makes (the core's stage and
escalation rules, and anything else a plug-in checks) run on the definition written in a
savepoint that is always rolled back, and their messages are mapped to paths where they name a
stage, a level or a field.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from processes.audit import audit_record
from processes.bpmn import iso_duration
from processes.catalog.fields import field_checks, field_specs
from processes.catalog.models import MANAGED_BY, FieldKind, FormField, Outcome, ProcessType
from processes.catalog.selectors import version_fields
from processes.catalog.services import process_type_create, process_type_update, type_version_fill
from processes.policies.conditions import ConditionError, condition_check, condition_fields
from processes.policies.models import (
    ApprovalPolicy,
    EscalationAction,
    PolicyStage,
    PolicyVersion,
)
from processes.policies.selectors import policy_chain_stages
from processes.policies.services import policy_version_publish, policy_version_validate

FORMAT = "approvals-portal/process-type"
FORMAT_VERSION = 1

MAX_BYTES = 1_000_000
MAX_FIELDS = 200
MAX_STAGES = 50
MAX_OPTIONS = 100
MAX_GROUPS = 50
MAX_LEVELS = 10  # publishing allows fewer (policies.models.MAX_ESCALATION_LEVELS) and says so
MAX_DURATION = timedelta(days=3650)

ROOT_KEYS = ("format", "format_version", "type", "version", "form", "chain")
TYPE_KEYS = ("name", "slug", "description", "icon", "starter_groups", "on_approved", "on_rejected")
VERSION_KEYS = ("note", "allow_auto_decisions", "calendar")
CALENDAR_KEYS = ("working_days", "work_starts", "work_ends", "time_zone")
FIELD_KEYS = (
    "name",
    "label",
    "kind",
    "help_text",
    "required",
    "min_length",
    "max_length",
    "min_value",
    "max_value",
    "options",
    "currency",
)
STAGE_KEYS = ("name", "group", "condition", "sla", "reminder_before", "escalation")
ESCALATION_KEYS = ("group", "user", "levels")
LEVEL_KEYS = ("after", "action")


@dataclass(frozen=True)
class DefinitionError:
    """One problem of a definition: where it is (`form[2].kind`; "" for the whole document)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(document)'}: {self.message}"


class DefinitionInvalid(ValidationError):
    """A definition that cannot be imported. A ValidationError keyed by path (the document's own
    problems under NON_FIELD_ERRORS); `errors` lists them in the document's order."""

    def __init__(self, errors: Sequence[DefinitionError]) -> None:
        by_path: dict[str, list[str]] = {}
        for error in errors:
            by_path.setdefault(error.path or NON_FIELD_ERRORS, []).append(error.message)
        super().__init__(by_path)
        self.errors = list(errors)


# ---------------------------------------------------------------- export


def definition_export(version: PolicyVersion) -> dict[str, Any]:
    """The document of a process type's `version` (any status; see the module docstring)."""
    if version.policy.managed_by != MANAGED_BY:
        raise ValueError(f"{version} is not a process type's version")
    process_type = ProcessType.objects.get(policy_id=version.policy_id)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "type": {
            "name": process_type.name,
            "slug": process_type.slug,
            "description": process_type.description,
            "icon": process_type.icon,
            "starter_groups": sorted(group.name for group in process_type.starter_groups.all()),
            "on_approved": process_type.on_approved,
            "on_rejected": process_type.on_rejected,
        },
        "version": {
            "note": version.note,
            "allow_auto_decisions": version.allow_auto_decisions,
            "calendar": _calendar_export(version),
        },
        "form": [_field_export(form_field) for form_field in version_fields(version)],
        "chain": [_stage_export(stage) for stage in policy_chain_stages(version.pk)],
    }


def definition_dumps(doc: dict[str, Any]) -> str:
    """A document as text: JSON with sorted keys, indented by 2, ending in a newline. The same
    document always gives the same text."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def _calendar_export(version: PolicyVersion) -> dict[str, Any] | None:
    if not version.has_calendar:
        return None
    return {
        "working_days": sorted(version.weekdays),
        "work_starts": _time_text(version.work_starts),
        "work_ends": _time_text(version.work_ends),
        "time_zone": version.time_zone,
    }


def _field_export(form_field: FormField) -> dict[str, Any]:
    return {
        "name": form_field.name,
        "label": form_field.label,
        "kind": form_field.kind,
        "help_text": form_field.help_text,
        "required": form_field.required,
        "min_length": form_field.min_length,
        "max_length": form_field.max_length,
        "min_value": _decimal_text(form_field.min_value),
        "max_value": _decimal_text(form_field.max_value),
        "options": form_field.options,
        "currency": form_field.currency or None,
    }


def _stage_export(stage: PolicyStage) -> dict[str, Any]:
    levels = sorted(stage.levels.all(), key=lambda level: level.order)
    escalation = None
    if stage.escalation_group is not None or stage.escalation_user is not None or levels:
        escalation = {
            "group": stage.escalation_group.name if stage.escalation_group is not None else None,
            "user": stage.escalation_user.get_username() if stage.escalation_user is not None else None,
            "levels": [{"after": iso_duration(level.after), "action": level.action} for level in levels],
        }
    return {
        "name": stage.name,
        "group": stage.group.name,
        "condition": stage.condition,
        "sla": iso_duration(stage.sla),
        "reminder_before": iso_duration(stage.reminder_before) if stage.reminder_before is not None else None,
        "escalation": escalation,
    }


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _time_text(value: time | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


_DURATION = re.compile(
    r"(?P<sign>-)?P(?!$)(?:(?P<weeks>\d{1,5})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?!$)(?:(?P<hours>\d{1,7})H)?(?:(?P<minutes>\d{1,9})M)?(?:(?P<seconds>\d{1,10})(?:\.(?P<fraction>\d{1,6}))?S)?)?"
)


def duration_parse(text: str) -> timedelta | None:
    """An ISO 8601 duration in weeks, days, hours, minutes and seconds ("PT4H", "P2D", "-PT1H"),
    or None when `text` is not one (years and months are not: their length varies)."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    parts = {name: int(value) for name, value in match.groupdict().items() if value and name != "sign"}
    fraction = match["fraction"]
    delta = timedelta(
        weeks=parts.get("weeks", 0),
        days=parts.get("days", 0),
        hours=parts.get("hours", 0),
        minutes=parts.get("minutes", 0),
        seconds=parts.get("seconds", 0),
        microseconds=int(fraction.ljust(6, "0")) if fraction else 0,
    )
    return -delta if match["sign"] else delta


# ---------------------------------------------------------------- reading


def definition_loads(data: str | bytes) -> Any:
    """The document in `data` (JSON text, UTF-8 when bytes), for `definition_validate` and
    `definition_import`. Raises DefinitionInvalid when it is too large or not JSON (a key twice
    in one object, NaN and Infinity are not JSON either)."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > MAX_BYTES:
        raise DefinitionInvalid([DefinitionError("", f"The document is larger than {MAX_BYTES:,} bytes.")])
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except UnicodeDecodeError:
        problem = "The document is not UTF-8 text."
    except json.JSONDecodeError as error:
        problem = f"Not JSON: {error.msg} (line {error.lineno}, column {error.colno})."
    except RecursionError:
        problem = "Not JSON this portal reads: it is nested too deeply."
    except ValueError as error:  # from the hooks below
        problem = f"Not JSON: {error}"
    raise DefinitionInvalid([DefinitionError("", problem)])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _value in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f'the key "{twice[0][:60]}" appears twice in one object.')
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON knows.")


class _Bad:
    """A value that could not be read (its problem is recorded)."""

    def __repr__(self) -> str:
        return "BAD"


BAD: Any = _Bad()


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = key if len(key) <= 60 else key[:57] + "..."
    return f"{path}.{key}" if path else key


@dataclass
class _Definition:
    """What a document says, read into the models' terms (BAD where a value could not be read)."""

    type: dict[str, Any] = field(default_factory=dict)
    starter_groups: list[str] = field(default_factory=list)
    version: dict[str, Any] = field(default_factory=dict)
    fields: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    # Where each group and user is named: name -> paths.
    groups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, list[str]] = field(default_factory=dict)


class _Reader:
    """Reads a document part by part, recording each problem at its path."""

    def __init__(self) -> None:
        self.errors: list[DefinitionError] = []

    def error(self, path: str, message: str) -> Any:
        self.errors.append(DefinitionError(path, message))
        return BAD

    def mapping(self, value: Any, path: str, keys: Sequence[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"Must be an object with the keys {', '.join(keys)}.")
            return None
        for key in value:
            if key not in keys:
                self.error(_at(path, key), f"Unknown key; expected one of {', '.join(keys)}.")
        for key in keys:
            if key not in value:
                self.error(_at(path, key), "Missing; every key is required (null for no value).")
        return value

    def sequence(self, value: Any, path: str, limit: int) -> Any:
        if not isinstance(value, list):
            return self.error(path, "Must be a list.")
        if len(value) > limit:
            return self.error(path, f"At most {limit} entries; this list has {len(value)}.")
        return value

    def get(self, obj: dict[str, Any], key: str, path: str, read: Any, **options: Any) -> Any:
        """`read(value, path, **options)` of `obj[key]`; BAD when missing (already reported)."""
        return read(obj[key], _at(path, key), **options) if key in obj else BAD

    def string(self, value: Any, path: str, nullable: bool = False, limit: int = 10_000) -> Any:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            return self.error(path, "Must be text" + (" or null." if nullable else "."))
        if len(value) > limit:
            return self.error(path, f"At most {limit} characters; this has {len(value)}.")
        return value

    def boolean(self, value: Any, path: str) -> Any:
        if not isinstance(value, bool):
            return self.error(path, "Must be true or false.")
        return value

    def integer(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            return self.error(path, "Must be a whole number or null.")
        if not 0 <= value <= 1_000_000_000:
            return self.error(path, "Must be between 0 and 1000000000.")
        return value

    def decimal(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,20}(\.\d{1,20})?", value):
            return self.error(path, 'Must be a decimal number as text, for example "12.50", or null.')
        return Decimal(value)

    def choice(self, value: Any, path: str, choices: Sequence[str], what: str) -> Any:
        if not isinstance(value, str) or value not in choices:
            shown = json.dumps(value)[:60] if isinstance(value, str | int | float | bool) else "this"
            return self.error(path, f"Unknown {what} {shown}; one of {', '.join(choices)}.")
        return value

    def duration(self, value: Any, path: str, nullable: bool = False) -> Any:
        if value is None and nullable:
            return None
        delta = duration_parse(value) if isinstance(value, str) and len(value) <= 40 else None
        if delta is None:
            return self.error(
                path,
                'Must be an ISO 8601 duration in days, hours, minutes and seconds, for example "PT4H", '
                '"P2D" or "PT0S"' + (", or null." if nullable else "."),
            )
        if delta < timedelta(0):
            return self.error(path, "Must not be negative.")
        if delta > MAX_DURATION:
            return self.error(path, f"At most {MAX_DURATION.days} days.")
        return delta

    def clock(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        match = (
            re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?", value)
            if isinstance(value, str)
            else None
        )
        if match is None:
            return self.error(path, 'Must be a time of day as "HH:MM", for example "09:00", or null.')
        return time(int(match[1]), int(match[2]), int(match[3] or 0))

    def name(self, value: Any, path: str, names: dict[str, list[str]], nullable: bool = False) -> Any:
        """A group's or user's name, remembered with where it is used."""
        value = self.string(value, path, nullable=nullable, limit=150)
        if isinstance(value, str):
            if not value.strip():
                return self.error(path, "Must not be blank.")
            names.setdefault(value, []).append(path)
        return value


def _read(doc: Any) -> tuple[_Definition | None, list[DefinitionError]]:
    """The document's shape and types, read into a _Definition (None when it is not a definition
    of the format this portal reads)."""
    reader = _Reader()
    root = reader.mapping(doc, "", ROOT_KEYS)
    if root is None:
        return None, reader.errors
    if "format" in root and root["format"] != FORMAT:
        reader.error("format", f'Must be "{FORMAT}": this document is not a process type definition.')
    version = root.get("format_version")
    if "format_version" in root and (isinstance(version, bool) or version != FORMAT_VERSION):
        reader.error(
            "format_version",
            f"This portal reads format version {FORMAT_VERSION}, not {json.dumps(version)[:20]}.",
        )
    if "format" not in root or "format_version" not in root or reader.errors:
        return None, reader.errors
    definition = _Definition()
    _read_type(reader, root.get("type"), definition)
    _read_version(reader, root.get("version"), definition)
    if "form" in root:
        for index, entry in enumerate(_list_or_empty(reader.sequence(root["form"], "form", MAX_FIELDS))):
            definition.fields.append(_read_field(reader, entry, _at("form", index)))
    if "chain" in root:
        for index, entry in enumerate(_list_or_empty(reader.sequence(root["chain"], "chain", MAX_STAGES))):
            definition.stages.append(_read_stage(reader, entry, _at("chain", index), definition))
    return definition, reader.errors


def _list_or_empty(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _read_type(reader: _Reader, value: Any, definition: _Definition) -> None:
    obj = reader.mapping(value, "type", TYPE_KEYS)
    if obj is None:
        return
    definition.type = {
        "name": reader.get(obj, "name", "type", reader.string),
        "slug": reader.get(obj, "slug", "type", reader.string),
        "description": reader.get(obj, "description", "type", reader.string),
        "icon": reader.get(obj, "icon", "type", reader.string),
        "on_approved": reader.get(
            obj, "on_approved", "type", reader.choice, choices=Outcome.values, what="outcome"
        ),
        "on_rejected": reader.get(
            obj, "on_rejected", "type", reader.choice, choices=Outcome.values, what="outcome"
        ),
    }
    groups = (
        reader.sequence(obj["starter_groups"], "type.starter_groups", MAX_GROUPS)
        if "starter_groups" in obj
        else BAD
    )
    for index, name in enumerate(_list_or_empty(groups)):
        path = _at("type.starter_groups", index)
        name = reader.name(name, path, definition.groups)
        if name in definition.starter_groups:
            reader.error(path, "This group is listed twice.")
        elif name is not BAD:
            definition.starter_groups.append(name)


def _read_version(reader: _Reader, value: Any, definition: _Definition) -> None:
    obj = reader.mapping(value, "version", VERSION_KEYS)
    if obj is None:
        return
    definition.version = {
        "note": reader.get(obj, "note", "version", reader.string),
        "allow_auto_decisions": reader.get(obj, "allow_auto_decisions", "version", reader.boolean),
        "working_days": "",
        "work_starts": None,
        "work_ends": None,
        "time_zone": "",
    }
    calendar = obj.get("calendar")
    if calendar is None:
        return
    calendar = reader.mapping(calendar, "version.calendar", CALENDAR_KEYS)
    if calendar is None:
        return
    path = "version.calendar"
    days = reader.get(calendar, "working_days", path, reader.sequence, limit=7)
    if days is not BAD:
        if not days or any(
            isinstance(day, bool) or not isinstance(day, int) or not 1 <= day <= 7 for day in days
        ):
            days = reader.error(
                f"{path}.working_days",
                "Must list ISO weekdays 1 (Monday) to 7, at least one: for example [1, 2, 3, 4, 5].",
            )
        elif len(set(days)) != len(days):
            days = reader.error(f"{path}.working_days", "A day is listed twice.")
    definition.version.update(
        working_days=",".join(str(day) for day in sorted(days)) if days is not BAD else BAD,
        work_starts=reader.get(calendar, "work_starts", path, reader.clock),
        work_ends=reader.get(calendar, "work_ends", path, reader.clock),
        time_zone=reader.get(calendar, "time_zone", path, reader.string),
    )


def _read_field(reader: _Reader, value: Any, path: str) -> dict[str, Any]:
    obj = reader.mapping(value, path, FIELD_KEYS)
    if obj is None:
        return dict.fromkeys(("name", "kind"), BAD)
    values = {
        "name": reader.get(obj, "name", path, reader.string),
        "label": reader.get(obj, "label", path, reader.string),
        "kind": reader.get(obj, "kind", path, reader.choice, choices=FieldKind.values, what="kind"),
        "help_text": reader.get(obj, "help_text", path, reader.string),
        "required": reader.get(obj, "required", path, reader.boolean),
        "min_length": reader.get(obj, "min_length", path, reader.integer),
        "max_length": reader.get(obj, "max_length", path, reader.integer),
        "min_value": reader.get(obj, "min_value", path, reader.decimal),
        "max_value": reader.get(obj, "max_value", path, reader.decimal),
        "choices": BAD,
        "currency": reader.get(obj, "currency", path, reader.string, nullable=True),
    }
    if values["currency"] is None:
        values["currency"] = ""
    options = reader.sequence(obj["options"], _at(path, "options"), MAX_OPTIONS) if "options" in obj else BAD
    if options is not BAD:
        good = True
        for index, option in enumerate(options):
            at = _at(_at(path, "options"), index)
            option = reader.string(option, at, limit=200)
            if isinstance(option, str) and (not option.strip() or option != option.strip() or "\n" in option):
                option = reader.error(at, "An option is one line of text, without spaces around it.")
            good = good and option is not BAD
        values["choices"] = "\n".join(options) if good else BAD
    return values


def _read_stage(reader: _Reader, value: Any, path: str, definition: _Definition) -> dict[str, Any]:
    obj = reader.mapping(value, path, STAGE_KEYS)
    if obj is None:
        return {"condition": BAD}
    values = {
        "name": reader.get(obj, "name", path, reader.string),
        "group": reader.get(obj, "group", path, reader.name, names=definition.groups),
        "condition": reader.get(obj, "condition", path, reader.string),
        "sla": reader.get(obj, "sla", path, reader.duration),
        "reminder_before": reader.get(obj, "reminder_before", path, reader.duration, nullable=True),
        "escalation_group": None,
        "escalation_user": None,
        "levels": [],
    }
    escalation = obj.get("escalation")
    if escalation is None:
        return values
    at = _at(path, "escalation")
    escalation = reader.mapping(escalation, at, ESCALATION_KEYS)
    if escalation is None:
        values["levels"] = BAD
        return values
    values["escalation_group"] = reader.get(
        escalation, "group", at, reader.name, names=definition.groups, nullable=True
    )
    values["escalation_user"] = reader.get(
        escalation, "user", at, reader.name, names=definition.users, nullable=True
    )
    levels = (
        reader.sequence(escalation["levels"], _at(at, "levels"), MAX_LEVELS)
        if "levels" in escalation
        else BAD
    )
    values["levels"] = [] if levels is not BAD else BAD
    for index, level in enumerate(_list_or_empty(levels)):
        level_path = _at(_at(at, "levels"), index)
        level = reader.mapping(level, level_path, LEVEL_KEYS)
        if level is None:
            values["levels"] = BAD
            continue
        after = reader.get(level, "after", level_path, reader.duration)
        action = reader.get(
            level, "action", level_path, reader.choice, choices=EscalationAction.values, what="action"
        )
        if BAD in (after, action) or values["levels"] is BAD:
            values["levels"] = BAD
        else:
            values["levels"].append((after, action))
    return values


def _complete(values: dict[str, Any]) -> bool:
    return all(value is not BAD for value in values.values())


# ---------------------------------------------------------------- checks


def definition_validate(doc: Any, *, create_groups: bool = True) -> list[DefinitionError]:
    """Every problem of the document `doc` (as `definition_loads` reads it), each at its path;
    [] when it imports and publishes. Groups it names that do not exist are created by the
    import (`definition_notices` lists them) unless `create_groups` is False, which makes each
    an error. Nothing is written (see the module docstring for the rolled-back publishing
    checks)."""
    return _checked(doc, create_groups=create_groups)[1]


def definition_slug(doc: Any) -> str | None:
    """The slug of the type a document defines, when it says one (whatever else is wrong)."""
    process_type = doc.get("type") if isinstance(doc, dict) else None
    slug = process_type.get("slug") if isinstance(process_type, dict) else None
    return slug if isinstance(slug, str) else None


def definition_notices(doc: Any) -> list[DefinitionError]:
    """What an import of `doc` does beside the version: the groups it creates (empty), each at
    the first place the document names it."""
    definition, _errors = _read(doc)
    if definition is None:
        return []
    existing = set(Group.objects.filter(name__in=definition.groups).values_list("name", flat=True))
    return [
        DefinitionError(paths[0], f'No group is named "{name}" here: the import creates it, without members.')
        for name, paths in definition.groups.items()
        if name not in existing
    ]


def _checked(doc: Any, *, create_groups: bool) -> tuple[_Definition | None, list[DefinitionError]]:
    definition, errors = _read(doc)
    if definition is None:
        return None, errors
    errors += _type_problems(definition)
    errors += _version_problems(definition)
    errors += _form_problems(definition)
    errors += _chain_problems(definition)
    errors += _reference_problems(definition, create_groups=create_groups)
    if not errors:
        errors += _publishing_problems(definition)
    return definition, errors


def _model_problems(
    instance: Any, path: str, exclude: list[str], rename: dict[str, str] | None = None
) -> list[DefinitionError]:
    """`instance.full_clean()`'s messages, each at the document's key for the model's field."""
    try:
        instance.full_clean(exclude=exclude, validate_constraints=False)
    except ValidationError as error:
        return [
            DefinitionError(
                _at(path, (rename or {}).get(name, name)) if name != NON_FIELD_ERRORS else path, message
            )
            for name, messages in error.message_dict.items()
            for message in messages
        ]
    return []


def _type_problems(definition: _Definition) -> list[DefinitionError]:
    attrs = definition.type
    if not attrs or not _complete(attrs):
        return []
    existing = ProcessType.objects.filter(slug=attrs["slug"]).first()
    if existing is None:
        problems = _model_problems(ProcessType(**attrs), "type", exclude=["policy"])
        if ApprovalPolicy.objects.filter(name=f"catalog-{attrs['slug']}"[:64]).exists():
            problems.append(
                DefinitionError("type.slug", "An approval policy of this portal already has this name.")
            )
        return problems
    for name, value in attrs.items():
        setattr(existing, name, value)
    return _model_problems(existing, "type", exclude=["policy"])


def _version_problems(definition: _Definition) -> list[DefinitionError]:
    attrs = definition.version
    if not attrs or not _complete(attrs):
        return []
    version = PolicyVersion(number=1, **attrs)
    problems = _model_problems(version, "version", exclude=["policy", "published_by"])
    places = (
        ("eekdays", "working_days"),
        ("working hours", "work_starts"),
        ("end after", "work_ends"),
        ("time zone", "time_zone"),
    )
    for problem in version.calendar_problems():
        key = next((key for words, key in places if words in problem), "")
        problems.append(DefinitionError(_at("version.calendar", key) if key else "version.calendar", problem))
    return problems


_FIELD_KEY = {"choices": "options"}


def _form_problems(definition: _Definition) -> list[DefinitionError]:
    problems = []
    if not definition.fields:
        problems.append(DefinitionError("form", "The request form has no fields."))
    seen: dict[str, int] = {}
    for index, values in enumerate(definition.fields):
        path = _at("form", index)
        name = values["name"]
        if isinstance(name, str) and name in seen:
            problems.append(DefinitionError(_at(path, "name"), f'form[{seen[name]}] is named "{name}" too.'))
        elif isinstance(name, str):
            seen[name] = index
        if not _complete(values):
            continue
        for attribute, message in field_checks(FormField(order=index + 1, **values)):
            key = _FIELD_KEY.get(attribute, attribute)
            problems.append(DefinitionError(_at(path, key) if key else path, message))
    return problems


def _chain_problems(definition: _Definition) -> list[DefinitionError]:
    """Each stage's own fields, and its condition against the document's form."""
    problems = []
    if not definition.stages:
        problems.append(DefinitionError("chain", "The version has no stages."))
    specs = field_specs(
        FormField(name=values["name"], kind=values["kind"], choices=values.get("choices") or "")
        for values in definition.fields
        if values["name"] is not BAD and values["kind"] is not BAD and values.get("choices") is not BAD
    )
    unreadable = {values["name"] for values in definition.fields if isinstance(values["name"], str)} - set(
        specs
    )
    for index, values in enumerate(definition.stages):
        path = _at("chain", index)
        own = {
            name: values[name] for name in ("name", "condition", "sla", "reminder_before") if name in values
        }
        if len(own) == 4 and _complete(own):
            problems += _model_problems(
                PolicyStage(order=index + 1, **own),
                path,
                exclude=["version", "group", "escalation_group", "escalation_user"],
            )
        condition = values["condition"]
        if not isinstance(condition, str) or not condition.strip():
            continue
        try:
            named = condition_fields(condition)
        except ConditionError:
            named = set()
        if named & unreadable:
            continue  # its field has problems of its own, reported at the field
        problems += [
            DefinitionError(_at(path, "condition"), message) for message in condition_check(condition, specs)
        ]
    return problems


def _reference_problems(definition: _Definition, *, create_groups: bool) -> list[DefinitionError]:
    problems = []
    if not create_groups:
        existing = set(Group.objects.filter(name__in=definition.groups).values_list("name", flat=True))
        for name, paths in definition.groups.items():
            if name not in existing:
                problems += [
                    DefinitionError(path, f'No group is named "{name}" here; create it first.')
                    for path in paths
                ]
    User = get_user_model()
    found = set(
        User.objects.filter(**{f"{User.USERNAME_FIELD}__in": list(definition.users)}).values_list(
            User.USERNAME_FIELD, flat=True
        )
    )
    for name, paths in definition.users.items():
        if name not in found:
            problems += [DefinitionError(path, f'No user is named "{name}" here.') for path in paths]
    return sorted(problems, key=lambda problem: _order(problem.path))


def _order(path: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"[.\[\]]+", path) if part)


def _publishing_problems(definition: _Definition) -> list[DefinitionError]:
    """What publishing finds wrong, on the definition written in a savepoint rolled back."""
    with transaction.atomic():
        policy = ApprovalPolicy(name=f"definition-check-{uuid.uuid4().hex[:20]}", managed_by=MANAGED_BY)
        policy.save()
        version = PolicyVersion(policy=policy, number=1)
        try:
            _contents_write(version, definition)
            messages = policy_version_validate(version=version)
        except ValidationError as error:
            messages = error.messages
        transaction.set_rollback(True)
    return [_publishing_error(message, definition) for message in messages]


# Where the policies' publishing messages point to within a stage: (pattern, path under it).
_STAGE_PLACES = (
    (r"its candidate group", "group"),
    (r"the SLA must", "sla"),
    (r"the reminder", "reminder_before"),
    (r"the escalation user", "escalation.user"),
    (r"escalation levels", "escalation.levels"),
    (r"level (\d+) \(.*\) needs an escalation group\.$", "escalation.group"),
    (r"level (\d+) \(.*\) needs an escalation group or user", "escalation"),
    (r"level (\d+) (?:must come later|cannot fire)", "escalation.levels[{level}].after"),
    (r"level (\d+) decides automatically", "escalation.levels[{level}].action"),
)


def _publishing_error(message: str, definition: _Definition) -> DefinitionError:
    for index, values in enumerate(definition.stages):
        prefix = f"Stage {index + 1} ({values['name']})"
        if message.startswith(prefix + ", condition: "):
            return DefinitionError(
                f"chain[{index}].condition", message.removeprefix(prefix + ", condition: ")
            )
        if message.startswith(prefix + ": "):
            problem = message.removeprefix(prefix + ": ")
            for pattern, place in _STAGE_PLACES:
                match = re.match(pattern, problem)
                if match:
                    level = int(match.group(1)) - 1 if match.groups() else 0
                    return DefinitionError(f"chain[{index}].{place.format(level=level)}", problem)
            return DefinitionError(f"chain[{index}]", problem)
    for index, values in enumerate(definition.fields):
        prefix = f'Field "{values["name"]}" ({values["label"]}): '
        if message.startswith(prefix):
            return DefinitionError(f"form[{index}]", message.removeprefix(prefix))
    if message.startswith(("Every stage", "The version has no stages")):
        return DefinitionError("chain", message)
    if message.startswith(("The request form", "Two fields")):
        return DefinitionError("form", message)
    return DefinitionError("", message)


# ---------------------------------------------------------------- import


@transaction.atomic
def definition_import(
    doc: Any, *, user: Any = None, publish: bool = False, create_groups: bool = True
) -> PolicyVersion:
    """Import the document `doc` (as `definition_loads` reads it), all in one transaction.

    It is validated first (`definition_validate`); with any problem, DefinitionInvalid (a
    ValidationError keyed by path) is raised before anything is written. Groups it names that do
    not exist are created, empty (`definition_notices`), unless `create_groups` is False.

    When a type with the document's slug exists, the document becomes that type's next draft,
    and the type's own attributes (name, description, icon, starter groups, outcomes) are
    updated from the document: they are not versioned, so they change for the published
    version too, at once. Otherwise a new type is created with the document as its v1. With
    `publish`, the version is published too, and a problem publishing finds rolls all of it back.
    Returns the new version."""
    definition, errors = _checked(doc, create_groups=create_groups)
    if definition is None or errors:
        raise DefinitionInvalid(errors)
    created = [name for name in definition.groups if not Group.objects.filter(name=name).exists()]
    groups = _groups_ensure(definition)
    attrs = definition.type
    starters = [groups[name] for name in definition.starter_groups]
    process_type = ProcessType.objects.select_for_update().filter(slug=attrs["slug"]).first()
    if process_type is None:
        process_type = process_type_create(**attrs, starter_groups=starters, user=user)
        version = process_type.policy.versions.get()  # its empty first draft
    else:
        changes = {name: value for name, value in attrs.items() if name != "slug"}
        process_type_update(process_type=process_type, **changes, starter_groups=starters, user=user)
        version = PolicyVersion(policy=process_type.policy, number=_next_number(process_type))
    _contents_write(version, definition, groups)
    audit_record(
        action="catalog.definition_imported",
        actor=user if getattr(user, "pk", None) else None,
        details={"type": process_type.slug, "version": version.number, "created_groups": created},
    )
    if publish:
        try:
            version = policy_version_publish(
                version=version, user=user if getattr(user, "pk", None) else None
            )
        except ValidationError as error:
            raise DefinitionInvalid(
                [_publishing_error(message, definition) for message in error.messages]
            ) from error
    return version


def _next_number(process_type: ProcessType) -> int:
    numbers = process_type.policy.versions.values_list("number", flat=True)
    return max(numbers, default=0) + 1


def _groups_ensure(definition: _Definition) -> dict[str, Group]:
    return {name: Group.objects.get_or_create(name=name)[0] for name in definition.groups}


def _contents_write(
    version: PolicyVersion, definition: _Definition, groups: dict[str, Group] | None = None
) -> None:
    """The version's settings, form and chain from `definition` (the version may be unsaved)."""
    groups = groups if groups is not None else _groups_ensure(definition)
    for name, value in definition.version.items():
        setattr(version, name, value)
    version.full_clean(exclude=["policy"], validate_constraints=False)
    if version.pk is None:
        version.save()
    else:
        version.save(update_fields=list(definition.version))
    User = get_user_model()
    users = {
        user.get_username(): user
        for user in User.objects.filter(**{f"{User.USERNAME_FIELD}__in": list(definition.users)})
    }
    stages = [
        {
            "name": values["name"],
            "group": groups[values["group"]],
            "condition": values["condition"],
            "sla": values["sla"],
            "reminder_before": values["reminder_before"],
            "escalation_group": groups[values["escalation_group"]] if values["escalation_group"] else None,
            "escalation_user": users[values["escalation_user"]] if values["escalation_user"] else None,
            "levels": values["levels"],
        }
        for values in definition.stages
    ]
    type_version_fill(version=version, fields=definition.fields, stages=stages)
