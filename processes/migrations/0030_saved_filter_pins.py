"""Pins become each user's own (issue 18): a member of the group a filter is shared with pins it
for themselves. The owners' pins of 0029 (`SavedFilter.pinned`) are carried over, then the
column goes."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def owners_pins_carry_over(apps, schema_editor):
    SavedFilter = apps.get_model("processes", "SavedFilter")
    SavedFilterPin = apps.get_model("processes", "SavedFilterPin")
    SavedFilterPin.objects.bulk_create(
        [
            SavedFilterPin(user_id=owner_id, saved_filter_id=pk)
            for pk, owner_id in SavedFilter.objects.filter(pinned=True).values_list("pk", "owner_id")
        ]
    )


def owners_pins_carry_back(apps, schema_editor):
    SavedFilter = apps.get_model("processes", "SavedFilter")
    SavedFilterPin = apps.get_model("processes", "SavedFilterPin")
    for pin in SavedFilterPin.objects.select_related("saved_filter"):
        if pin.user_id == pin.saved_filter.owner_id:
            SavedFilter.objects.filter(pk=pin.saved_filter_id).update(pinned=True)


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0029_saved_filters"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SavedFilterPin",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "saved_filter",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pins",
                        to="processes.savedfilter",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "pinned filter",
                "verbose_name_plural": "pinned filters",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "saved_filter"), name="savedfilterpin_user_filter"
                    )
                ],
            },
        ),
        migrations.RunPython(owners_pins_carry_over, owners_pins_carry_back),
        migrations.RemoveField(model_name="savedfilter", name="pinned"),
    ]
