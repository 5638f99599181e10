"""A node's task row and its link to the task before it, written in one statement (ADR 0030).

viewflow saves a new task, then adds its link (`task.previous.add(...)`): two INSERTs, for a
row and a pair of ids that are always written together. `LinkedRowActivation` gives a node's
activation that write, at its creation or, for a step that reads no row of its own, once when it
completes.
"""

from __future__ import annotations

from contextlib import ContextDecorator
from typing import Any

from django.db import connections, router
from django.db.models import sql
from django.db.models.signals import post_save, pre_save
from django.utils.timezone import now
from viewflow.workflow.activation import Activation
from viewflow.workflow.context import context
from viewflow.workflow.signals import task_finished


def task_new(
    flow_task: Any, prev_activation: Any, token: Any, data: Any = None, seed: Any = None, **fields: Any
) -> Any:
    """viewflow's new task of `flow_task` after `prev_activation`, as its nodes make it (not saved)."""
    task = flow_task.flow_class.task_class(
        process=prev_activation.process, flow_task=flow_task, token=token, **fields
    )
    task.data = data if data is not None else {}
    task.seed = seed
    return task


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


class LinkedRowActivation:
    """A node's task inserted with its link to the task before it in one statement, when it is
    created, or (`_written_on_complete`) once, finished, when it completes."""

    _previous_task: Any = None
    task: Any

    @classmethod
    def _written_on_complete(cls, flow_task: Any) -> bool:
        return False

    @classmethod
    def create(
        cls, flow_task: Any, prev_activation: Activation, token: Any, data: Any = None, seed: Any = None
    ):
        task = task_new(flow_task, prev_activation, token, data, seed)
        activation = cls(task)
        activation._previous_task = prev_activation.task
        if not cls._written_on_complete(flow_task):
            task_insert_linked(task, prev_activation.task)
        return activation

    def __init__(self, task: Any) -> None:
        super().__init__(task)  # type: ignore[call-arg]
        # viewflow keeps activations in sets, hashed by their task; a task without its row yet
        # has no id to hash, and gets one while in the set. Its activation keeps one hash.
        self._hash = hash(task) if task.pk is not None else id(self)

    def __hash__(self) -> int:
        return self._hash

    def _insert(self) -> None:
        if self.task.pk is None:
            task_insert_linked(self.task, self._previous_task)

    def exception_guard(self) -> Any:
        guard: Any = super().exception_guard()  # type: ignore[misc]
        activation = self

        class InsertedThenGuarded(ContextDecorator):
            """viewflow's guard; the row exists (linked) before the quiet mode saves the error."""

            def __enter__(self) -> Any:
                return guard.__enter__()

            def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
                if exc_type is not None and not context.propagate_exception:
                    activation._insert()
                return guard.__exit__(exc_type, exc, tb)

        return InsertedThenGuarded()

    def _complete(self) -> None:
        """viewflow's `complete`, inserting the finished row if it has none yet."""
        assert connections[router.db_for_write(type(self.task))].in_atomic_block
        self.task.finished = now()
        if self.task.pk is None:
            self._insert()
        else:
            self.task.save()
        task_finished.send(sender=self.flow_class, process=self.process, task=self.task)  # type: ignore[attr-defined]
