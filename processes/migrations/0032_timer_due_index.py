"""The timer sweep's index: armed timers by due moment (processes/scheduler.py `timers_due`).

Beat runs the sweep every second: "SCHEDULED timers due by now, in due order". viewflow indexes
`scheduled` over every task, fired timers included, so PostgreSQL walked the index from the first
timer ever armed and dropped the fired ones row by row: with 64,000 fired timers in the table
(and 96,000 armed), 40 ms per sweep, growing with every timer fired, whatever was due. This index
holds the armed timers only; a sweep reads the due ones and stops: 0.04 ms instead of 46 ms on
that table (docs/benchmarks.md, "escalation").

Created with SQL, as in 0028: viewflow owns the table; the statement is the same on SQLite and
PostgreSQL. The predicate is the sweep's filter word for word (tests/processes/escalation/
test_scheduler.py checks both the text and, on PostgreSQL, the plan).
"""

from django.db import migrations

TIMER_DUE = (
    "CREATE INDEX IF NOT EXISTS timer_due ON viewflow_task (scheduled) "
    "WHERE flow_task_type = 'TIMER' AND status = 'SCHEDULED'"
)


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0031_absences"),
        ("viewflow", "0015_task_scheduled"),
    ]

    operations = [migrations.RunSQL(TIMER_DUE, "DROP INDEX IF EXISTS timer_due")]
