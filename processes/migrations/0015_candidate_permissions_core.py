"""Candidate permissions move from the purchase request's content type to the core's.

Tasks are routed by `processes.candidate_<group id>` (and `processes.candidates_<id>_<id>`).
They were created on the purchase request's content type, which the purchase plug-in takes to
its own label (purchase/0001): left there they would become `purchase.candidate_<id>` and no
longer match the tasks routed by them. The core's task list row type holds them now; the text
`processes.candidate_<id>` does not change.
"""

from django.db import migrations

CANDIDATE_PREFIXES = ("candidate_", "candidates_")


def candidates_to_core(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    candidates = Permission.objects.filter(content_type__app_label="processes").filter(
        codename__startswith=CANDIDATE_PREFIXES[0]
    ) | Permission.objects.filter(content_type__app_label="processes").filter(
        codename__startswith=CANDIDATE_PREFIXES[1]
    )
    if not candidates.exists():
        return
    core, _ = ContentType.objects.get_or_create(app_label="processes", model="taskrow")
    for permission in candidates.exclude(content_type=core):
        if Permission.objects.filter(content_type=core, codename=permission.codename).exists():
            continue  # already there (a re-run); the old one stays unused
        permission.content_type = core
        permission.save(update_fields=["content_type"])


class Migration(migrations.Migration):
    dependencies = [
        ("processes", "0014_outbox_link_placeholders"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(candidates_to_core, migrations.RunPython.noop)]
