"""Catalog types through the JSON API: each published type's fields as a JSON Schema, and a
request's JSON `data` turned into its form's input, so the API validates exactly as the web form
does, against the version the new request pins (processes/catalog/fields.py).

| kind         | JSON                               |
|--------------|------------------------------------|
| text, long   | string                             |
| integer      | integer                            |
| decimal      | number or string ("12.50")         |
| money        | number or string (the amount)      |
| date         | "2026-12-24"                       |
| date_range   | {"start": "...", "end": "..."}     |
| choice       | one of the options                 |
| multi_choice | a list of options                  |
| yes_no       | true or false                      |
| user         | a user's id                        |
| file         | not through the API                |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _

from processes.catalog import selectors, services
from processes.catalog.fields import DEFAULT_MAX_LENGTH, END, START, form_class
from processes.catalog.models import FieldKind, FormField
from processes.registry import ApiStartInvalid, ApiStartType, validation_errors

_DATE = {"type": "string", "format": "date"}


def field_schema(field: FormField) -> dict[str, Any]:
    """One field's JSON Schema (see the module docstring)."""
    kind = field.kind
    schema: dict[str, Any]
    if kind in (FieldKind.TEXT, FieldKind.LONG_TEXT):
        schema = {"type": "string", "maxLength": field.max_length or DEFAULT_MAX_LENGTH[kind]}
        if field.min_length is not None:
            schema["minLength"] = field.min_length
    elif kind == FieldKind.INTEGER:
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = int(field.min_value)
        if field.max_value is not None:
            schema["maximum"] = int(field.max_value)
    elif kind in (FieldKind.DECIMAL, FieldKind.MONEY):
        schema = {"type": ["number", "string"]}
        if kind == FieldKind.MONEY:
            schema["description"] = f"An amount in {field.currency}"
    elif kind == FieldKind.DATE:
        schema = dict(_DATE)
    elif kind == FieldKind.DATE_RANGE:
        schema = {
            "type": "object",
            "properties": {"start": _DATE, "end": _DATE},
            "required": ["start", "end"],
            "additionalProperties": False,
        }
    elif kind == FieldKind.CHOICE:
        schema = {"type": "string", "enum": list(field.options)}
    elif kind == FieldKind.MULTI_CHOICE:
        schema = {"type": "array", "items": {"type": "string", "enum": list(field.options)}}
    elif kind == FieldKind.YES_NO:
        schema = {"type": "boolean"}
    elif kind == FieldKind.USER:
        schema = {"type": "integer", "description": "A person's user id"}
    else:  # a file
        schema = {"not": {}, "description": "Files cannot be sent through the API"}
    schema["title"] = field.label
    if field.help_text:
        schema.setdefault("description", field.help_text)
    return schema


def version_schema(fields: Sequence[FormField]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {field.name: field_schema(field) for field in fields},
        "required": [field.name for field in fields if field.required and field.kind != FieldKind.FILE],
        "additionalProperties": False,
    }


def start_types(user: Any) -> list[ApiStartType]:
    """The published types `user` may start, each with its published version's schema."""
    if user is None:
        return []
    types = []
    for process_type in selectors.types_startable_by(user):
        version = selectors.type_published_version(process_type)
        if version is None:
            continue
        types.append(
            ApiStartType(
                kind=process_type.slug,
                title=process_type.name,
                schema=version_schema(selectors.version_fields(version)),
            )
        )
    return types


def _form_data(
    fields: Sequence[FormField], data: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The form's input for `data`, and the errors of values whose JSON shape is wrong."""
    by_name = {field.name: field for field in fields}
    errors: dict[str, list[str]] = {name: [_("Unknown field.")] for name in data if name not in by_name}
    form: dict[str, Any] = {}
    for name, value in data.items():
        field = by_name.get(name)
        if field is None or value is None:
            continue
        kind = field.kind
        if kind == FieldKind.FILE:
            errors[name] = [_("Files cannot be sent through the API.")]
        elif kind == FieldKind.DATE_RANGE:
            if not isinstance(value, dict) or set(value) - {"start", "end"}:
                errors[name] = [_('Send {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"}.')]
            else:
                form[name + START], form[name + END] = value.get("start", ""), value.get("end", "")
        elif kind == FieldKind.MULTI_CHOICE:
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                errors[name] = [_("Send a list of options.")]
            else:
                form[name] = value
        elif kind == FieldKind.YES_NO:
            if not isinstance(value, bool):
                errors[name] = [_("Send true or false.")]
            else:
                form[name] = "yes" if value else "no"
        elif kind == FieldKind.INTEGER or kind == FieldKind.USER:
            if isinstance(value, bool) or not isinstance(value, int):
                errors[name] = [_("Send a whole number.")]
            else:
                form[name] = str(value)
        elif isinstance(value, (dict, list, bool)):
            errors[name] = [_("Send a single value.")]
        else:
            form[name] = str(value)
    return form, errors


def start(*, slug: str, data: Mapping[str, Any], user: Any) -> Any:
    """Start a request of the type `slug` as `user` from JSON `data`, validated by the published
    version's form (the version the request pins)."""
    process_type = selectors.type_by_slug(slug)
    version = selectors.type_published_version(process_type) if process_type is not None else None
    if process_type is None or version is None:
        raise ApiStartInvalid({"": [_("No such process type is published.")]})
    fields = selectors.version_fields(version)
    form_data, errors = _form_data(fields, data)
    form = form_class(fields)(data=form_data)
    if not form.is_valid() or errors:
        for name, messages in form.errors.items():
            name = name.removesuffix(START).removesuffix(END)
            errors.setdefault("" if name == "__all__" else name, []).extend(
                str(message) for message in messages
            )
        raise ApiStartInvalid(errors)
    try:
        return services.catalog_request_start(
            process_type=process_type, requester=user, values=form.cleaned_values(), version=version
        )
    except PermissionDenied:
        raise
    except ValidationError as exc:  # published anew meanwhile
        raise ApiStartInvalid(validation_errors(exc)) from None
