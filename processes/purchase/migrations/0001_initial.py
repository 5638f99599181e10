"""The purchase plug-in adopts its models from the `processes` label (ADR 0012).

The tables exist already (made by the core's migrations 0001 to 0014 under their current names),
so the models enter this app's state only; `plugin_adopt` then rewrites the content types, flow
references and routed permissions stored under the old label. The core's 0016 drops the models
from its own state after this.
"""

import uuid
from decimal import Decimal

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from processes.plugin_migrations import plugin_adoption

ADOPTION = plugin_adoption(
    old_label="processes",
    new_label="purchase",
    models=["purchaseprocess", "purchaseorder"],
    old_ref="processes/purchase.flows.",
    new_ref="purchase/flows.",
    permissions=["start_purchase", "approve_purchase"],
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("processes", "0015_candidate_permissions_core"),
        ("viewflow", "0015_task_scheduled"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    run_before = [("processes", "0016_plugins_leave")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="PurchaseProcess",
                    fields=[
                        (
                            "process_ptr",
                            models.OneToOneField(
                                auto_created=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                parent_link=True,
                                primary_key=True,
                                serialize=False,
                                to="viewflow.process",
                            ),
                        ),
                        ("correlation_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                        ("title", models.CharField(max_length=200, verbose_name="title")),
                        (
                            "amount",
                            models.DecimalField(
                                decimal_places=2,
                                max_digits=12,
                                validators=[django.core.validators.MinValueValidator(Decimal("0.01"))],
                                verbose_name="amount",
                            ),
                        ),
                        (
                            "currency",
                            models.CharField(
                                choices=[("EUR", "EUR"), ("USD", "USD"), ("GBP", "GBP"), ("CHF", "CHF")],
                                default="EUR",
                                max_length=3,
                                verbose_name="currency",
                            ),
                        ),
                        ("justification", models.TextField(verbose_name="justification")),
                        (
                            "priority",
                            models.PositiveSmallIntegerField(
                                choices=[(1, "Low"), (2, "Normal"), (3, "High"), (4, "Urgent")],
                                default=2,
                                verbose_name="priority",
                            ),
                        ),
                        ("approved", models.BooleanField(blank=True, null=True, verbose_name="approved")),
                        (
                            "stage_order",
                            models.PositiveSmallIntegerField(
                                blank=True, null=True, verbose_name="current stage"
                            ),
                        ),
                        ("revision", models.PositiveIntegerField(default=0, verbose_name="revision")),
                        ("withdrawn", models.BooleanField(default=False, verbose_name="withdrawn")),
                        (
                            "policy_version",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="purchase_processes",
                                to="processes.policyversion",
                                verbose_name="policy version",
                            ),
                        ),
                        (
                            "requester",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="purchase_requests",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "purchase request",
                        "verbose_name_plural": "purchase requests",
                        "db_table": "processes_purchaseprocess",
                        "permissions": [
                            ("start_purchase", "Can submit purchase requests"),
                            ("approve_purchase", "Can approve purchase requests"),
                        ],
                    },
                    bases=("viewflow.process", models.Model),
                ),
                migrations.CreateModel(
                    name="PurchaseOrder",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("number", models.CharField(max_length=32, unique=True)),
                        ("idempotency_key", models.CharField(max_length=200, unique=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "process",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="purchase_order",
                                to="purchase.purchaseprocess",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "processes_purchaseorder",
                        "ordering": ["-created_at"],
                    },
                ),
            ],
            database_operations=[ADOPTION],
        )
    ]
