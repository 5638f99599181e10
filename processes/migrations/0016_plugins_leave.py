"""The purchase and order models leave the core's state for their plug-in apps (ADR 0012).

State only: their tables stay, under their old names; purchase/0001 and orders/0001 (which run
before this one) take them over and rewrite the stored references.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0015_candidate_permissions_core"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(
                    name="OrderPolicy",
                ),
                migrations.RemoveField(
                    model_name="purchaseorder",
                    name="process",
                ),
                migrations.RemoveField(
                    model_name="purchaseprocess",
                    name="policy_version",
                ),
                migrations.RemoveField(
                    model_name="purchaseprocess",
                    name="process_ptr",
                ),
                migrations.RemoveField(
                    model_name="purchaseprocess",
                    name="requester",
                ),
                migrations.DeleteModel(
                    name="OrderProcess",
                ),
                migrations.DeleteModel(
                    name="PurchaseOrder",
                ),
                migrations.DeleteModel(
                    name="PurchaseProcess",
                ),
            ],
            database_operations=[],
        )
    ]
