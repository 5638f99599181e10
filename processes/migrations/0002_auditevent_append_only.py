"""On PostgreSQL, the database itself refuses UPDATE and DELETE on the audit trail."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION processes_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'AuditEvent is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER processes_auditevent_append_only
    BEFORE UPDATE OR DELETE ON processes_auditevent
    FOR EACH ROW EXECUTE FUNCTION processes_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS processes_auditevent_append_only ON processes_auditevent;
DROP FUNCTION IF EXISTS processes_auditevent_append_only();
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # None: the % in PL/pgSQL is not a placeholder

    return run


class Migration(migrations.Migration):
    dependencies = [("processes", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
