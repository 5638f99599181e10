"""The archive search's index: a user's finished rows by search text (PostgreSQL only).

The archive searches one owner's finished rows (`owner_id = %s AND finished IS NOT NULL AND search
LIKE '%term%'`, processes/tasklist/selectors.py). The trigram index of 0010 covers the open rows
only, so PostgreSQL read every finished row of the owner through `taskrow_archive` and compared
its text: a pinned archive search was counted that way on every list page, 1.5 s at 10M tasks
(180,000 finished rows of one operator; docs/benchmarks.md, "tasklist"). This GIN index holds the
owner and the trigrams of the text side by side (`btree_gin` gives GIN the equality on
`owner_id`), so a search reads only that owner's matching rows, and a term with a trigram that
no row holds ends it at once. A trigram index over the finished rows alone would have to be ANDed with the
owner's entries of an owner index, which grow with the owner's history: 1.5 to 4 times
slower at 1M tasks (same section).

Built CONCURRENTLY (a non-atomic migration): the rolling upgrade migrates while the old code
serves, and a plain CREATE INDEX would hold every task list row's write for the build (4 s at
1M tasks, about ten times that at 10M). The predicate is the archive selector's filter word for
word (tests/processes/tasklist/test_saved_filters.py checks it and, on PostgreSQL, the plan). SQLite
has no GIN and scans a user's archive, which is fine at its sizes.
"""

from django.db import migrations

INDEX = "taskrow_archive_search"
ARCHIVE_SEARCH = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON processes_taskrow "
    "USING gin (owner_id, search gin_trgm_ops) WHERE finished IS NOT NULL"
)


def archive_search_index_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # btree_gin and pg_trgm are trusted extensions: the database's owner may create them.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with schema_editor.connection.cursor() as cursor:
        # A concurrent build that failed leaves an invalid index, which IF NOT EXISTS would keep.
        cursor.execute(
            "SELECT 1 FROM pg_index JOIN pg_class ON pg_class.oid = pg_index.indexrelid"
            " WHERE pg_class.relname = %s AND NOT pg_index.indisvalid",
            [INDEX],
        )
        if cursor.fetchone():
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    schema_editor.execute(ARCHIVE_SEARCH)


def archive_search_index_drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("processes", "0032_timer_due_index"),
    ]

    operations = [migrations.RunPython(archive_search_index_create, archive_search_index_drop)]
