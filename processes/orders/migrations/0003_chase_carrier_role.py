"""A portal that had its roles before orders waited for their carrier (an upgrade) gets the new
step's permission: the `managers` and `sales` groups may chase the carrier, as the descriptor's
`roles` say and as `roles_sync` grants on a new portal. A portal without those groups is left as
it is. The permission is created here: Django makes permissions only after every migration ran."""

from django.db import migrations

GROUPS = ("managers", "sales")


def chase_grant(apps, schema_editor):
    groups = list(apps.get_model("auth", "Group").objects.filter(name__in=GROUPS))
    if not groups:
        return
    content_type, _ = apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="orders", model="orderprocess"
    )
    permission, _ = apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=content_type,
        codename="chase_carrier",
        defaults={"name": "Can chase the carrier about an undelivered order"},
    )
    for group in groups:
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0002_wait_messages"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(chase_grant, migrations.RunPython.noop)]
