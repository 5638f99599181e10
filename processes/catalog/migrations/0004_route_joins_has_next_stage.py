"""The `route` step decides the way on itself (a `nodes.Route`, ADR 0034): the `has_next_stage`
If after it is gone. Its finished tasks stay in the history."""

from django.db import migrations

from processes.plugin_migrations import node_retirement


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_field_labels")]

    operations = [node_retirement(refs=["catalog/flows.CatalogFlow.has_next_stage"])]
