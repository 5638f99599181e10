"""Moving a process's models from the `processes` label to its own plug-in app (ADR 0012).

A plug-in's first migration adopts its models without touching their tables (the tables keep
their names) and calls `plugin_adopt` to rewrite what the database stores under the old label:

- content types (and so the permissions and admin log entries that point at them);
- viewflow's flow references (`processes/purchase.flows.PurchaseFlow` becomes
  `purchase/flows.PurchaseFlow`) on processes, tasks and task list rows;
- permission names stored as text where tasks are routed (`owner_permission` on tasks, task
  list rows and action links' snapshots).

Candidate permissions (`processes.candidate_<id>`) stay in the core: migration 0015 moved them
off the purchase content type first. Rewrites are plain SQL `UPDATE ... replace()` (PostgreSQL
and SQLite), idempotent, and reversible by swapping the arguments.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import migrations


def _like_prefix(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def plugin_adopt(
    apps,
    schema_editor,
    *,
    old_label: str,
    new_label: str,
    models: Iterable[str],
    old_ref: str,
    new_ref: str,
    permissions: Iterable[str],
) -> None:
    """Rewrite the rows of a plug-in that leaves the `old_label` app for `new_label`.

    `models` are the plug-in's model names (lower case); `old_ref` and `new_ref` the prefix of its
    flow references (`processes/purchase.flows.`, `purchase/flows.`); `permissions` the codenames
    tasks are routed by as `<label>.<codename>` text.
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        # A content type the new label already has (created by an earlier post_migrate) is
        # dropped in favour of the old one, which the permissions and log entries point at.
        if ContentType.objects.filter(app_label=old_label, model=model).exists():
            ContentType.objects.filter(app_label=new_label, model=model).delete()
            ContentType.objects.filter(app_label=old_label, model=model).update(app_label=new_label)
    with schema_editor.connection.cursor() as cursor:
        for table, column in (
            ("viewflow_process", "flow_class"),
            ("viewflow_task", "flow_task"),
            ("processes_taskrow", "flow_class"),
        ):
            cursor.execute(
                f"UPDATE {table} SET {column} = replace({column}, %s, %s) WHERE {column} LIKE %s ESCAPE '!'",  # noqa: S608
                [old_ref, new_ref, _like_prefix(old_ref)],
            )
        for codename in permissions:
            old, new = f"{old_label}.{codename}", f"{new_label}.{codename}"
            for table, column in (
                ("viewflow_task", "owner_permission"),
                ("processes_taskrow", "owner_permission"),
                ("processes_actiontoken", "sent_owner_permission"),
            ):
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {column} = %s", [new, old])  # noqa: S608


def plugin_adoption(
    *, old_label: str, new_label: str, models: list[str], old_ref: str, new_ref: str, permissions: list[str]
) -> migrations.RunPython:
    """The migration operation that runs `plugin_adopt`, and gives everything back on reverse."""
    forward = {"old_label": old_label, "new_label": new_label, "old_ref": old_ref, "new_ref": new_ref}
    backward = {"old_label": new_label, "new_label": old_label, "old_ref": new_ref, "new_ref": old_ref}

    def adopt(apps, schema_editor):
        plugin_adopt(apps, schema_editor, models=models, permissions=permissions, **forward)

    def give_back(apps, schema_editor):
        plugin_adopt(apps, schema_editor, models=models, permissions=permissions, **backward)

    return migrations.RunPython(adopt, give_back)


def node_retirement(*, refs: list[str]) -> migrations.RunPython:
    """The migration operation for a flow that drops nodes (the flow references in `refs`,
    `app_label/flows.FlowClass.node`): their finished tasks stay, and viewflow loads them as its
    Obsolete node of the same name, with the history still readable. An unfinished one could
    neither run nor be retried there, so the migration stops, naming the tasks to finish or
    cancel first, rather than strand them. Nothing to undo on reverse: the node comes back with
    the code."""

    def check(apps, schema_editor):
        task_model = apps.get_model("viewflow", "Task")
        stranded = list(
            task_model.objects.filter(flow_task__in=refs)
            .exclude(status__in=["DONE", "CANCELED"])
            .order_by("pk")
            .values_list("pk", flat=True)[:20]
        )
        if stranded:
            raise RuntimeError(
                f"Tasks {stranded} are still open at {', '.join(refs)}, a step this version removes: "
                "finish or cancel them with the previous version, then migrate again."
            )

    return migrations.RunPython(check, migrations.RunPython.noop)
