"""A node's task row and its link to the task before it, written in one statement (ADR 0030).

viewflow saves a new task, then adds its link (`task.previous.add(...)`): two INSERTs, for a
row and a pair of ids that are always written together.
"""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.db.models import sql
from django.db.models.signals import post_save, pre_save


def task_insert_linked(task: Any, previous: Any) -> None:
    """INSERT `task` (not saved yet) and its link to `previous` (viewflow's `task.previous`):
    one statement on PostgreSQL, the ORM's two elsewhere. `pre_save` and `post_save` are sent
    as `save()` sends them (the task list writes a person's task's row on the latter)."""
    model = type(task)
    connection = connections[router.db_for_write(model, instance=task)]
    if task.flow_task and not task.flow_task_type:  # what viewflow's Task.save() adds
        task.flow_task_type = task.flow_task.task_type
    meta = model._meta
    if connection.vendor != "postgresql" or meta.parents:
        task.save()
        task.previous.add(previous)
        return
    pre_save.send(sender=model, instance=task, raw=False, using=connection.alias, update_fields=None)
    query = sql.InsertQuery(model)
    query.insert_values(
        [field for field in meta.local_concrete_fields if field is not meta.auto_field], [task]
    )
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = [meta.pk]
    ((insert, params),) = compiler.as_sql()
    link = model.previous.through._meta
    quote = connection.ops.quote_name
    # Identifiers from the models' metadata, quoted; the values go as parameters.
    statement = (
        f"WITH t AS ({insert}) INSERT INTO {quote(link.db_table)} "  # noqa: S608
        f"({quote(link.get_field('from_task').column)}, {quote(link.get_field('to_task').column)}) "
        f"SELECT t.{quote(meta.pk.column)}, %s FROM t RETURNING {quote(link.get_field('from_task').column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, previous.pk])
        (task.pk,) = cursor.fetchone()
    task._state.adding = False
    task._state.db = connection.alias
    post_save.send(
        sender=model, instance=task, created=True, update_fields=None, raw=False, using=connection.alias
    )
