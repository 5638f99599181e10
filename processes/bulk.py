"""Rows of one model inserted in one statement, each column sent as one PostgreSQL array text.

Django 5.2 inserts several rows on PostgreSQL as `INSERT ... SELECT * FROM UNNEST(%s::type[], ...)`
(planned once, whatever the number of rows), with each column a Python list. With Django's
client-side binding, psycopg turns each list into an array literal in Python, element by element;
on the approvals bench that took 6 % of the web processes' CPU for the audit rows and
notifications a decision writes (docs/benchmarks.md, 2026-12-06, tenth session).

`rows_insert` sends the same statement with each column already written as an array's text
(`{"a","b",NULL}`, PostgreSQL's array input syntax: every element quoted, `\\` and `"` escaped),
from the values Django itself prepares for the database (`pre_save`, `get_db_prep_save`), so
every column converts as `bulk_create` converts it, and its statement is written once per model
(one row goes in the same way: cheaper than Django compiling its single-row INSERT). Elsewhere
than on PostgreSQL, for a model with parents, or for a value it cannot write as text, it is
`bulk_create`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import connections, router
from django.db.models import Model, sql
from django.db.models.signals import post_save, pre_save

try:
    from psycopg.types.json import Jsonb
except ImportError:  # no PostgreSQL driver: rows_insert is bulk_create
    Jsonb = None  # type: ignore[assignment,misc]


class _NotText(Exception):
    """A value `rows_insert` does not write as an array element's text."""


def _element(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        text = "t" if value else "f"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (int, float, Decimal, UUID)):
        text = str(value)
    elif isinstance(value, (datetime, date, time)):
        text = value.isoformat()
    elif Jsonb is not None and isinstance(value, Jsonb):
        dumped = (value.dumps or json.dumps)(value.obj)
        text = dumped.decode() if isinstance(dumped, bytes) else dumped
    else:
        raise _NotText(type(value).__name__)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_text(values: Sequence[Any]) -> str:
    """`values` as the text of a PostgreSQL array (one dimension). _NotText for another type."""
    return "{" + ",".join(_element(value) for value in values) + "}"


_statements: dict[tuple[type[Model], str], tuple[list[Any], str, str] | None] = {}


def _statement(model: type[Model], connection: Any) -> tuple[list[Any], str, str] | None:
    """The fields, INSERT statement and primary key attribute of `model` on `connection`,
    written once per process (None: a model `rows_insert` leaves to `bulk_create`)."""
    key = (model, connection.alias)
    if key not in _statements:
        meta = model._meta
        fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
        types = [field.db_type(connection) for field in fields]
        if (
            meta.parents
            or meta.auto_field is None
            or None in types
            or any(hasattr(field, "get_placeholder") for field in fields)
        ):
            _statements[key] = None
        else:
            quote = connection.ops.quote_name
            arrays = ", ".join(f"%s::{str(db_type).split('(')[0]}[]" for db_type in types)
            _statements[key] = (
                fields,
                f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "  # noqa: S608  # quoted names; the values are parameters
                f"SELECT * FROM UNNEST({arrays}) RETURNING {quote(meta.auto_field.column)}",
                meta.auto_field.attname,
            )
    return _statements[key]


def rows_insert(model: type[Model], objs: list[Any]) -> list[Any]:
    """INSERT `objs`, new instances of `model`, in one statement, and set their primary keys, as
    `model.objects.bulk_create(objs)` does (which it is, where the module docstring says)."""
    connection = connections[router.db_for_write(model)]
    statement = (
        _statement(model, connection) if connection.vendor == "postgresql" and Jsonb is not None else None
    )
    if statement is None or not objs:
        return model._default_manager.bulk_create(objs)
    fields, sql, pk = statement
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    try:
        columns = [
            array_text([field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs])
            for field in fields
        ]
    except _NotText:
        return model._default_manager.bulk_create(objs)
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)
        ids = cursor.fetchall()
    for obj, (value,) in zip(objs, ids, strict=True):
        setattr(obj, pk, value)
        obj._state.adding = False
        obj._state.db = connection.alias
    return objs


def row_insert_once(obj: Any, *, unique: str) -> bool:
    """INSERT `obj` (a new instance) unless a row already holds its value of the field `unique`
    (a unique column): one statement, `INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING`, with
    no read before it and no savepoint to survive a lost race. True when it went in (`obj`
    then has its primary key, and `pre_save` and `post_save` were sent as `save()` sends them);
    False when the row was there already (`obj` stays unsaved). A conflict on another unique
    constraint raises IntegrityError, as an INSERT does. For a job's side effect keyed by its
    idempotency key: a redelivered message finds the row its first delivery wrote."""
    model = type(obj)
    meta = model._meta
    connection = connections[router.db_for_write(model, instance=obj)]
    if meta.parents or meta.auto_field is None:
        raise TypeError(f"row_insert_once: {meta.label} has parents or no auto primary key")
    column: Any = meta.get_field(unique)
    if not getattr(column, "unique", False) or not getattr(column, "column", None):
        raise TypeError(f"row_insert_once: {meta.label}.{unique} is not unique")
    obj._prepare_related_fields_for_save(operation_name="save")
    pre_save.send(sender=model, instance=obj, raw=False, using=connection.alias, update_fields=None)
    query = sql.InsertQuery(model)
    query.insert_values(
        [field for field in meta.local_concrete_fields if field is not meta.auto_field], [obj]
    )
    ((insert, params),) = query.get_compiler(connection=connection).as_sql()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"{insert} ON CONFLICT ({quote(column.column)}) DO NOTHING RETURNING {quote(meta.auto_field.column)}",
            params,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    setattr(obj, meta.auto_field.attname, row[0])
    obj._state.adding = False
    obj._state.db = connection.alias
    post_save.send(
        sender=model, instance=obj, created=True, raw=False, using=connection.alias, update_fields=None
    )
    return True
