"""`End`: viewflow's End node, its row written with its link and no savepoint of its own where
an error propagates (ADR 0026, ADR 0030).

viewflow's End inserts its task, links it in a second INSERT, then finishes the process inside
`transaction.atomic(savepoint=True)` and updates its row: six statements besides the process's
own UPDATE, on every request that ends (a purchase order's job, a catalog request's last
decision, each branch of an order's compensation). Here the row goes in once, finished, with its
link, when the End completes (as an If's), and the savepoint is opened only where viewflow's
quiet mode keeps the error on the task (`savepoint_where_kept`).
The process is finished with an UPDATE of its status and finish time alone, not a save of every
column of every table of the process (a subclass's row is a second UPDATE). Whether another task
of the process is still open is a query compiled once and planned once a connection
(`processes/locks.py` `prepared_read`), not one the ORM builds on every end.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.timezone import now
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.nodes.end import EndActivation as _EndActivation
from viewflow.workflow.signals import flow_finished, task_finished, task_started
from viewflow.workflow.status import STATUS

from processes.locks import prepared_read
from processes.nodes.gateways import WrittenOnComplete, savepoint_where_kept


def other_task_open(task: Any) -> bool:
    """Whether a task of `task`'s process other than `task` has not finished (`task` without its
    row yet: any task of the process; ids start at 1, so 0 is no row's)."""
    tasks = type(task)._default_manager
    return bool(
        prepared_read(
            ("end.other_open", tasks.model),
            lambda p, t: tasks.filter(process_id=p, finished__isnull=True).exclude(pk=t).only("pk")[:1],
            task.process_id,
            task.pk if task.pk is not None else 0,
        ).run()
    )


class EndActivation(WrittenOnComplete, _EndActivation):
    """viewflow's End activation, its row written once, finished, when it completes, as an If's:
    nothing reads it in between (whether another task is open excludes it either way)."""

    @Activation.status.super()
    def complete(self) -> None:
        self._complete()

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
