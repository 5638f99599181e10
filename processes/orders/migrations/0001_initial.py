"""The orders plug-in adopts its models from the `processes` label (ADR 0012).

The tables exist already (made by the core's migrations 0001 to 0014 under their current names),
so the models enter this app's state only; `plugin_adopt` then rewrites the content types, flow
references and routed permissions stored under the old label. The core's 0016 drops the models
from its own state after this.
"""

import datetime
import uuid

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import processes.orders.models
from processes.plugin_migrations import plugin_adoption

ADOPTION = plugin_adoption(
    old_label="processes",
    new_label="orders",
    models=["orderprocess", "orderpolicy"],
    old_ref="processes/orders.flows.",
    new_ref="orders/flows.",
    permissions=["start_order", "review_fraud"],
)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("processes", "0015_candidate_permissions_core"),
        ("viewflow", "0015_task_scheduled"),
    ]

    run_before = [("processes", "0016_plugins_leave")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OrderProcess",
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
                        ("customer_name", models.CharField(max_length=200, verbose_name="customer")),
                        ("customer_email", models.EmailField(max_length=254, verbose_name="customer email")),
                        (
                            "lines",
                            models.JSONField(
                                help_text='[{"sku": ..., "qty": ..., "unit_price": ...}]',
                                verbose_name="lines",
                            ),
                        ),
                        (
                            "total",
                            models.DecimalField(
                                decimal_places=2,
                                max_digits=12,
                                validators=[django.core.validators.MinValueValidator(0)],
                                verbose_name="total",
                            ),
                        ),
                        ("currency", models.CharField(default="EUR", max_length=3, verbose_name="currency")),
                        (
                            "payment_method",
                            models.CharField(
                                choices=[("card", "Card"), ("invoice", "Invoice")],
                                max_length=10,
                                verbose_name="payment method",
                            ),
                        ),
                        ("shipping_address", models.TextField(verbose_name="shipping address")),
                        (
                            "fraud_score",
                            models.PositiveSmallIntegerField(
                                blank=True, null=True, verbose_name="fraud score"
                            ),
                        ),
                        (
                            "fraud_threshold",
                            models.PositiveSmallIntegerField(
                                blank=True, null=True, verbose_name="fraud threshold applied"
                            ),
                        ),
                        (
                            "fraud_review_sla",
                            models.DurationField(
                                blank=True, null=True, verbose_name="fraud review time allowed"
                            ),
                        ),
                        (
                            "fraud_cleared",
                            models.BooleanField(
                                blank=True, null=True, verbose_name="cleared by fraud review"
                            ),
                        ),
                        ("authorization_ref", models.CharField(blank=True, max_length=40)),
                        ("capture_ref", models.CharField(blank=True, max_length=40)),
                        ("reservation_ref", models.CharField(blank=True, max_length=40)),
                        (
                            "shipping_cost",
                            models.DecimalField(blank=True, decimal_places=2, max_digits=10, null=True),
                        ),
                        (
                            "outcome",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("", "In progress"),
                                    ("completed", "Completed"),
                                    ("canceled", "Canceled after fraud review"),
                                    ("compensated", "Compensated: payment refunded"),
                                ],
                                default="",
                                max_length=12,
                                verbose_name="outcome",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "order",
                        "verbose_name_plural": "orders",
                        "db_table": "processes_orderprocess",
                        "permissions": [
                            ("start_order", "Can enter orders"),
                            ("review_fraud", "Can review orders suspected of fraud"),
                        ],
                    },
                    bases=("viewflow.process", models.Model),
                ),
                migrations.CreateModel(
                    name="OrderPolicy",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "fraud_threshold",
                            models.PositiveSmallIntegerField(
                                default=70,
                                help_text="Orders whose fraud score is above this go to a person in the fraud group.",
                                validators=[django.core.validators.MaxValueValidator(100)],
                            ),
                        ),
                        (
                            "fraud_review_sla",
                            models.DurationField(
                                default=datetime.timedelta(seconds=14400),
                                help_text="How long the fraud group has to review a suspicious order, for example 4:00:00; the holder (or the queue) is reminded then. Orders keep the SLA they were checked with.",
                                validators=[processes.orders.models.duration_positive],
                                verbose_name="fraud review SLA",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "order policy",
                        "verbose_name_plural": "order policy",
                        "db_table": "processes_orderpolicy",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("fraud_review_sla__gt", datetime.timedelta(0))),
                                name="orderpolicy_fraud_review_sla_positive",
                                violation_error_message="The SLA must be longer than zero.",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[ADOPTION],
        )
    ]
