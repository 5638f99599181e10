"""Indexes for the /metrics scrape at a million tasks (processes/metrics.py, bench/metrics.py).

Measured on 1,000,000 tasks, 100,000 open and 100,000 running processes (docs/benchmarks.md):

- `portal_processes_stuck` (operations/selectors.py `stuck_processes`) read every running process
  and hashed every open task, and found "a transition since the cutoff" by reading the whole task
  table (viewflow indexes `created`, not `finished`): about 500 ms. With the running processes'
  ids and the open tasks' process ids in index order (index-only), PostgreSQL merges the two, and
  the recent transitions come from two small index ranges.
- `portal_tasks_open` and `portal_tasks_overdue` grouped the open task rows read from the heap,
  one page per row (open rows are spread over the whole table): about 170 ms. Every column the
  grouped count reads is in this index, so it is an index-only scan in group order.
- The email gauges read the whole outbox (50,000 sent emails: 12 ms); the unsent ones now come
  from a small partial index. (The webhook gauges count every delivery kept WEBHOOK_KEEP_DAYS,
  delivered ones included: an index does not beat PostgreSQL's sequential scan there, 100,000
  rows in about 20 ms.)

The viewflow tables' indexes are created with SQL (viewflow owns them; the statements are the same
on SQLite and PostgreSQL, key columns only: SQLite has no INCLUDE).
"""

from django.db import migrations, models

# Running processes by id, with what the stuck count groups and filters on (index-only).
PROCESS_RUNNING_ID = (
    "CREATE INDEX IF NOT EXISTS ops_process_running_id ON viewflow_process (id, flow_class, created) "
    "WHERE status = 'NEW'"
)
# The processes with an open step that waits (on a person, a timer, a message or a condition): the
# predicate is operations/selectors.py's OPEN_TASK_STATUSES and WAITING_NODE_TYPES, word for word
# (tests/processes/operations/test_selectors.py checks it), or PostgreSQL cannot use the index.
TASK_WAITING = (
    "CREATE INDEX IF NOT EXISTS ops_task_waiting ON viewflow_task (process_id) "
    "WHERE status IN ('NEW', 'ASSIGNED', 'STARTED', 'SCHEDULED') "
    "AND flow_task_type IN ('HUMAN', 'TIMER', 'WAIT', 'CONDITION')"
)
# Tasks by finish time: "no transition since the cutoff" is created OR finished since then.
TASK_FINISHED = (
    "CREATE INDEX IF NOT EXISTS ops_task_finished ON viewflow_task (finished) WHERE finished IS NOT NULL"
)

SQL = [
    (PROCESS_RUNNING_ID, "DROP INDEX IF EXISTS ops_process_running_id"),
    (TASK_WAITING, "DROP INDEX IF EXISTS ops_task_waiting"),
    (TASK_FINISHED, "DROP INDEX IF EXISTS ops_task_finished"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0027_language_preference"),
        ("viewflow", "0015_task_scheduled"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="taskrow",
            index=models.Index(
                condition=models.Q(("status__in", ["NEW", "ASSIGNED"])),
                fields=["flow_class", "stage_name", "status", "due_at", "task_id"],
                name="taskrow_open_gauge",
            ),
        ),
        migrations.AddIndex(
            model_name="outgoingemail",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "failed"])),
                fields=["status"],
                name="email_unsent",
            ),
        ),
        migrations.AddIndex(
            model_name="webhookdelivery",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "failed"])),
                fields=["status"],
                name="webhook_unsent",
            ),
        ),
        *(migrations.RunSQL(create, drop) for create, drop in SQL),
    ]
