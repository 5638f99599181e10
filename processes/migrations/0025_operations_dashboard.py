"""Indexes for the operations dashboard (processes/operations/selectors.py, ADR 0020).

viewflow's process table has no index on its status or its finish time: the dashboard's stuck
instances read the running processes by type and age, and its throughput and compensation rate
read the finished ones by type and time. Both are partial indexes created with SQL (viewflow owns
the table; the statements are the same on SQLite and PostgreSQL).
"""

from django.db import migrations, models

RUNNING = (
    "CREATE INDEX IF NOT EXISTS ops_process_running ON viewflow_process (flow_class, created) "
    "WHERE status = 'NEW'"
)
FINISHED = (
    "CREATE INDEX IF NOT EXISTS ops_process_finished ON viewflow_process (flow_class, finished) "
    "WHERE finished IS NOT NULL"
)


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0024_notification_instance_changed"),
        ("viewflow", "0015_task_scheduled"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="taskrow",
            index=models.Index(
                condition=models.Q(("finished__isnull", False)),
                fields=["flow_class", "finished"],
                name="taskrow_type_finished",
            ),
        ),
        migrations.RunSQL(RUNNING, "DROP INDEX IF EXISTS ops_process_running"),
        migrations.RunSQL(FINISHED, "DROP INDEX IF EXISTS ops_process_finished"),
    ]
