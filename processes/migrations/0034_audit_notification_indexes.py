"""Fewer indexes on the two tables every state change writes to (issue 16).

An approval writes about nineteen audit rows and seventeen notifications, and each row is one
insertion into each index of its table: the audit trail had ten, notifications six. Dropped here,
with what serves their reads instead:
- `auditevent.process_id` and `notification.user_id`: the first column of a two-column index
  (`audit_process_created`, `notification_user_id`), which serves the same reads;
- `auditevent.actor_id`: nothing reads the trail by actor (the admin searches the actor's name);
- on PostgreSQL, the `varchar_pattern_ops` (`LIKE 'x%'`) indexes Django adds beside the action's
  and the correlation id's: the admin's search is a containment search (`icontains`), which they
  cannot serve; the plain indexes of both stay, for the filter on action and lookups by id.
Django's state keeps `db_index` on those two fields (a `LIKE` index of its own cannot be left out
any other way); its schema editor drops a `LIKE` index with `IF EXISTS` when a field changes.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LIKE_INDEXES = {
    "processes_auditevent_action_ca855a3f_like": "action",
    "processes_auditevent_correlation_id_44fe9257_like": "correlation_id",
}


def like_indexes_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in LIKE_INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def like_indexes_create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        quote = schema_editor.quote_name
        for name, column in LIKE_INDEXES.items():
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote('processes_auditevent')} "
                f"({quote(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0033_taskrow_archive_search"),
        ("viewflow", "0015_task_scheduled"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="process",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="viewflow.process",
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(like_indexes_drop, like_indexes_create),
    ]
