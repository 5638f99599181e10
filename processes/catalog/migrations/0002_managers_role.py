"""A portal that had its roles before the catalog was installed (an upgrade) gets the catalog's
managers role: the `managers` group may see and manage every catalog request, as its descriptor's
`roles` say and as `roles_sync` grants on a new portal. A portal without that group is left as
it is. The permissions are created here: Django makes them only after every migration ran, and
viewflow's `manage_` permission exists on the live model only, not in migration state."""

from django.db import migrations

PERMISSIONS = [
    ("view_catalogrequest", "Can view catalog request"),
    ("manage_catalogrequest", "Can manage catalog request"),
]


def managers_grant(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="managers").first()
    if group is None:
        return
    content_type, _ = apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="catalog", model="catalogrequest"
    )
    permission_model = apps.get_model("auth", "Permission")
    for codename, name in PERMISSIONS:
        permission, _ = permission_model.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(managers_grant, migrations.RunPython.noop)]
