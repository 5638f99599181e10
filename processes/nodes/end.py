"""`End`: viewflow's End node, its row written with its link and no savepoint of its own where
an error propagates (ADR 0026, ADR 0030).

viewflow's End inserts its task, links it in a second INSERT, then finishes the process inside
`transaction.atomic(savepoint=True)`: five statements before the process's own UPDATE, on every
request that ends (a purchase order's job, a catalog request's last decision, each branch of an
order's compensation). Here the row goes in with its link in one statement, and the savepoint is
opened only where viewflow's quiet mode keeps the error on the task (`savepoint_where_kept`).
The process is finished with an UPDATE of its status and finish time alone, not a save of every
column of every table of the process (a subclass's row is a second UPDATE). Whether another task
of the process is still open is one statement built once and planned once a connection
(`processes/planned.py`), not a query the ORM builds on every end.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connections, router, transaction
from django.utils.timezone import now
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.nodes.end import EndActivation as _EndActivation
from viewflow.workflow.signals import flow_finished, task_finished, task_started
from viewflow.workflow.status import STATUS

from processes.nodes.gateways import savepoint_where_kept
from processes.nodes.rows import LinkedRowActivation
from processes.planned import planned_cursor


def other_task_open(task: Any) -> bool:
    """Whether a task of `task`'s process other than `task` has not finished (`task` without its
    row yet: any task of the process; ids start at 1, so 0 is no row's)."""
    model: Any = type(task)
    using = router.db_for_read(model)
    values = [task.process_id, task.pk if task.pk is not None else 0]
    with planned_cursor(using) as cursor:  # on every end: planned once a connection (ADR 0033)
        cursor.execute(_other_open_sql(model, using), values)
        return cursor.fetchone() is not None


@functools.cache
def _other_open_sql(model: Any, using: str) -> str:
    quote = connections[using].ops.quote_name
    opts = model._meta

    def column(name: str) -> str:
        return quote(opts.get_field(name).column)

    return (
        f"SELECT 1 FROM {quote(opts.db_table)} WHERE {column('process')} = %s "  # noqa: S608
        f"AND {column('finished')} IS NULL AND {quote(opts.pk.column)} <> %s LIMIT 1"
    )


class EndActivation(LinkedRowActivation, _EndActivation):
    @Activation.status.super()
    def activate(self) -> None:
        """viewflow's: finish the process when no other task of it is still open."""
        with self.exception_guard(), transaction.atomic(savepoint=savepoint_where_kept()):
            self.task.started = now()
            task_started.send(sender=self.flow_class, process=self.process, task=self.task)
            still_open = other_task_open(self.task)
            if not still_open:
                self.process.status = STATUS.DONE
                self.process.finished = now()
                # Only the two columns it sets: every service saves what it changes itself, and a
                # full save would rewrite each row of the process (its subclass's too).
                self.process.save(update_fields=["status", "finished"])
            task_finished.send(sender=self.flow_class, process=self.process, task=self.task)
            if not still_open:
                flow_finished.send(sender=self.flow_class, process=self.process, task=self.task)


class End(flow.End):
    """viewflow's `flow.End`, its row written with its link, its savepoint only where its error
    is kept."""

    activation_class = EndActivation
