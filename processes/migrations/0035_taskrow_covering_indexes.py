"""The task lists' sort indexes hold the columns the lists filter on: a page's count reads the index alone.

Every task list page counts its rows, capped (`SELECT COUNT(*) FROM (... LIMIT 1001)`,
processes/tasklist/views.py `CappedPaginator`), and the pinned saved filters are counted the same
way on every list page. PostgreSQL counted in the list's order through the sort index, and read
each row from the table to check the filters the index did not hold (the queue's process types
and permissions, the stage, the amount): about 2,500 table pages for a queue of 1,001 rows, 4.4 ms
of a page at 1M tasks; the inbox sorted all of an operator's assigned rows first, 3.3 ms
(docs/benchmarks.md, "2026-12-07 (sixteenth session)"). Each index below replaces one of the same
use: its key is the whole sort key (the sort's last columns, `created` and `task_id`, too), and it
INCLUDEs the filtered columns (processes/tasklist/models.py `COVERED`), so the count is an
index-only scan in the list's order that stops at the cap: 1.1, 0.5 and 0.6 ms.

Built CONCURRENTLY, then the old ones dropped CONCURRENTLY (a non-atomic migration): the rolling
upgrade migrates while the old code serves, whose statements are the same; a plain CREATE INDEX
holds every task list row's write for the build. A build that failed leaves an invalid index,
dropped before it is built again. SQLite has no INCLUDE: its indexes hold the key only.
"""

from django.db import migrations, models

COVERED = ["flow_class", "owner_permission", "kind", "stage_name", "amount"]

OLD = [
    models.Index(fields=["due_at"], condition=models.Q(status="NEW"), name="taskrow_new_due"),
    models.Index(
        fields=["-priority", "due_at"], condition=models.Q(status="NEW"), name="taskrow_new_priority"
    ),
    models.Index(fields=["created"], condition=models.Q(status="NEW"), name="taskrow_new_created"),
    models.Index(fields=["owner", "due_at"], condition=models.Q(status="ASSIGNED"), name="taskrow_inbox"),
    models.Index(
        fields=["owner", "-finished"], condition=models.Q(finished__isnull=False), name="taskrow_archive"
    ),
]
NEW = [
    models.Index(
        fields=["due_at", "created", "task_id"],
        include=COVERED,
        condition=models.Q(status="NEW"),
        name="taskrow_new_due_cov",
    ),
    models.Index(
        fields=["-priority", "due_at", "task_id"],
        include=COVERED,
        condition=models.Q(status="NEW"),
        name="taskrow_new_priority_cov",
    ),
    models.Index(
        fields=["created", "task_id"],
        include=[*COVERED, "due_at"],
        condition=models.Q(status="NEW"),
        name="taskrow_new_created_cov",
    ),
    models.Index(
        fields=["owner", "due_at", "created", "task_id"],
        include=COVERED,
        condition=models.Q(status="ASSIGNED"),
        name="taskrow_inbox_cov",
    ),
    models.Index(
        fields=["owner", "-finished", "-task_id"],
        include=COVERED,
        condition=models.Q(finished__isnull=False),
        name="taskrow_archive_cov",
    ),
]


def _index_state(schema_editor, name: str) -> bool | None:
    """Whether index `name` is valid (None: there is none). PostgreSQL only."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_index.indisvalid FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid"
            " WHERE pg_class.relname = %s",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


def _swap(apps, schema_editor, built: list[models.Index], dropped: list[models.Index]) -> None:
    model = apps.get_model("processes", "TaskRow")
    postgresql = schema_editor.connection.vendor == "postgresql"
    for index in built:  # first: the lists are never without their index
        if not postgresql:
            schema_editor.execute(f"DROP INDEX IF EXISTS {index.name}")
            schema_editor.add_index(model, index)
            continue
        state = _index_state(schema_editor, index.name)
        if state is True:
            continue  # built by an earlier run that stopped before its end
        if state is False:
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {index.name}")
        schema_editor.add_index(model, index, concurrently=True)
    for index in dropped:
        concurrently = "CONCURRENTLY " if postgresql else ""
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {index.name}")


def covering_indexes_build(apps, schema_editor):
    _swap(apps, schema_editor, NEW, OLD)


def covering_indexes_undo(apps, schema_editor):
    _swap(apps, schema_editor, OLD, NEW)


class Migration(migrations.Migration):
    atomic = False  # CREATE and DROP INDEX CONCURRENTLY run outside a transaction

    dependencies = [
        ("processes", "0034_audit_notification_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(covering_indexes_build, covering_indexes_undo)],
            state_operations=[
                *(migrations.RemoveIndex(model_name="taskrow", name=index.name) for index in OLD),
                *(migrations.AddIndex(model_name="taskrow", index=index) for index in NEW),
            ],
        ),
    ]
